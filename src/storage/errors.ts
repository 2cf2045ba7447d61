// Typed storage failures with stable codes. Both mean "do not start": the node must not run on a
// log it cannot trust, or on a directory another process is writing.

export class StorageCorruptionError extends Error {
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
    this.name = "StorageCorruptionError";
  }
}

export class StorageLockedError extends Error {
  readonly code = "storage-locked";
  constructor(
    readonly lockPath: string,
    readonly pid: number,
  ) {
    super(
      `data directory in use: ${lockPath} is held by running process ${pid}. ` +
        "Stop that process first (delete the lock file only if that pid is not a raftwork node)",
    );
    this.name = "StorageLockedError";
  }
}
