// SimDisk: an in-memory disk with the power-loss semantics of a real one, and injectable faults,
// for the simulator and for tests. Its `fs` is a FileSystem (file-system.ts) that FileStorage
// runs on unchanged. Deterministic: every random choice comes from the injected `random`, and
// every asynchronous operation completes through the injected `complete(delayMs, fn)` hook (the
// simulator backs it with its virtual clock; the default runs `fn` in the next microtask).
//
// Running FileStorage under the simulator (one SimDisk per node: it is the machine's disk and
// outlives the node's crashes):
//
//   const r = rng.fork("disk n1");
//   const disk = new SimDisk({ random: () => r.float(), complete: (ms, fn) => sim.after(ms, fn),
//                              faults: (op) => plan.faultFor(op), capacity });
//   const storage = await FileStorage.open("/n1", { fs: disk.fs, segmentSize: 64 * 1024 });
//   ... the node runs; every file operation completes when the simulator runs its `fn` ...
//   disk.crash();                       // power loss: drop the node and its storage object
//   const again = await FileStorage.open("/n1", { fs: disk.fs, segmentSize: 64 * 1024 });
//
// The simulator must run the microtask queue after each `fn` (FileStorage continues in promise
// callbacks), pass `disk.fs` anew after every crash, and use small segments (a preallocated
// spare costs segmentSize bytes of memory here). A stall is a fault hook returning `delayMs`; a
// full disk is `capacity` (settable at any time: raise it again and the next sync() succeeds).
//
// The power-loss model (what crash() keeps):
//
//   file data      Each file has a durable image and, since its last datasync, a list of
//                  unsynced changes (writes and truncations) in the order they were made. A crash
//                  keeps a prefix of that list per file, of a length chosen at random; the change
//                  after the prefix, if it is a write, may be torn: a leading part of its bytes,
//                  of random length (any byte count, no sector atomicity), reaches the disk, and
//                  the rest of its range keeps its old content. A truncation is never torn.
//                  (A page cache that writes back out of order could also keep a later write and
//                  lose an earlier one; this model does not, see "What it leaves out".)
//   directories    Creating, renaming, linking and removing a name are entry changes of the
//                  directory, durable once syncDir() of that directory returns. A crash keeps a
//                  random prefix of each directory's unsynced entry changes, each change whole (a
//                  rename is atomic: the file has the old name or the new one, never both or
//                  neither). A file whose every durable name is lost is gone with its data; a
//                  file whose name survives but whose data was never synced is empty or partial.
//   datasync       Makes a file's changes durable. If it fails (an injected EIO), the unsynced
//                  changes are dropped from the way to the disk but stay visible to reads, as
//                  Linux does after a writeback error: a later datasync that succeeds does not
//                  bring them back. A failed write may leave any prefix of its data written.
//   space          `capacity` bytes are shared by the files' lengths (names and directories are
//                  free). A write or truncation that would grow past it writes what fits and
//                  fails with ENOSPC; the space of a removed file returns when its last name is
//                  gone and its last handle closed. Capacity may change at any time.
//   stalls         The fault hook may delay any asynchronous operation; it takes effect when it
//                  completes (a crash before that loses it). writeSync never stalls: copying into
//                  the page cache does not wait for the disk.
//
// A crash ends the boot: the process that used it is gone, and the `fs` of that boot and its
// handles behave so: operations started before the crash never complete, and operations started
// after it never complete either (writeSync does nothing), so code of the dead process that is
// still scheduled stops at its next file operation instead of touching the disk again. `fs`
// (read it again after every crash) is a new FileSystem over the durable state, with a new
// lock-file identity (processId).
//
// What it leaves out: out-of-order writeback within a file (the WAL reader would take an intact
// record behind a torn one for corruption and refuse to start: safe, never silent), reordering
// of entry changes between directories beyond the per-directory prefix (no journal across
// directories is assumed either), metadata-only fsync (datasync always carries the length), and
// latent sector errors on read (corruption tests flip bytes in real files instead).

import { posix } from "node:path";
import type { Random } from "../../raft/api.js";
import { mutant } from "../../raft/mutants.js";
import type { FileHandle, FileSystem, OpenFlags } from "./file-system.js";

export type DiskOpKind =
  | "open"
  | "close"
  | "read"
  | "readFile"
  | "write"
  | "writeSync"
  | "writeFile"
  | "size"
  | "truncate"
  | "datasync"
  | "rename"
  | "link"
  | "unlink"
  | "readdir"
  | "mkdir"
  | "syncDir";

/** One operation, as the fault hook sees it before it runs. */
export interface DiskOp {
  kind: DiskOpKind;
  /** The file or directory (for rename and link: the destination). */
  path: string;
  /** Bytes to write (write, writeSync, writeFile). */
  bytes?: number;
}

/** What the fault hook makes of one operation. Nothing (undefined) means: run it normally. */
export interface DiskFault {
  /** Complete this many milliseconds late (a stall). Ignored by writeSync. */
  delayMs?: number;
  /**
   * Fail with this errno code instead: nothing happens, except that a write may leave a prefix
   * of its data and a datasync drops the file's unsynced changes (see the model above).
   */
  error?: "EIO" | "ENOSPC";
}

export type FaultHook = (op: DiskOp) => DiskFault | undefined;

/**
 * The choices a crash makes; crash() draws them from `random` unless given. Tests pass their own
 * to enumerate outcomes (every tear point of a write, every lost directory entry).
 */
export interface CrashChoices {
  /** Of file `path`'s `count` unsynced changes (in order), how many reach the disk: 0..count. */
  keptChanges(path: string, count: number): number;
  /** Of the write after those, how many of its `length` leading bytes do: 0..length-1. */
  tornBytes(path: string, length: number): number;
  /** Of directory `path`'s `count` unsynced entry changes (in order), how many: 0..count. */
  keptEntries(path: string, count: number): number;
}

export function randomCrashChoices(random: Random): CrashChoices {
  const upTo = (n: number) => Math.min(n, Math.floor(random() * (n + 1)));
  return {
    keptChanges: (_path, count) => upTo(count),
    tornBytes: (_path, length) => upTo(length - 1),
    keptEntries: (_path, count) => upTo(count),
  };
}

export interface SimDiskOptions {
  /** Floats in [0, 1): crash choices, and how much of a failed write is left. */
  random: Random;
  /**
   * Runs `fn` when an asynchronous operation completes, `delayMs` (virtual) milliseconds from
   * now (0 unless the fault hook stalls it). Default: the next microtask, ignoring the delay.
   */
  complete?: (delayMs: number, fn: () => void) => void;
  /** Bytes available to file data. Default: unlimited. */
  capacity?: number;
  faults?: FaultHook;
  /** Start from this state (a crash() result) instead of an empty disk. */
  image?: DiskImage;
}

/** A growable byte array: a file's content, cached or durable. */
class Bytes {
  buf: Buffer;
  length: number;

  constructor(from?: Bytes) {
    this.length = from?.length ?? 0;
    this.buf = Buffer.alloc(Math.max(64, this.length));
    from?.buf.copy(this.buf, 0, 0, this.length);
  }

  write(data: Uint8Array, pos: number): void {
    const end = pos + data.length;
    if (end > this.buf.length) {
      const next = Buffer.alloc(Math.max(end, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    this.buf.set(data, pos); // a gap between length and pos is zero already (see truncate)
    this.length = Math.max(this.length, end);
  }

  truncate(length: number): void {
    if (length < this.length) this.buf.fill(0, length, this.length);
    else if (length > this.buf.length) this.write(new Uint8Array(0), length);
    this.length = length;
  }

  apply(c: Change): void {
    if (c.kind === "write") this.write(c.data, c.pos);
    else this.truncate(c.length);
  }
}

type Change = { kind: "write"; pos: number; data: Buffer } | { kind: "truncate"; length: number };

class Inode {
  readonly kind = "file";
  /** What reads see (the page cache). */
  cache: Bytes;
  /** What is on the platter. */
  durable: Bytes;
  /** Changes made to `cache` since the last datasync, on their way to `durable`. */
  pending: Change[] = [];
  /** Names in the current namespace, and open handles: the space is freed when both are 0. */
  links = 0;
  handles = 0;

  constructor(content?: Bytes) {
    this.cache = new Bytes(content);
    this.durable = new Bytes(content);
  }
}

/** A set (node) or removal (null) of a name; a rename is two of them, applied together. */
type EntryChange = [name: string, node: Node | null][];

class Dir {
  readonly kind = "dir";
  entries = new Map<string, Node>();
  durable = new Map<string, Node>();
  pending: EntryChange[] = [];

  change(ops: EntryChange): void {
    for (const [name, node] of ops) {
      if (node) this.entries.set(name, node);
      else this.entries.delete(name);
    }
    this.pending.push(ops);
  }
}

type Node = Inode | Dir;

/** The durable state a crash left: the files and directories a restarted machine finds. */
export class DiskImage {
  /** @internal */
  constructor(readonly root: Dir) {}

  /** Every file's path and content, sorted by path (for tests and debugging). */
  files(): [string, Buffer][] {
    const out: [string, Buffer][] = [];
    const walk = (dir: Dir, path: string) => {
      for (const name of [...dir.entries.keys()].sort()) {
        const node = dir.entries.get(name) as Node;
        const p = posix.join(path, name);
        if (node.kind === "dir") walk(node, p);
        else out.push([p, Buffer.from(node.cache.buf.subarray(0, node.cache.length))]);
      }
    };
    walk(this.root, "/");
    return out;
  }
}

/** Copies the durable view of `root` into a fresh tree (hard links stay shared). */
function copyTree(root: Dir): Dir {
  const copies = new Map<Node, Node>();
  const copy = (node: Node): Node => {
    const done = copies.get(node);
    if (done) return done;
    if (node.kind === "file") {
      const f = new Inode(node.durable);
      copies.set(node, f);
      return f;
    }
    const d = new Dir();
    copies.set(node, d);
    for (const [name, child] of node.durable) d.entries.set(name, copy(child));
    d.durable = new Map(d.entries);
    return d;
  };
  return copy(root) as Dir;
}

function fsError(code: string, syscall: string, path: string): Error {
  const messages: Record<string, string> = {
    ENOENT: "no such file or directory",
    EEXIST: "file already exists",
    ENOTDIR: "not a directory",
    EISDIR: "illegal operation on a directory",
    ENOTEMPTY: "directory not empty",
    EXDEV: "cross-directory rename is not modelled",
    EBADF: "bad file descriptor",
    ENOSPC: "no space left on device",
    EIO: "i/o error",
  };
  const msg = `${code}: ${messages[code] ?? "error"}, ${syscall} '${path}'`;
  return Object.assign(new Error(msg), { code, syscall, path });
}

export class SimDisk {
  capacity: number;
  faults: FaultHook | undefined;
  private root: Dir;
  private boot = 1;
  private usedBytes = 0;
  private current: SimFileSystem;
  private readonly random: Random;
  /**
   * The disk-loses-last-fsync mutant (src/raft/mutants.ts): the file the last datasync made
   * durable, and its durable image before it, which the next crash puts back.
   * @internal
   */
  lastSync: { file: Inode; before: Bytes } | null = null;
  /** @internal */
  readonly complete: (delayMs: number, fn: () => void) => void;

  constructor(opts: SimDiskOptions) {
    this.random = opts.random;
    this.complete = opts.complete ?? ((_ms, fn) => queueMicrotask(fn));
    this.capacity = opts.capacity ?? Number.POSITIVE_INFINITY;
    this.faults = opts.faults;
    this.root = opts.image ? copyTree(opts.image.root) : new Dir();
    this.recount();
    this.current = new SimFileSystem(this, this.boot);
  }

  /** The file system of the current boot. */
  get fs(): FileSystem {
    return this.current;
  }

  /** Bytes of file data in use (the sum of the lengths of live files). */
  get used(): number {
    return this.usedBytes;
  }

  /**
   * Power loss: keeps what the model above allows (choices drawn from `random` unless given),
   * starts a new boot over it and returns a copy of it. Operations of the old boot never
   * complete; its `fs` throws.
   */
  crash(choices: CrashChoices = randomCrashChoices(this.random)): DiskImage {
    if (this.lastSync) {
      // A disk that acknowledged its last flush without doing it (mutant only).
      this.lastSync.file.durable = this.lastSync.before;
      this.lastSync = null;
    }
    const visited = new Set<Node>();
    const settle = (dir: Dir, path: string) => {
      if (visited.has(dir)) return;
      visited.add(dir);
      const kept = dir.pending.length > 0 ? choices.keptEntries(path, dir.pending.length) : 0;
      for (const ops of dir.pending.slice(0, kept)) {
        for (const [name, node] of ops) {
          if (node) dir.durable.set(name, node);
          else dir.durable.delete(name);
        }
      }
      for (const name of [...dir.durable.keys()].sort()) {
        const node = dir.durable.get(name) as Node;
        const p = posix.join(path, name);
        if (node.kind === "dir") settle(node, p);
        else if (!visited.has(node)) {
          visited.add(node);
          settleFile(node, p, choices);
        }
      }
    };
    settle(this.root, "/");
    this.root = copyTree(this.root);
    this.boot++;
    this.recount();
    this.current = new SimFileSystem(this, this.boot);
    return new DiskImage(copyTree(this.root));
  }

  /** @internal Whether `boot` is the running one. */
  alive(boot: number): boolean {
    return boot === this.boot;
  }

  /** @internal The fault the hook decides for `op`, if any. */
  fault(op: DiskOp): DiskFault | undefined {
    return this.faults?.(op);
  }

  /** @internal A random length in 0..n. */
  upTo(n: number): number {
    return Math.min(n, Math.floor(this.random() * (n + 1)));
  }

  /** @internal Resolves `path` in the current namespace. */
  lookup(path: string, syscall: string): Node | undefined {
    let node: Node = this.root;
    for (const part of parts(path)) {
      if (node.kind !== "dir") throw fsError("ENOTDIR", syscall, path);
      const next = node.entries.get(part);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  /** @internal The directory holding `path`, and its last component. */
  parentOf(path: string, syscall: string): [Dir, string] {
    const ps = parts(path);
    const name = ps.pop();
    if (name === undefined) throw fsError("EISDIR", syscall, path);
    const dir = this.lookup(`/${ps.join("/")}`, syscall);
    if (!dir) throw fsError("ENOENT", syscall, path);
    if (dir.kind !== "dir") throw fsError("ENOTDIR", syscall, path);
    return [dir, name];
  }

  /**
   * @internal Grows (or shrinks) `file` to `end` bytes of space if the capacity allows; returns
   * how far it may actually grow (less than `end` when the disk is full).
   */
  reserve(file: Inode, end: number): number {
    const grow = end - file.cache.length;
    if (grow <= 0) return end;
    const room = Math.max(0, this.capacity - this.usedBytes);
    const ok = Math.min(grow, room);
    this.usedBytes += ok;
    return file.cache.length + ok;
  }

  /** @internal `file` shrank or lost its last name and handle. */
  release(bytes: number): void {
    this.usedBytes -= bytes;
  }

  /** @internal Drops one name or handle of `file`; frees its space when none is left. */
  unref(file: Inode, what: "links" | "handles"): void {
    file[what]--;
    if (file.links === 0 && file.handles === 0) this.release(file.cache.length);
  }

  private recount(): void {
    this.usedBytes = 0;
    const seen = new Set<Node>();
    const walk = (dir: Dir) => {
      for (const node of dir.entries.values()) {
        if (node.kind === "dir") walk(node);
        else {
          node.links++;
          if (!seen.has(node)) this.usedBytes += node.cache.length;
          seen.add(node);
        }
      }
    };
    walk(this.root);
  }
}

function settleFile(file: Inode, path: string, choices: CrashChoices): void {
  const { pending } = file;
  if (pending.length === 0) return;
  const kept = choices.keptChanges(path, pending.length);
  for (const c of pending.slice(0, kept)) file.durable.apply(c);
  const torn = pending[kept];
  if (torn?.kind === "write" && torn.data.length > 1) {
    const n = choices.tornBytes(path, torn.data.length);
    if (n > 0) file.durable.write(torn.data.subarray(0, n), torn.pos);
  }
}

function parts(path: string): string[] {
  if (!path.startsWith("/")) throw new Error(`SimDisk: paths must be absolute, got ${path}`);
  return posix
    .normalize(path)
    .split("/")
    .filter((p) => p !== "");
}

/** The FileSystem of one boot of a SimDisk. */
class SimFileSystem implements FileSystem {
  readonly processId: number;

  constructor(
    private readonly disk: SimDisk,
    private readonly boot: number,
  ) {
    this.processId = boot;
  }

  isProcessRunning(pid: number): boolean {
    return this.disk.alive(pid);
  }

  /**
   * Runs `effect` when the operation completes (after the fault hook's delay), unless the boot
   * crashed meanwhile; an injected error replaces it (after `onError`, which models what a
   * failed operation still did).
   */
  run<T>(
    op: DiskOp,
    effect: (fault: DiskFault | undefined) => T,
    onError?: () => void,
  ): Promise<T> {
    if (!this.alive) return new Promise<T>(() => {}); // the process died: nothing returns
    const fault = this.disk.fault(op);
    return new Promise<T>((resolve, reject) => {
      this.disk.complete(fault?.delayMs ?? 0, () => {
        if (!this.disk.alive(this.boot)) return; // the machine lost power: nothing completes
        try {
          if (fault?.error) {
            onError?.();
            throw fsError(fault.error, op.kind, op.path);
          }
          resolve(effect(fault));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** @internal Whether this boot is the running one. */
  get alive(): boolean {
    return this.disk.alive(this.boot);
  }

  /** @internal */
  faultOf(op: DiskOp): DiskFault | undefined {
    return this.disk.fault(op);
  }

  open(path: string, flags: OpenFlags): Promise<FileHandle> {
    return this.run({ kind: "open", path }, () => {
      const file = this.openFile(path, flags);
      file.handles++;
      return new SimFileHandle(this, this.disk, path, file, flags !== "r");
    });
  }

  readFile(path: string): Promise<Buffer> {
    return this.run({ kind: "readFile", path }, () => {
      const file = this.existingFile(path, "open");
      return Buffer.from(file.cache.buf.subarray(0, file.cache.length));
    });
  }

  writeFile(path: string, data: Uint8Array): Promise<void> {
    const op: DiskOp = { kind: "writeFile", path, bytes: data.length };
    return this.run(op, () => {
      const file = this.openFile(path, "w");
      writeInto(this.disk, file, Buffer.from(data), 0, op);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.run({ kind: "rename", path: to }, () => {
      const [dir, name] = this.disk.parentOf(from, "rename");
      const [toDir, toName] = this.disk.parentOf(to, "rename");
      const node = dir.entries.get(name);
      if (!node) throw fsError("ENOENT", "rename", from);
      if (toDir !== dir) throw fsError("EXDEV", "rename", to);
      if (name === toName) return;
      const replaced = dir.entries.get(toName);
      if (replaced?.kind === "dir") throw fsError("EISDIR", "rename", to);
      dir.change([
        [toName, node],
        [name, null],
      ]);
      if (replaced) this.disk.unref(replaced, "links");
    });
  }

  link(existing: string, path: string): Promise<void> {
    return this.run({ kind: "link", path }, () => {
      const file = this.existingFile(existing, "link");
      const [dir, name] = this.disk.parentOf(path, "link");
      // node names the source in link errors (and the target in `dest`)
      if (dir.entries.has(name)) throw fsError("EEXIST", "link", existing);
      dir.change([[name, file]]);
      file.links++;
    });
  }

  unlink(path: string): Promise<void> {
    return this.run({ kind: "unlink", path }, () => {
      const [dir, name] = this.disk.parentOf(path, "unlink");
      const node = dir.entries.get(name);
      if (!node) throw fsError("ENOENT", "unlink", path);
      if (node.kind === "dir") throw fsError("EISDIR", "unlink", path);
      dir.change([[name, null]]);
      this.disk.unref(node, "links");
    });
  }

  readdir(path: string): Promise<string[]> {
    return this.run({ kind: "readdir", path }, () =>
      [...this.existingDir(path, "scandir").entries.keys()].sort(),
    );
  }

  mkdir(path: string): Promise<string | undefined> {
    return this.run({ kind: "mkdir", path }, () => {
      let dir = this.existingDir("/", "mkdir");
      let at = "";
      let first: string | undefined;
      for (const part of parts(path)) {
        at = `${at}/${part}`;
        const next = dir.entries.get(part);
        if (next?.kind === "file") throw fsError("EEXIST", "mkdir", at);
        if (next) {
          dir = next;
          continue;
        }
        const made = new Dir();
        dir.change([[part, made]]);
        first ??= at;
        dir = made;
      }
      return first;
    });
  }

  syncDir(path: string): Promise<void> {
    return this.run({ kind: "syncDir", path }, () => {
      const dir = this.existingDir(path, "fsync");
      dir.durable = new Map(dir.entries);
      dir.pending = [];
    });
  }

  private openFile(path: string, flags: OpenFlags): Inode {
    const [dir, name] = this.disk.parentOf(path, "open");
    const node = dir.entries.get(name);
    if (node?.kind === "dir") throw fsError("EISDIR", "open", path);
    if (node && flags === "wx") throw fsError("EEXIST", "open", path);
    if (node) {
      if (flags === "w" && node.cache.length > 0) {
        this.disk.release(node.cache.length);
        change(node, { kind: "truncate", length: 0 });
      }
      return node;
    }
    if (flags === "r" || flags === "r+") throw fsError("ENOENT", "open", path);
    const file = new Inode();
    dir.change([[name, file]]);
    file.links++;
    return file;
  }

  private existingFile(path: string, syscall: string): Inode {
    const node = this.disk.lookup(path, syscall);
    if (!node) throw fsError("ENOENT", syscall, path);
    if (node.kind === "dir") throw fsError("EISDIR", syscall, path);
    return node;
  }

  private existingDir(path: string, syscall: string): Dir {
    const node = this.disk.lookup(path, syscall);
    if (!node) throw fsError("ENOENT", syscall, path);
    if (node.kind !== "dir") throw fsError("ENOTDIR", syscall, path);
    return node;
  }
}

/** Applies `c` to the cache and queues it for the disk. */
function change(file: Inode, c: Change): void {
  file.cache.apply(c);
  file.pending.push(c);
}

/**
 * Writes `data` at `pos` as far as space allows; throws ENOSPC if not all of it fits. (An
 * injected error is handled by the caller.)
 */
function writeInto(disk: SimDisk, file: Inode, data: Buffer, pos: number, op: DiskOp): void {
  const end = disk.reserve(file, pos + data.length);
  const n = Math.max(0, Math.min(data.length, end - pos));
  if (n > 0) change(file, { kind: "write", pos, data: Buffer.from(data.subarray(0, n)) });
  if (n < data.length) throw fsError("ENOSPC", op.kind, op.path);
}

class SimFileHandle implements FileHandle {
  private closed = false;

  constructor(
    private readonly fs: SimFileSystem,
    private readonly disk: SimDisk,
    readonly path: string,
    private readonly file: Inode,
    private readonly writable: boolean,
  ) {}

  read(buffer: Uint8Array, position: number): Promise<number> {
    return this.fs.run({ kind: "read", path: this.path }, () => {
      this.checkOpen("read");
      const { cache } = this.file;
      const n = Math.max(0, Math.min(buffer.length, cache.length - position));
      buffer.set(cache.buf.subarray(position, position + n));
      return n;
    });
  }

  write(data: Uint8Array, position: number): Promise<void> {
    const op: DiskOp = { kind: "write", path: this.path, bytes: data.length };
    const copy = Buffer.from(data); // the caller may reuse `data` before the write completes
    return this.fs.run(
      op,
      () => this.writeNow(copy, position, op),
      () => this.partial(copy, position, op),
    );
  }

  writeSync(data: Uint8Array, position: number): void {
    const op: DiskOp = { kind: "writeSync", path: this.path, bytes: data.length };
    if (!this.fs.alive) return; // the process died: its writes go nowhere
    const fault = this.fs.faultOf(op);
    if (fault?.error) {
      this.partial(Buffer.from(data), position, op);
      throw fsError(fault.error, "write", this.path);
    }
    this.writeNow(Buffer.from(data.buffer, data.byteOffset, data.byteLength), position, op);
  }

  size(): Promise<number> {
    return this.fs.run({ kind: "size", path: this.path }, () => {
      this.checkOpen("fstat");
      return this.file.cache.length;
    });
  }

  truncate(length: number): Promise<void> {
    const op: DiskOp = { kind: "truncate", path: this.path };
    return this.fs.run(op, () => {
      this.checkWritable("ftruncate");
      const { file } = this;
      const old = file.cache.length;
      if (length < old) {
        this.disk.release(old - length);
        change(file, { kind: "truncate", length });
        return;
      }
      const end = this.disk.reserve(file, length);
      if (end > old) change(file, { kind: "truncate", length: end });
      if (end < length) throw fsError("ENOSPC", "ftruncate", this.path);
    });
  }

  datasync(): Promise<void> {
    return this.fs.run(
      { kind: "datasync", path: this.path },
      () => {
        this.checkOpen("fdatasync");
        const { file } = this;
        if (file.pending.length > 0 && mutant("disk-loses-last-fsync"))
          this.disk.lastSync = { file, before: new Bytes(file.durable) };
        for (const c of file.pending) file.durable.apply(c);
        file.pending = [];
      },
      () => {
        // A writeback error: the kernel marks the pages clean, so the data never reaches the
        // disk although reads still see it (the "fsyncgate" behaviour of Linux).
        this.file.pending = [];
      },
    );
  }

  close(): Promise<void> {
    return this.fs.run({ kind: "close", path: this.path }, () => {
      this.checkOpen("close");
      this.closed = true;
      this.disk.unref(this.file, "handles");
    });
  }

  private writeNow(data: Buffer, position: number, op: DiskOp): void {
    this.checkWritable("write");
    writeInto(this.disk, this.file, data, position, op);
  }

  /** What a failed write leaves: a random prefix of its data. */
  private partial(data: Buffer, position: number, op: DiskOp): void {
    if (this.closed || !this.writable) return;
    const n = this.disk.upTo(data.length - 1);
    try {
      if (n > 0) writeInto(this.disk, this.file, data.subarray(0, n), position, op);
    } catch {
      // out of space as well: what fit is written
    }
  }

  private checkOpen(syscall: string): void {
    if (this.closed) throw fsError("EBADF", syscall, this.path);
  }

  private checkWritable(syscall: string): void {
    this.checkOpen(syscall);
    if (!this.writable) throw fsError("EBADF", syscall, this.path);
  }
}
