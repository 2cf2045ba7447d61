// FileStorage: the Storage contract on disk, for real nodes. A segmented write-ahead log with a
// chained CRC per record (format: wal-format.ts), snapshot files written atomically and in
// chunks (snap-files.ts), recovery that repairs only what a crash can do (wal-reader.ts,
// wal-recovery.ts), and a lock file (lock.ts). Every file operation goes through a FileSystem
// (fs/file-system.ts): node:fs by default, a SimDisk under the simulator.
//
// Performance shape: write() only validates and encodes its batch into an in-memory chunk;
// sync() writes the chunk with one write call and one datasync (group commit: every batch written
// since the last sync shares it, and concurrent sync() calls share one flush). Entry payloads are
// encoded once and never kept: in memory stay only index/term pairs of the live log, which decide
// what a snapshot keeps and where a new segment starts.
//
// Segments are preallocated, as etcd's WAL does: a spare file is zero-filled in the background
// and renamed into place at the next roll, because a datasync that only overwrites allocated,
// written blocks skips the filesystem's block allocation and size update (measured here:
// ~0.3 ms vs ~1.7 ms mean per datasync). A segment is truncated to its data before the next one
// takes its place, so only the newest segment ends in zeros (wal-reader.ts reads them as the
// end of the log). A store that writes little never preallocates: the spare is filled once the
// active segment holds 1/64 of segmentSize, and a segment that grew without preallocation is
// rolled over early once the spare is ready. A snapshot file is best written ahead with
// prepareSnapshot(), off the flush path: then the batch that installs it carries only its marker.
//
// Disk faults (docs/architecture.md, "The durability model"; errors.ts has the codes):
//   - Record bytes only ever go into space allocated beforehand: the spare, or zeros written
//     over the end of a growing segment (or a new segment's temp file) just before the records.
//     So a full disk shows up while allocating (ENOSPC before any byte of a batch is written),
//     never half-way through a record: the allocation is undone and sync() rejects with
//     StorageNoSpaceError, every unsynced batch stays queued in order, and the next sync()
//     retries. (A copy-on-write filesystem such as btrfs or ZFS allocates on every overwrite, so
//     there the guarantee degrades to the fatal case below: still safe, no longer retryable.)
//   - Any other failure on the way to the disk (a write, datasync, rename or directory sync of
//     the WAL, or of a snapshot file) fail-stops the store with StorageFailedError: after a
//     failed fsync the kernel may have dropped the dirty pages, so nothing written later could
//     be trusted to be durable.
//   - New segments are written under a temp name, made durable, then renamed: a torn header
//     never appears under a segment's name.

import { join } from "node:path";
import type { PersistedState } from "../raft/api.js";
import type { Snapshot, SnapshotMetadata } from "../raft/types.js";
import { StorageCorruptionError, StorageFailedError, StorageNoSpaceError } from "./errors.js";
import {
  errorCode,
  errorPath,
  type FileHandle,
  type FileSystem,
  mkdirDurable,
  unlinkIfExists,
} from "./fs/file-system.js";
import { nodeFileSystem } from "./fs/node-file-system.js";
import { acquireLock, type DirLock } from "./lock.js";
import { applyBatch, copyMetadata, type IndexTerm, type LogState, lastIndex } from "./log-state.js";
import { loadedHardState } from "./planted.js";
import {
  openSnapshotFile,
  parseSnapshotName,
  readSnapshotFile,
  SnapshotFileWriter,
  snapshotName,
  writeSnapshotFile,
} from "./snap-files.js";
import type { Chunks, LoadOptions, Storage, WriteBatch } from "./storage.js";
import {
  encodeEntries,
  encodeHardState,
  encodeSegmentHeader,
  encodeSnapshotMarker,
  RecordEncoder,
  RecordKind,
  segmentName,
} from "./wal-format.js";
import { type RecoveredWal, recoverWal, type SegmentFile } from "./wal-recovery.js";

export interface FileStorageOptions {
  /** Start a new WAL segment once the current one holds this many bytes. Default 64 MiB. */
  segmentSize?: number;
  /** Zero-fill segments ahead of need (see the header). Default true. */
  preallocate?: boolean;
  /**
   * The file system to run on. Default: node:fs. The simulator passes a SimDisk's `fs` (and a
   * small segmentSize: a preallocated spare costs segmentSize bytes of memory there).
   */
  fs?: FileSystem;
}

export const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;

/** Bytes queued for one segment file, written by the next flush. */
interface PendingWrite {
  segment: SegmentFile;
  /**
   * The file does not exist yet: write a new temp file ("file") or take the zero-filled spare
   * ("spare"), then rename it to the segment's name and sync the directory.
   */
  create: Creation;
  bytes: Buffer;
}

type Creation = false | "file" | "spare";

/** The spare is zero-filled in 1 MiB writes, with a sync after every this many. */
const SPARE_SYNC_EVERY = 4;
const ZEROS = Buffer.alloc(1 << 20);
/** Temp names in wal/ (never parsed as segments: see parseSegmentName); open() removes them. */
const SPARE_NAME = "spare.wal.tmp";
const NEXT_NAME = "next.wal.tmp";

type Tracker = LogState<IndexTerm, { metadata: SnapshotMetadata }>;

export class FileStorage implements Storage {
  private readonly walDir: string;
  private readonly sparePath: string;
  private readonly nextPath: string;
  private readonly snapDir: string;
  /** Open handle of the newest segment on disk. */
  private fh: FileHandle | null = null;
  /** Segments on disk, oldest first. */
  private readonly segments: SegmentFile[];
  /** The segment new records go to (maybe not created yet). */
  private active: SegmentFile;
  private activeCreate: Creation = false;
  /** The preallocated spare segment: "off" after an I/O error in it (it is only a speedup). */
  private spare: "none" | "filling" | "ready" | "taken" | "off" = "none";
  private filling: Promise<void> = Promise.resolve();
  /** After the disk was too full for a spare: do not try again before the active segment grows. */
  private spareAfter = { seq: -1, size: 0 };
  /** Whether the active segment holds a batch besides its opening state batch. */
  private activeHasData = false;
  private readonly enc: RecordEncoder;
  /** Chunks not yet written, in order: rolled-over segments, and those a no-space flush left. */
  private queue: PendingWrite[] = [];
  /** Snapshot files to write before the queued WAL bytes (write() installing a new snapshot). */
  private pendingSnaps: { name: string; snapshot: Snapshot }[] = [];
  /**
   * Snapshot files of prepareSnapshot whose marker is not in the WAL yet: true once durable,
   * false while being written (compaction must not delete those either).
   */
  private readonly prepared = new Map<string, boolean>();
  /** Names of the durable snapshot files (what readSnapshot can read). */
  private readonly snapFiles = new Set<string>();
  /** Numbers snapshot temp files (see tempName). */
  private temps = 0;
  /** The prepareSnapshot in progress (settled promise when idle): one at a time. */
  private preparing: Promise<void> = Promise.resolve();
  /** The snapshot whose older files and covered segments are already deleted. */
  private compactedFor = "";
  private recovered: RecoveredState | null;
  private failed: StorageFailedError | null = null;
  private closed = false;
  /** The flush in progress (settled promise when idle) and the one queued behind it. */
  private inflight: Promise<void> = Promise.resolve();
  private queued: Promise<void> | null = null;

  private constructor(
    readonly dir: string,
    private readonly fs: FileSystem,
    private readonly segmentSize: number,
    preallocate: boolean,
    private readonly lock: DirLock,
    private readonly log: Tracker,
    recovered: RecoveredState,
    private readonly repairList: string[],
  ) {
    this.walDir = join(dir, "wal");
    this.sparePath = join(this.walDir, SPARE_NAME);
    this.nextPath = join(this.walDir, NEXT_NAME);
    this.snapDir = join(dir, "snap");
    this.recovered = recovered;
    const { wal } = recovered;
    this.segments = wal?.segments ?? [];
    this.enc = new RecordEncoder(wal?.crc ?? 0);
    if (!preallocate) this.spare = "off";
    if (recovered.snapshot) this.snapFiles.add(nameOf(recovered.snapshot));
    const last = this.segments.at(-1);
    this.active = last ?? this.newSegment(0, 1);
  }

  /**
   * Opens (creating if needed) the data directory `dir`, takes its lock and recovers the log.
   * Throws StorageLockedError if another live process holds `dir`, StorageCorruptionError if the
   * data is damaged in a way no crash can explain, StorageNoSpaceError if a repair needs space
   * the disk lacks (retry later), and the file system's error if it cannot be read.
   */
  static async open(dir: string, opts: FileStorageOptions = {}): Promise<FileStorage> {
    const segmentSize = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    if (!Number.isSafeInteger(segmentSize) || segmentSize < 4096) {
      throw new RangeError(
        `FileStorage: segmentSize must be an integer >= 4096, got ${segmentSize}`,
      );
    }
    try {
      return await FileStorage.recover(dir, segmentSize, opts);
    } catch (err) {
      // The lock file, a repair, the opening state batch: all retryable once space is freed.
      if (errorCode(err) === "ENOSPC") throw new StorageNoSpaceError(errorPath(err) ?? dir, err);
      throw err;
    }
  }

  private static async recover(
    dir: string,
    segmentSize: number,
    opts: FileStorageOptions,
  ): Promise<FileStorage> {
    const fs = opts.fs ?? nodeFileSystem;
    await mkdirDurable(fs, dir);
    await fs.mkdir(join(dir, "wal"));
    await fs.mkdir(join(dir, "snap"));
    await fs.syncDir(dir); // the subdirectories' entries must survive a crash too
    const lock = await acquireLock(fs, dir);
    try {
      const repairs: string[] = [];
      const state = await readState(fs, dir, repairs);
      const current = state.snapshot && nameOf(state.snapshot);
      const snapDir = join(dir, "snap");
      const orphans = await removeSnapshotsExcept(fs, snapDir, (n) => n === current);
      if (orphans.length > 0)
        repairs.push(`removed unreferenced snapshot files ${orphans.join(", ")}`);
      // A spare or new segment of an earlier run: maybe not all zero, never named in the WAL.
      await removeFiles(fs, join(dir, "wal"), (n) => n.endsWith(".tmp"));
      const log: Tracker = {
        hardState: { ...state.hardState },
        snapshot: state.snapshot && { metadata: copyMetadata(state.snapshot) },
        entries: state.entries.map((e) => ({ index: e.index, term: e.term })),
      };
      const s = new FileStorage(
        dir,
        fs,
        segmentSize,
        opts.preallocate ?? true,
        lock,
        log,
        state,
        repairs,
      );
      if (s.active.size > 0) s.fh = await fs.open(s.active.path, "r+");
      if (lock.tookOver) await s.resyncTail();
      // Every segment must open with a state batch (see wal-format.ts); a new store, or a crash
      // that tore the one a roll had just written, leaves the last segment without it.
      if (!state.wal?.lastHasBatch) {
        s.writeStateBatch();
        await s.sync();
      }
      return s;
    } catch (err) {
      await lock.release().catch(() => {});
      throw err;
    }
  }

  /**
   * What open() had to repair after a crash (torn tail, unwritten segment, orphan snapshots, a
   * re-synced tail): for the log.
   */
  get repairs(): readonly string[] {
    return this.repairList;
  }

  /**
   * After an owner that did not stop cleanly (killed, or fail-stopped by a disk fault): makes
   * what recovery read durable before the node relies on it. Recovery reads through the page
   * cache, and after a failed fsync Linux marks the dirty pages clean: the previous process's
   * last writes can be readable yet never reach the disk, and a node that acknowledged them
   * after restarting would lose them at the next power loss. Rewriting the newest segment's
   * data dirties those pages again, so the datasync writes them (or fails, and open() with it).
   * Older segments were each synced before the next one was named; the directories are synced
   * for the names a failed directory sync may have left undurable.
   */
  private async resyncTail(): Promise<void> {
    const last = this.segments.at(-1);
    if (last && this.fh && last.size > 0) {
      const data = Buffer.allocUnsafe(last.size);
      await this.fh.read(data, 0);
      await this.fh.write(data, 0);
      await this.fh.datasync();
    }
    await this.fs.syncDir(this.walDir);
    await this.fs.syncDir(this.snapDir);
    this.repairList.push(
      "re-synced the newest WAL segment: the previous owner did not stop cleanly",
    );
  }

  /**
   * The first call returns what open() recovered. Later calls re-read the disk and return the
   * synced state (batches written but not synced yet are not included). With
   * `snapshotData: false`, the snapshot's data is verified but left out (read it with
   * readSnapshot).
   */
  async load(options: LoadOptions = {}): Promise<PersistedState> {
    this.checkUsable();
    let state = this.recovered;
    this.recovered = null; // do not keep the whole log in memory for the node's lifetime
    if (!state) {
      await this.inflight;
      state = await readState(this.fs, this.dir, null);
    }
    const { snapshot } = state;
    const hardState = loadedHardState(state.hardState);
    if (!snapshot) return { hardState, snapshot: null, entries: state.entries };
    const path = join(this.snapDir, nameOf(snapshot));
    let data: Uint8Array = new Uint8Array(0);
    if (options.snapshotData === false) {
      await verifySnapshotFile(this.fs, path);
    } else {
      data = (await readSnapshotFile(this.fs, path)).data;
    }
    return {
      hardState,
      snapshot: { metadata: snapshot, data },
      entries: state.entries,
    };
  }

  write(batch: WriteBatch): void {
    this.checkUsable();
    const snap = batch.snapshot;
    const name = snap && nameOf(snap.metadata);
    if (snap && !snap.data && name && this.prepared.get(name) !== true) {
      throw new Error(`storage: snapshot ${name} carries no data and was not prepared`);
    }
    const full = this.activeHasData && this.active.size + this.enc.size >= this.segmentSize;
    // A segment that grows without preallocation gives way to the spare as soon as it is ready.
    if (full || (this.spare === "ready" && this.active.allocated < this.segmentSize)) this.roll();
    // Payloads first (encoding rejects a bad entry type), then the tracker, which validates the
    // rest and tells what the snapshot did: a batch that throws leaves no trace.
    const entries = batch.entries && batch.entries.length > 0 ? encodeEntries(batch.entries) : null;
    const hardState = batch.hardState ? encodeHardState(batch.hardState) : null;
    const outcome = applyBatch(this.log, {
      snapshot: snap && { metadata: copyMetadata(snap.metadata) },
      entries: batch.entries?.map((e) => ({ index: e.index, term: e.term })),
      hardState: batch.hardState && { ...batch.hardState },
    });
    const records: [RecordKind, Buffer][] = [];
    if (snap && name && (outcome === "kept-log" || outcome === "dropped-log")) {
      const marker = encodeSnapshotMarker(snap.metadata, outcome === "kept-log");
      records.push([RecordKind.Snapshot, marker]);
      // A prepared file is durable already; otherwise the flush writes it before the marker.
      // The copy keeps the caller free to reuse its buffer once write() returns.
      if (this.prepared.get(name) !== true && snap.data) {
        const copy = { metadata: copyMetadata(snap.metadata), data: Buffer.from(snap.data) };
        this.pendingSnaps.push({ name, snapshot: copy });
      }
    }
    // Installed or ignored: either way the next compaction may delete an unused file.
    if (name) this.prepared.delete(name);
    if (entries) records.push([RecordKind.Entries, entries]);
    if (hardState) records.push([RecordKind.HardState, hardState]);
    for (const [i, [kind, payload]] of records.entries()) {
      this.enc.append(kind, i === records.length - 1, payload);
    }
    if (records.length > 0) this.activeHasData = true;
  }

  /**
   * Writes `snap`'s file durably (temp file, fsync, rename, directory fsync) without touching the
   * WAL, so a later write({snapshot}) of it adds only its marker record to the flush. Until then
   * the file is an orphan that open() deletes after a crash. The caller must not mutate
   * snap.data before the promise settles. Rejects with StorageNoSpaceError if the disk is full
   * (the store is unchanged: retry later), StorageFailedError on any other I/O error (fatal).
   */
  prepareSnapshot(snap: Snapshot): Promise<void> {
    return this.prepareSnapshotStream(snap.metadata, [snap.data]);
  }

  /**
   * prepareSnapshot from chunks (see Storage): the file is written frame by frame as the chunks
   * come. An error thrown by `chunks` is rethrown as it is, after the temp file is removed.
   */
  prepareSnapshotStream(metadata: SnapshotMetadata, chunks: Chunks): Promise<void> {
    try {
      this.checkUsable();
    } catch (err) {
      return Promise.reject(err);
    }
    const name = nameOf(metadata);
    const done = this.preparing.then(async () => {
      this.checkUsable();
      this.prepared.set(name, false);
      try {
        await this.streamSnapshot(name, copyMetadata(metadata), chunks);
        if (this.prepared.has(name)) this.prepared.set(name, true);
      } catch (err) {
        this.prepared.delete(name);
        throw err;
      }
    });
    this.preparing = done.catch(() => {});
    return done;
  }

  /**
   * The data of a stored snapshot, the installed one (once the batch that wrote it is synced) or
   * a prepared one, as verified chunks (snap-files.ts). A file compacted away while it is read
   * stays readable to the end (an open file outlives its name).
   */
  async *readSnapshot(metadata: SnapshotMetadata): AsyncGenerator<Uint8Array> {
    this.checkUsable();
    const name = nameOf(metadata);
    if (!this.snapFiles.has(name)) throw new Error(`storage: no stored snapshot ${name}`);
    let reader: Awaited<ReturnType<typeof openSnapshotFile>>;
    try {
      reader = await openSnapshotFile(this.fs, join(this.snapDir, name));
    } catch (err) {
      if (!this.snapFiles.has(name)) throw new Error(`storage: snapshot ${name} was superseded`);
      throw err;
    }
    yield* reader.chunks();
  }

  /**
   * Makes every batch written so far durable. Concurrent calls share flushes (group commit).
   *
   * Rejects with StorageNoSpaceError when the disk is full before a byte of the next batch is
   * written: the batches synced before stay durable (some of this flush's may be too), the rest
   * stay queued in order, and the store is fully usable: write() may queue more, load() returns
   * the synced state, and a later sync() retries from where this one stopped (call it again
   * once space is freed; each call that finds the disk still full rejects again). Rejects with
   * StorageFailedError on any other failure, which is final.
   */
  sync(): Promise<void> {
    try {
      this.checkUsable();
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.queued) {
      const next = this.inflight.then(() => {
        this.queued = null;
        return this.flush();
      });
      this.queued = next;
      this.inflight = next.catch(() => {});
    }
    return this.queued;
  }

  /**
   * Waits for requested syncs, then releases the files and the lock. Unsynced batches are lost.
   * A failed store leaves its lock file: the next open() sees an unclean stop and re-syncs.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inflight;
    await this.preparing;
    await this.filling;
    this.queue = [];
    this.pendingSnaps = [];
    this.enc.take();
    await this.fh?.close().catch(() => {});
    this.fh = null;
    if (this.failed) this.lock.abandon();
    else await this.lock.release();
  }

  private async flush(): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.enc.size > 0) {
      this.queue.push({ segment: this.active, create: this.activeCreate, bytes: this.enc.take() });
      this.activeCreate = false;
    }
    // Taken now: files and chunks written while this flush runs belong to the next one (a
    // compaction below must not see a file whose marker is not durable yet).
    const snaps = this.pendingSnaps;
    this.pendingSnaps = [];
    const writes = this.queue;
    this.queue = [];
    const snapshot = this.log.snapshot?.metadata ?? null;
    let snapsDone = 0;
    let writesDone = 0;
    try {
      // Snapshot files first: a durable marker in the WAL must never name a missing file.
      for (const s of snaps) {
        await this.writePendingSnapshot(s.name, s.snapshot);
        snapsDone++;
      }
      if (snaps.length > 0) await this.syncDirOrFail(this.snapDir);
      for (const w of writes) {
        await this.writeSegment(w);
        writesDone++;
      }
      if (snapshot) await this.compact(snapshot);
      this.maybeFillSpare();
    } catch (err) {
      if (err instanceof StorageNoSpaceError) {
        // Nothing of the unwritten rest reached the disk: queue it again, ahead of newer chunks.
        this.pendingSnaps = [...snaps.slice(snapsDone), ...this.pendingSnaps];
        this.queue = [...writes.slice(writesDone), ...this.queue];
        throw err;
      }
      throw this.fail(err, errorPath(err) ?? this.dir, syscallOf(err));
    }
  }

  /** Writes a snapshot file of the flush; a full disk is retryable (no WAL byte written yet). */
  private async writePendingSnapshot(name: string, snap: Snapshot): Promise<void> {
    const tmp = this.tempName(name);
    try {
      await writeSnapshotFile(this.fs, this.snapDir, name, tmp, snap.metadata, [snap.data]);
    } catch (err) {
      throw this.noSpaceOrFail(err, join(this.snapDir, tmp), "write snapshot");
    }
    this.snapFiles.add(name);
  }

  /**
   * Writes and syncs a snapshot file from `chunks`, telling the producer's errors (rethrown as
   * they are) from the file system's (no-space or fatal).
   */
  private async streamSnapshot(
    name: string,
    metadata: SnapshotMetadata,
    chunks: Chunks,
  ): Promise<void> {
    const tmpName = this.tempName(name);
    const tmp = join(this.snapDir, tmpName);
    let w: SnapshotFileWriter;
    try {
      w = await SnapshotFileWriter.create(this.fs, this.snapDir, name, tmpName, metadata);
    } catch (err) {
      await unlinkIfExists(this.fs, tmp).catch(() => {});
      throw this.noSpaceOrFail(err, tmp, "write snapshot");
    }
    const it = iterate(chunks);
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await it.next();
        } catch (err) {
          await w.abort();
          throw new ProducerError(err);
        }
        if (next.done) break;
        await w.write(next.value);
      }
      await w.finish();
    } catch (err) {
      if (err instanceof ProducerError) throw err.cause;
      await w.abort();
      await it.return?.();
      throw this.noSpaceOrFail(err, tmp, "write snapshot");
    }
    await this.syncDirOrFail(this.snapDir);
    this.snapFiles.add(name);
  }

  /**
   * One chunk of WAL bytes. First the space it needs is allocated (a retryable no-space point:
   * undone on failure); from the first record byte on, every failure is fatal.
   */
  private async writeSegment(w: PendingWrite): Promise<void> {
    const seg = w.segment;
    const end = seg.size + w.bytes.length;
    let fh = this.fh;
    let tmp = "";
    if (w.create) {
      tmp = w.create === "spare" ? this.sparePath : this.nextPath;
      fh = await this.openTemp(tmp, w.create === "spare" ? seg.allocated : 0, end);
      seg.allocated = Math.max(seg.allocated, end);
    } else if (end > seg.allocated) {
      await this.allocate(fh as FileHandle, seg.path, seg.allocated, end);
      seg.allocated = end;
    }
    const handle = fh as FileHandle;
    let path = seg.path;
    let op = "seal previous segment";
    try {
      if (w.create) {
        await this.sealPrevious();
        await this.fh?.close();
        this.fh = handle;
        path = tmp;
      }
      op = "write";
      // Written synchronously: copying a batch (kilobytes) into the page cache takes
      // microseconds, less than handing it to libuv's thread pool and back, which under CPU
      // contention also costs a context switch per batch. The datasync that follows is what
      // takes time, and it stays off the event loop.
      handle.writeSync(w.bytes, seg.size);
      seg.size = end;
      op = "datasync";
      await handle.datasync();
      if (w.create) {
        // Header and records are durable before the file takes a segment's name: a crash in
        // between leaves only a temp file, which open() deletes.
        op = "rename";
        await this.fs.rename(tmp, seg.path);
        path = seg.path;
        if (w.create === "spare") this.spare = "none";
        op = "sync directory";
        path = this.walDir;
        await this.fs.syncDir(this.walDir); // the new name must be durable too
        this.segments.push(seg);
      }
    } catch (err) {
      throw this.fail(err, path, op);
    }
  }

  /**
   * Opens the temp file a new segment is written in (the spare, `allocated` bytes of zeros
   * already, or a new file) with `end` bytes allocated. No-space is retryable: a new file is
   * removed again, a spare cut back to its size.
   */
  private async openTemp(path: string, allocated: number, end: number): Promise<FileHandle> {
    let fh: FileHandle;
    try {
      fh = await this.fs.open(path, allocated > 0 ? "r+" : "w");
    } catch (err) {
      throw this.noSpaceOrFail(err, path, "create segment");
    }
    try {
      if (end > allocated) await this.allocate(fh, path, allocated, end);
      return fh;
    } catch (err) {
      await fh.close().catch(() => {});
      if (allocated === 0) await unlinkIfExists(this.fs, path).catch(() => {});
      throw err;
    }
  }

  /**
   * Allocates bytes [from, end) of the file by writing zeros there (see the header: the records
   * then overwrite allocated space). On ENOSPC the file is cut back to `from` and the error is
   * StorageNoSpaceError; any other error is fatal.
   */
  private async allocate(fh: FileHandle, path: string, from: number, end: number): Promise<void> {
    try {
      for (let off = from; off < end; off += ZEROS.length) {
        fh.writeSync(ZEROS.subarray(0, Math.min(ZEROS.length, end - off)), off);
      }
    } catch (err) {
      if (errorCode(err) !== "ENOSPC") throw this.fail(err, path, "allocate");
      try {
        await fh.truncate(from);
      } catch (undo) {
        throw this.fail(undo, path, "truncate");
      }
      throw new StorageNoSpaceError(path, err);
    }
  }

  /**
   * Cuts the zero-filled rest off the newest segment on disk before a new segment follows it:
   * only the last segment may end in zeros (wal-reader.ts), and the new one is named only after
   * this is durable.
   */
  private async sealPrevious(): Promise<void> {
    const prev = this.segments.at(-1);
    if (!prev || !this.fh || prev.allocated <= prev.size) return;
    await this.fh.truncate(prev.size);
    await this.fh.datasync();
    prev.allocated = prev.size;
  }

  /**
   * Starts zero-filling the spare segment in the background once the active segment holds 1/64
   * of segmentSize (a store that writes little never pays for it). A full disk only postpones
   * it; another I/O error turns preallocation off.
   */
  private maybeFillSpare(): void {
    if (this.spare !== "none" || this.closed || this.failed) return;
    const after = this.spareAfter.seq === this.active.seq ? this.spareAfter.size : 0;
    if (this.active.size < Math.max(after, this.segmentSize / 64)) return;
    this.spare = "filling";
    this.filling = this.fillSpare().then(
      () => {
        if (this.spare === "filling") this.spare = this.closed ? "none" : "ready";
      },
      async (err: unknown) => {
        if (errorCode(err) !== "ENOSPC") {
          this.spare = "off";
          return;
        }
        // Give the space back, and try again once the segment has grown another 1/64.
        await unlinkIfExists(this.fs, this.sparePath).catch(() => {});
        this.spareAfter = { seq: this.active.seq, size: this.active.size + this.segmentSize / 64 };
        this.spare = "none";
      },
    );
  }

  private async fillSpare(): Promise<void> {
    const fh = await this.fs.open(this.sparePath, "w");
    try {
      const step = Math.min(ZEROS.length, this.segmentSize);
      for (let off = 0; off < this.segmentSize && !this.closed; off += step) {
        await fh.write(ZEROS.subarray(0, Math.min(step, this.segmentSize - off)), off);
        // Flushed as it goes: one sync of the whole 64 MiB at the end kept the disk busy for
        // ~70 ms, and the WAL's own syncs (every member's, on a shared disk) waited behind it.
        if ((off / step) % SPARE_SYNC_EVERY === SPARE_SYNC_EVERY - 1) await fh.datasync();
      }
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  /**
   * Once `snapshot`'s marker is durable: deletes older snapshot files, and every segment whose
   * live entries it covers. Segment k is covered when segment k+1 started at or below
   * snapshot.index + 1 (k's entries past that point had been truncated before the roll); k+1
   * restates the hard state.
   *
   * Kept: `snapshot`'s file, prepared ones, and every file of a newer snapshot: write() may have
   * queued its marker while this flush ran (no longer "prepared" then), and once that marker is
   * durable recovery needs the file. No marker older than a durable one can be the one recovery
   * ends on, so an older file is garbage.
   */
  private async compact(snapshot: SnapshotMetadata): Promise<void> {
    const name = nameOf(snapshot);
    if (name !== this.compactedFor) {
      const keep = (n: string) =>
        n === name || this.prepared.has(n) || (parseSnapshotName(n)?.index ?? 0) > snapshot.index;
      for (const removed of await removeSnapshotsExcept(this.fs, this.snapDir, keep)) {
        this.snapFiles.delete(removed);
      }
      this.compactedFor = name;
    }
    while (
      this.segments.length >= 2 &&
      (this.segments[1] as SegmentFile).firstIndex - 1 <= snapshot.index
    ) {
      await this.fs.unlink((this.segments[0] as SegmentFile).path);
      // Oldest first, each durable before the next, so the WAL on disk never has a hole.
      await this.fs.syncDir(this.walDir);
      this.segments.shift();
    }
  }

  private roll(): void {
    // The active segment's file exists unless bytes for it are pending: nothing else to flush.
    if (this.enc.size > 0) {
      this.queue.push({ segment: this.active, create: this.activeCreate, bytes: this.enc.take() });
    }
    this.activeCreate = false;
    this.active = this.newSegment(this.active.seq + 1, lastIndex(this.log) + 1);
    if (this.spare === "ready") {
      this.spare = "taken";
      this.activeCreate = "spare";
      this.active.allocated = this.segmentSize;
    }
    this.writeStateBatch();
  }

  /** Starts segment `seq` in the pending chunk: its header now, its file at the next flush. */
  private newSegment(seq: number, firstIndex: number): SegmentFile {
    const header = encodeSegmentHeader(seq, firstIndex, this.enc.crc);
    this.activeCreate = "file";
    this.activeHasData = false;
    this.enc.appendRaw(header.bytes);
    this.enc.crc = header.hcrc;
    const path = join(this.walDir, segmentName(seq, firstIndex));
    return { seq, firstIndex, path, size: 0, allocated: 0 };
  }

  /** The batch every segment opens with: the current snapshot marker and hard state. */
  private writeStateBatch(): void {
    const snap = this.log.snapshot;
    if (snap)
      this.enc.append(RecordKind.Snapshot, false, encodeSnapshotMarker(snap.metadata, true));
    this.enc.append(RecordKind.HardState, true, encodeHardState(this.log.hardState));
  }

  /**
   * A temp name for snapshot file `name`, unique in this store: a prepareSnapshot and a flush
   * may write the same snapshot at once (a local one and the leader's, same index and term).
   */
  private tempName(name: string): string {
    return `${name}.${++this.temps}.tmp`;
  }

  private async syncDirOrFail(dir: string): Promise<void> {
    try {
      await this.fs.syncDir(dir);
    } catch (err) {
      throw this.fail(err, dir, "sync directory");
    }
  }

  /** ENOSPC while nothing of the WAL is written: retryable. Anything else: fatal. */
  private noSpaceOrFail(err: unknown, path: string, op: string): Error {
    if (err instanceof StorageFailedError || err instanceof StorageNoSpaceError) return err;
    if (errorCode(err) === "ENOSPC") return new StorageNoSpaceError(path, err);
    return this.fail(err, path, op);
  }

  /** Enters the failed state (once: the first failure is the one every later call reports). */
  private fail(err: unknown, path: string, op: string): StorageFailedError {
    if (!this.failed) {
      this.failed =
        err instanceof StorageFailedError ? err : new StorageFailedError(this.dir, path, op, err);
    }
    return this.failed;
  }

  private checkUsable(): void {
    if (this.closed) throw new Error(`FileStorage ${this.dir}: used after close()`);
    if (this.failed) throw this.failed;
  }
}

/** Thrown inside streamSnapshot to carry the producer's own error past the I/O handling. */
class ProducerError {
  constructor(readonly cause: unknown) {}
}

function iterate(chunks: Chunks): AsyncIterator<Uint8Array> | Iterator<Uint8Array> {
  return Symbol.asyncIterator in chunks
    ? chunks[Symbol.asyncIterator]()
    : (chunks as Iterable<Uint8Array>)[Symbol.iterator]();
}

interface RecoveredState {
  hardState: PersistedState["hardState"];
  /** The snapshot the WAL names, as its file's header states it (data read by load()). */
  snapshot: SnapshotMetadata | null;
  entries: PersistedState["entries"];
  wal: RecoveredWal | null;
}

/** Reads the WAL, and checks the header of the snapshot file it names. */
async function readState(
  fs: FileSystem,
  dir: string,
  repairs: string[] | null,
): Promise<RecoveredState> {
  const wal = await recoverWal(fs, join(dir, "wal"), repairs);
  if (!wal) return { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: null, entries: [], wal };
  let snapshot = null;
  if (wal.snapshot) {
    const path = join(dir, "snap", nameOf(wal.snapshot));
    const reader = await openSnapshotFile(fs, path);
    await reader.close();
    snapshot = reader.metadata;
    if (snapshot.index !== wal.snapshot.index || snapshot.term !== wal.snapshot.term) {
      throw new StorageCorruptionError(path, 0, "snapshot file does not match its name");
    }
  }
  return { hardState: wal.hardState, snapshot, entries: wal.entries, wal };
}

/** Reads the whole file through its checks, keeping nothing. */
async function verifySnapshotFile(fs: FileSystem, path: string): Promise<void> {
  const chunks = (await openSnapshotFile(fs, path)).chunks();
  while (!(await chunks.next()).done);
}

function nameOf(m: SnapshotMetadata): string {
  return snapshotName(m.term, m.index);
}

function syscallOf(err: unknown): string {
  const syscall = (err as { syscall?: unknown } | null)?.syscall;
  return typeof syscall === "string" ? syscall : "flush";
}

/** Deletes the files of `dir` whose name `doomed` accepts; returns their names. */
async function removeFiles(
  fs: FileSystem,
  dir: string,
  doomed: (name: string) => boolean,
): Promise<string[]> {
  const removed: string[] = [];
  for (const name of (await fs.readdir(dir)).sort()) {
    if (!doomed(name)) continue;
    await fs.unlink(join(dir, name));
    removed.push(name);
  }
  return removed;
}

/**
 * Deletes snapshot files, and temp files of interrupted writes, except those `keep` accepts (a
 * temp file is kept with the snapshot it becomes).
 */
function removeSnapshotsExcept(
  fs: FileSystem,
  snapDir: string,
  keep: (snapName: string) => boolean,
): Promise<string[]> {
  return removeFiles(fs, snapDir, (name) => {
    const snapName = name.replace(/(\.\d+)?\.tmp$/, ""); // <name>.<n>.tmp (older: <name>.tmp)
    return (name.endsWith(".snap") || name.endsWith(".tmp")) && !keep(snapName);
  });
}
