// DIR/LOCK: one process per data directory. Two nodes appending to one WAL would interleave
// records and break the CRC chain, so the second one must refuse to start.
//
// The lock is a file holding the owner's pid, created atomically with link(2) from a private
// temp file (link fails with EEXIST if LOCK exists, and readers never see a half-written pid).
// A lock whose owner is gone is stale and is taken over: a pid that no longer runs (the owner
// was killed), or this process's own pid when no store of this process holds it (a store that
// failed leaves its lock behind on purpose: see FileStorage.close). The pid and the liveness
// check come from the FileSystem (a simulated disk numbers its boots).

import { join } from "node:path";
import { StorageLockedError } from "./errors.js";
import { type FileSystem, unlinkIfExists } from "./fs/file-system.js";

export interface DirLock {
  /** True if a lock left by an owner that did not stop cleanly was taken over. */
  readonly tookOver: boolean;
  /** Removes the lock: a clean stop. */
  release(): Promise<void>;
  /** Lets go of the lock but leaves its file: the next owner will know this one did not stop cleanly. */
  abandon(): void;
}

/** Makes temp names unique when one process opens several directories (or one twice) at once. */
const attempts = new WeakMap<FileSystem, number>();
/** Lock files held by stores of this process, per file system. */
const held = new WeakMap<FileSystem, Set<string>>();

export async function acquireLock(fs: FileSystem, dir: string): Promise<DirLock> {
  const path = join(dir, "LOCK");
  const attempt = (attempts.get(fs) ?? 0) + 1;
  attempts.set(fs, attempt);
  const pid = fs.processId;
  const mine = held.get(fs) ?? new Set<string>();
  held.set(fs, mine);
  const tmp = join(dir, `LOCK.${pid}.${attempt}.tmp`);
  await fs.writeFile(tmp, Buffer.from(`${pid}\n`));
  try {
    // Two attempts: the second follows the removal of a stale lock.
    let owner: number | null = null;
    for (let i = 0; i < 2; i++) {
      try {
        await fs.link(tmp, path);
        mine.add(path);
        return lockOf(fs, path, mine, i > 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      owner = await readOwner(fs, path);
      const live = owner === pid ? mine.has(path) : owner !== null && fs.isProcessRunning(owner);
      if (live) break;
      await unlinkIfExists(fs, path);
    }
    throw new StorageLockedError(path, owner ?? 0);
  } finally {
    await unlinkIfExists(fs, tmp);
  }
}

function lockOf(fs: FileSystem, path: string, mine: Set<string>, tookOver: boolean): DirLock {
  return {
    tookOver,
    async release() {
      // Only remove the lock if it is still ours (it may have been taken over after a hang).
      if ((await readOwner(fs, path)) === fs.processId) await unlinkIfExists(fs, path);
      mine.delete(path);
    },
    abandon() {
      mine.delete(path);
    },
  };
}

async function readOwner(fs: FileSystem, path: string): Promise<number | null> {
  const text = await fs.readFile(path).then(
    (b) => b.toString("utf8"),
    () => "",
  );
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}
