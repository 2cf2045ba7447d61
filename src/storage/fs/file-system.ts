// The file operations FileStorage performs, and nothing else: every byte the storage layer reads
// or writes goes through one FileSystem object. Two implementations share this contract:
// nodeFileSystem (node-file-system.ts: node:fs, for real nodes) and SimDisk (sim-disk.ts: an
// in-memory disk with power-loss semantics and injected faults, for the simulator and tests).
// Swapping them changes nothing in FileStorage, wal-recovery, snap-files or the lock.
//
// Errors are Node's: an Error with a string `code` ("ENOENT", "EEXIST", "ENOSPC", "EIO", ...)
// and the `path` it concerns (handles add their path to errors of fd operations, which Node
// leaves without one). Callers branch on `code` only.
//
// Durability is explicit, as on a real disk: a write is in the page cache until the file's
// datasync() returns; a created, renamed or removed name is durable only once its directory's
// syncDir() returns. What a crash keeps of the rest is the implementation's business (the real
// kernel's, or SimDisk's documented model); FileStorage may rely on nothing else.

import { dirname, resolve } from "node:path";

/**
 * How open() opens a file, as node:fs flags: "r" read only; "r+" read and write, the file must
 * exist; "w" write, created if missing, truncated if present; "wx" write, created, EEXIST if
 * present. Every handle can read.
 */
export type OpenFlags = "r" | "r+" | "w" | "wx";

export interface FileHandle {
  /** The path it was opened with (named in errors). */
  readonly path: string;
  /**
   * Reads into `buffer` from byte `position` until it is full or the file ends; returns how many
   * bytes were read (fewer than buffer.length only at the end of the file).
   */
  read(buffer: Uint8Array, position: number): Promise<number>;
  /**
   * Writes all of `data` at `position` (extending the file if needed; a gap reads as zeros). On
   * error some prefix of `data` may have been written. `data` may be reused once it settles.
   */
  write(data: Uint8Array, position: number): Promise<void>;
  /**
   * The same, synchronously: for small writes into the page cache, where a trip through the
   * thread pool costs more than the copy (file-storage.ts explains). Throws on error.
   */
  writeSync(data: Uint8Array, position: number): void;
  /** The file's current length in bytes. */
  size(): Promise<number>;
  /** Cuts (or zero-extends) the file to `length` bytes. Durable after datasync(). */
  truncate(length: number): Promise<void>;
  /** Makes the file's data and length durable (fdatasync). On error, treat the data as lost. */
  datasync(): Promise<void>;
  /** Releases the handle; it is unusable afterwards. */
  close(): Promise<void>;
}

export interface FileSystem {
  open(path: string, flags: OpenFlags): Promise<FileHandle>;
  /** The whole file. */
  readFile(path: string): Promise<Buffer>;
  /** Creates or replaces `path` with `data` (not made durable: the lock file needs no more). */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** Atomically replaces `to` by `from` (same directory). Durable after syncDir of it. */
  rename(from: string, to: string): Promise<void>;
  /** Gives the file `existing` a second name `path`; EEXIST if `path` exists (atomic). */
  link(existing: string, path: string): Promise<void>;
  /** Removes the name `path`; ENOENT if missing. Durable after syncDir of its directory. */
  unlink(path: string): Promise<void>;
  /** Names in directory `path` (not "." or ".."), in no particular order. */
  readdir(path: string): Promise<string[]>;
  /**
   * Creates directory `path` and any missing parents; no error if it exists. Returns the first
   * (outermost) directory it created, or undefined if none: the parent of each created level
   * must be synced for it to survive a crash (mkdirDurable does).
   */
  mkdir(path: string): Promise<string | undefined>;
  /** Makes the entries of directory `path` (creations, renames, removals) durable. */
  syncDir(path: string): Promise<void>;
  /**
   * The identity the data directory's lock file records (lock.ts): this process's id, and
   * whether a recorded id is still running. A simulated disk gives every boot its own id.
   */
  readonly processId: number;
  isProcessRunning(pid: number): boolean;
}

/** The errno-style code of a file-system error, or undefined. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** The path a file-system error names, or undefined. */
export function errorPath(err: unknown): string | undefined {
  const path = (err as { path?: unknown } | null)?.path;
  return typeof path === "string" ? path : undefined;
}

/** Removes `path` if it exists (rm --force for one file). */
export async function unlinkIfExists(fs: FileSystem, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (err) {
    if (errorCode(err) !== "ENOENT") throw err;
  }
}

/**
 * Creates directory `path` (and missing parents) so that it survives a crash: the parent of every
 * directory created here is synced, top down, so no created level can vanish under a durable one.
 */
export async function mkdirDurable(fs: FileSystem, path: string): Promise<void> {
  const first = await fs.mkdir(path);
  if (first === undefined) return;
  const top = resolve(first);
  const created: string[] = [];
  for (let d = resolve(path); ; d = dirname(d)) {
    created.push(d);
    if (d === top || dirname(d) === d) break;
  }
  for (const d of created.reverse()) await fs.syncDir(dirname(d));
}
