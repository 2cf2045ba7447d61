// DIR/LOCK: one process per data directory. Two nodes appending to one WAL would interleave
// records and break the CRC chain, so the second one must refuse to start.
//
// The lock is a file holding the owner's pid, created atomically with link(2) from a private
// temp file (link fails with EEXIST if LOCK exists, and readers never see a half-written pid).
// A lock whose pid is no longer running is stale (the owner was killed) and is taken over.

import { link, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StorageLockedError } from "./errors.js";

export interface DirLock {
  release(): Promise<void>;
}

let attempts = 0; // makes temp names unique when one process opens several directories at once

export async function acquireLock(dir: string): Promise<DirLock> {
  const path = join(dir, "LOCK");
  const tmp = join(dir, `LOCK.${process.pid}.${++attempts}.tmp`);
  await writeFile(tmp, `${process.pid}\n`);
  try {
    // Two attempts: the second follows the removal of a stale lock.
    let owner: number | null = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(tmp, path);
        return { release: () => releaseLock(path) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      owner = await readOwner(path);
      if (owner !== null && isRunning(owner)) break;
      await unlink(path).catch(ignoreMissing);
    }
    throw new StorageLockedError(path, owner ?? 0);
  } finally {
    await unlink(tmp).catch(ignoreMissing);
  }
}

async function releaseLock(path: string): Promise<void> {
  // Only remove the lock if it is still ours (it may have been taken over after a hang).
  if ((await readOwner(path)) === process.pid) await unlink(path).catch(ignoreMissing);
}

async function readOwner(path: string): Promise<number | null> {
  const text = await readFile(path, "utf8").catch(() => "");
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== "ENOENT") throw err;
}
