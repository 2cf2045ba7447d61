// DIR/LOCK: one process per data directory. Two nodes appending to one WAL would interleave
// records and break the CRC chain, so the second one must refuse to start.
//
// The lock is a file holding the owner's pid, created atomically with link(2) from a private
// temp file (link fails with EEXIST if LOCK exists, and readers never see a half-written pid).
// A lock whose pid is no longer running is stale (the owner was killed) and is taken over. The
// pid and the liveness check come from the FileSystem (a simulated disk numbers its boots).

import { join } from "node:path";
import { StorageLockedError } from "./errors.js";
import { type FileSystem, unlinkIfExists } from "./fs/file-system.js";

export interface DirLock {
  release(): Promise<void>;
}

/** Makes temp names unique when one process opens several directories (or one twice) at once. */
const attempts = new WeakMap<FileSystem, number>();

export async function acquireLock(fs: FileSystem, dir: string): Promise<DirLock> {
  const path = join(dir, "LOCK");
  const attempt = (attempts.get(fs) ?? 0) + 1;
  attempts.set(fs, attempt);
  const pid = fs.processId;
  const tmp = join(dir, `LOCK.${pid}.${attempt}.tmp`);
  await fs.writeFile(tmp, Buffer.from(`${pid}\n`));
  try {
    // Two attempts: the second follows the removal of a stale lock.
    let owner: number | null = null;
    for (let i = 0; i < 2; i++) {
      try {
        await fs.link(tmp, path);
        return { release: () => releaseLock(fs, path) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      owner = await readOwner(fs, path);
      if (owner !== null && fs.isProcessRunning(owner)) break;
      await unlinkIfExists(fs, path);
    }
    throw new StorageLockedError(path, owner ?? 0);
  } finally {
    await unlinkIfExists(fs, tmp);
  }
}

async function releaseLock(fs: FileSystem, path: string): Promise<void> {
  // Only remove the lock if it is still ours (it may have been taken over after a hang).
  if ((await readOwner(fs, path)) === fs.processId) await unlinkIfExists(fs, path);
}

async function readOwner(fs: FileSystem, path: string): Promise<number | null> {
  const text = await fs.readFile(path).then(
    (b) => b.toString("utf8"),
    () => "",
  );
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}
