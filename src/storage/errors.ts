// Typed storage failures with stable codes (RaftworkError: callers branch on `code`).
//
//   storage-corrupt    at open or load: the data is damaged in a way no crash explains. Do not
//                      start: the node must not run on a log it cannot trust.
//   storage-locked     at open: another live process holds the directory. Do not start.
//   storage-failed     a write, datasync, rename or directory sync on the way to the disk
//                      failed. The store is fail-stopped: this and every later call reject with
//                      the same error, and nothing written after it is ever reported durable.
//                      Stop the node (exit); a restart recovers what was durable.
//   storage-no-space   the disk was full before any byte of a log record was written (the next
//                      WAL segment could not be allocated, a snapshot file could not be
//                      written). Nothing is lost and the store stays consistent and usable:
//                      see FileStorage.sync and prepareSnapshot for what to retry.

import { RaftworkError } from "../util/errors.js";

export class StorageCorruptionError extends RaftworkError {
  readonly code = "storage-corrupt";
  constructor(
    /** The damaged file. */
    readonly path: string,
    /** Byte offset in `path` where the damage starts (the damaged record or header). */
    readonly offset: number,
    detail: string,
  ) {
    super(
      `corrupt storage: ${path} at byte ${offset}: ${detail}. This is not an interrupted write ` +
        "(that is repaired automatically); refusing to start rather than lose durable data",
    );
  }
}

export class StorageLockedError extends RaftworkError {
  readonly code = "storage-locked";
  constructor(
    readonly lockPath: string,
    readonly pid: number,
  ) {
    super(
      `data directory in use: ${lockPath} is held by running process ${pid}. ` +
        "Stop that process first (delete the lock file only if that pid is not a raftwork node)",
    );
  }
}

export class StorageFailedError extends RaftworkError {
  readonly code = "storage-failed";
  constructor(
    /** The data directory. */
    readonly dir: string,
    /** The file (or directory) whose operation failed. */
    readonly path: string,
    /** What failed: "write", "datasync", "rename", "sync directory", ... */
    readonly op: string,
    cause: unknown,
  ) {
    super(
      `storage failed: ${op} of ${path} failed (${describe(cause)}). What reached the disk is ` +
        `unknown, so the store in ${dir} accepts nothing more; restart the node to recover ` +
        "what is durable",
      { cause },
    );
  }
}

export class StorageNoSpaceError extends RaftworkError {
  readonly code = "storage-no-space";
  constructor(
    /** The file that could not be allocated. */
    readonly path: string,
    cause: unknown,
  ) {
    super(
      `no space left on the device of ${path}: nothing was written to the log and nothing is ` +
        "lost; retry once space is freed",
      { cause },
    );
  }
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string") return code;
  return err instanceof Error ? err.message : String(err);
}
