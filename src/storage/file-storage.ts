// FileStorage: the Storage contract on disk, for real nodes. A segmented write-ahead log with a
// chained CRC per record (format: wal-format.ts), snapshot files written atomically
// (snap-files.ts), recovery that repairs only what a crash can do (wal-reader.ts,
// wal-recovery.ts), and a lock file (lock.ts).
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

import { writeSync } from "node:fs";
import { type FileHandle, mkdir, open, readdir, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { PersistedState } from "../raft/api.js";
import { copyConf, type Snapshot, type SnapshotMetadata } from "../raft/types.js";
import { StorageCorruptionError } from "./errors.js";
import { acquireLock, type DirLock } from "./lock.js";
import { applyBatch, type IndexTerm, type LogState, lastIndex } from "./log-state.js";
import {
  encodeSnapshotFile,
  readSnapshotFile,
  snapshotName,
  writeSnapshotFile,
} from "./snap-files.js";
import type { Storage, WriteBatch } from "./storage.js";
import {
  encodeEntries,
  encodeHardState,
  encodeSegmentHeader,
  encodeSnapshotMarker,
  RecordEncoder,
  RecordKind,
  segmentName,
} from "./wal-format.js";
import { recoverWal, type SegmentFile } from "./wal-recovery.js";

export interface FileStorageOptions {
  /** Start a new WAL segment once the current one holds this many bytes. Default 64 MiB. */
  segmentSize?: number;
  /** Zero-fill segments ahead of need (see the header). Default true. */
  preallocate?: boolean;
}

export const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;

/** Bytes queued for one segment file, written by the next flush. */
interface PendingWrite {
  segment: SegmentFile;
  /**
   * The file does not exist yet: create it ("file") or take the zero-filled spare ("spare"),
   * and fsync the directory after the first write.
   */
  create: Creation;
  bytes: Buffer;
}

type Creation = false | "file" | "spare";

/** The spare is zero-filled in 1 MiB writes, with a sync after every this many. */
const SPARE_SYNC_EVERY = 4;
/** Name of the spare segment file in wal/ (never parsed as a segment: see parseSegmentName). */
const SPARE_NAME = "spare.wal.tmp";

type Tracker = LogState<IndexTerm, { metadata: SnapshotMetadata }>;

export class FileStorage implements Storage {
  private readonly walDir: string;
  private readonly sparePath: string;
  private readonly snapDir: string;
  /** Open handle of the newest segment on disk. */
  private fh: FileHandle | null = null;
  /** Segments on disk, oldest first. */
  private readonly segments: SegmentFile[];
  /** The segment new records go to (maybe not created yet). */
  private active: SegmentFile;
  private activeCreate: Creation = false;
  /** The preallocated spare segment: "off" after a failure to fill it (it is only a speedup). */
  private spare: "none" | "filling" | "ready" | "taken" | "off" = "none";
  private filling: Promise<void> = Promise.resolve();
  /** Whether the active segment holds a batch besides its opening state batch. */
  private activeHasData = false;
  private readonly enc: RecordEncoder;
  /** Chunks of segments rolled over since the last flush. */
  private sealed: PendingWrite[] = [];
  private pendingSnaps: { name: string; parts: Buffer[] }[] = [];
  /**
   * Snapshot files of prepareSnapshot whose marker is not in the WAL yet: true once durable,
   * false while being written (compaction must not delete those either).
   */
  private readonly prepared = new Map<string, boolean>();
  /** The prepareSnapshot in progress (settled promise when idle): one at a time. */
  private preparing: Promise<void> = Promise.resolve();
  /** The snapshot whose older files and covered segments are already deleted. */
  private compactedFor = "";
  private recovered: PersistedState | null;
  private failed: Error | null = null;
  private closed = false;
  /** The flush in progress (settled promise when idle) and the one queued behind it. */
  private inflight: Promise<void> = Promise.resolve();
  private queued: Promise<void> | null = null;
  /** What open() had to repair after a crash (torn tail, unwritten segment, orphan snapshots): for the log. */
  readonly repairs: readonly string[];

  private constructor(
    readonly dir: string,
    private readonly segmentSize: number,
    preallocate: boolean,
    private readonly lock: DirLock,
    private readonly log: Tracker,
    recovered: PersistedState,
    segments: SegmentFile[],
    crc: number,
    repairs: string[],
  ) {
    this.repairs = repairs;
    this.walDir = join(dir, "wal");
    this.sparePath = join(this.walDir, SPARE_NAME);
    this.snapDir = join(dir, "snap");
    this.recovered = recovered;
    this.segments = segments;
    this.enc = new RecordEncoder(crc);
    if (!preallocate) this.spare = "off";
    const last = segments.at(-1);
    this.active = last ?? this.newSegment(0, 1);
  }

  /**
   * Opens (creating if needed) the data directory `dir`, takes its lock and recovers the log.
   * Throws StorageLockedError if another live process holds `dir`, StorageCorruptionError if the
   * data is damaged in a way no crash can explain.
   */
  static async open(dir: string, opts: FileStorageOptions = {}): Promise<FileStorage> {
    const segmentSize = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    if (!Number.isSafeInteger(segmentSize) || segmentSize < 4096) {
      throw new RangeError(
        `FileStorage: segmentSize must be an integer >= 4096, got ${segmentSize}`,
      );
    }
    await mkdir(join(dir, "wal"), { recursive: true });
    await mkdir(join(dir, "snap"), { recursive: true });
    await fsyncDir(dir); // the subdirectories' entries must survive a crash too
    const lock = await acquireLock(dir);
    try {
      const repairs: string[] = [];
      const { state, wal } = await readState(dir, repairs);
      const current = state.snapshot && nameOf(state.snapshot.metadata);
      const orphans = await removeSnapshotsExcept(join(dir, "snap"), (n) => n === current);
      if (orphans.length > 0)
        repairs.push(`removed unreferenced snapshot files ${orphans.join(", ")}`);
      const log: Tracker = {
        // Copies: the caller owns what load() returns and may mutate it.
        hardState: { ...state.hardState },
        snapshot: state.snapshot && { metadata: copyMetadata(state.snapshot.metadata) },
        entries: state.entries.map((e) => ({ index: e.index, term: e.term })),
      };
      const s = new FileStorage(
        dir,
        segmentSize,
        opts.preallocate ?? true,
        lock,
        log,
        state,
        wal?.segments ?? [],
        wal?.crc ?? 0,
        repairs,
      );
      await rm(s.sparePath, { force: true }); // a spare of an earlier run: maybe not all zero
      if (s.active.size > 0) s.fh = await open(s.active.path, "r+");
      // Every segment must open with a state batch (see wal-format.ts); a new store, or a crash
      // that tore the one a roll had just written, leaves the last segment without it.
      if (!wal?.lastHasBatch) {
        s.writeStateBatch();
        await s.sync();
      }
      return s;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /**
   * The first call returns what open() recovered. Later calls re-read the disk and return the
   * synced state (batches written but not synced yet are not included).
   */
  async load(): Promise<PersistedState> {
    this.checkUsable();
    const r = this.recovered;
    if (r) {
      this.recovered = null; // do not keep the whole log in memory for the node's lifetime
      return r;
    }
    await this.inflight;
    return (await readState(this.dir, null)).state;
  }

  write(batch: WriteBatch): void {
    this.checkUsable();
    const full = this.activeHasData && this.active.size + this.enc.size >= this.segmentSize;
    // A segment that grows without preallocation gives way to the spare as soon as it is ready.
    if (full || (this.spare === "ready" && this.active.allocated < this.segmentSize)) this.roll();
    const snap = batch.snapshot;
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
    const name = snap && nameOf(snap.metadata);
    if (snap && name && (outcome === "kept-log" || outcome === "dropped-log")) {
      const marker = encodeSnapshotMarker(snap.metadata, outcome === "kept-log");
      records.push([RecordKind.Snapshot, marker]);
      // A prepared file is durable already; otherwise the flush writes it before the marker.
      // The copy keeps the caller free to reuse its buffer once write() returns.
      if (this.prepared.get(name) !== true) {
        const data = Buffer.from(snap.data);
        this.pendingSnaps.push({ name, parts: encodeSnapshotFile({ ...snap, data }) });
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
   * snap.data before the promise settles.
   */
  prepareSnapshot(snap: Snapshot): Promise<void> {
    try {
      this.checkUsable();
    } catch (err) {
      return Promise.reject(err);
    }
    const name = nameOf(snap.metadata);
    const done = this.preparing.then(async () => {
      this.prepared.set(name, false);
      try {
        await writeSnapshotFile(this.snapDir, name, encodeSnapshotFile(snap));
        await fsyncDir(this.snapDir);
        if (this.prepared.has(name)) this.prepared.set(name, true);
      } catch (err) {
        this.prepared.delete(name);
        throw err;
      }
    });
    this.preparing = done.catch(() => {});
    return done;
  }

  /** Makes every batch written so far durable. Concurrent calls share flushes (group commit). */
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

  /** Waits for requested syncs, then releases the files and the lock. Unsynced batches are lost. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inflight;
    await this.preparing;
    await this.filling;
    this.sealed = [];
    this.pendingSnaps = [];
    this.enc.take();
    await this.fh?.close();
    this.fh = null;
    await this.lock.release();
  }

  private async flush(): Promise<void> {
    if (this.failed) throw this.failed;
    const writes = this.sealed;
    this.sealed = [];
    if (this.enc.size > 0) {
      writes.push({ segment: this.active, create: this.activeCreate, bytes: this.enc.take() });
      this.activeCreate = false;
    }
    const snaps = this.pendingSnaps;
    this.pendingSnaps = [];
    const snapshot = this.log.snapshot?.metadata ?? null;
    try {
      // Snapshot files first: a durable marker in the WAL must never name a missing file.
      for (const s of snaps) await writeSnapshotFile(this.snapDir, s.name, s.parts);
      if (snaps.length > 0) await fsyncDir(this.snapDir);
      for (const w of writes) await this.writeSegment(w);
      if (snapshot) await this.compact(snapshot);
      this.maybeFillSpare();
    } catch (err) {
      // After a failed write or fsync the file's state is unknown (the kernel may already have
      // dropped the dirty pages), so nothing written later could be trusted: fail for good.
      this.failed = new Error(`FileStorage ${this.dir}: write failed, storage unusable: ${err}`, {
        cause: err,
      });
      throw this.failed;
    }
  }

  private async writeSegment(w: PendingWrite): Promise<void> {
    if (w.create) {
      await this.sealPrevious();
      await this.fh?.close();
      this.fh = null;
      this.fh = await open(
        w.create === "spare" ? this.sparePath : w.segment.path,
        w.create === "spare" ? "r+" : "wx",
      );
    }
    const fh = this.fh as FileHandle;
    // Written synchronously: copying a batch (kilobytes) into the page cache takes microseconds,
    // less than handing it to libuv's thread pool and back, which under CPU contention also
    // costs a context switch per batch. The datasync that follows is what takes time, and it
    // stays off the event loop.
    writeAllSync(fh.fd, w.bytes, w.segment.size);
    w.segment.size += w.bytes.length;
    w.segment.allocated = Math.max(w.segment.allocated, w.segment.size);
    await fh.datasync();
    if (w.create === "spare") {
      // Header and records are durable before the file takes a segment's name: a crash in
      // between leaves only a spare, which open() deletes.
      await rename(this.sparePath, w.segment.path);
      this.spare = "none";
    }
    if (w.create) {
      await fsyncDir(this.walDir); // the new file's directory entry must be durable too
      this.segments.push(w.segment);
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
   * of segmentSize (a store that writes little never pays for it). Failure only turns
   * preallocation off.
   */
  private maybeFillSpare(): void {
    if (this.spare !== "none" || this.closed || this.failed) return;
    if (this.active.size < this.segmentSize / 64) return;
    this.spare = "filling";
    this.filling = this.fillSpare().then(
      () => {
        if (this.spare === "filling") this.spare = this.closed ? "none" : "ready";
      },
      () => {
        this.spare = "off";
      },
    );
  }

  private async fillSpare(): Promise<void> {
    const fh = await open(this.sparePath, "w");
    try {
      const zeros = Buffer.alloc(Math.min(1 << 20, this.segmentSize));
      for (let off = 0; off < this.segmentSize && !this.closed; off += zeros.length) {
        await writeAll(fh, zeros.subarray(0, Math.min(zeros.length, this.segmentSize - off)), off);
        // Flushed as it goes: one sync of the whole 64 MiB at the end kept the disk busy for
        // ~70 ms, and the WAL's own syncs (every member's, on a shared disk) waited behind it.
        if ((off / zeros.length) % SPARE_SYNC_EVERY === SPARE_SYNC_EVERY - 1) await fh.datasync();
      }
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  /**
   * Once `snapshot` is durable: deletes older snapshot files, and every segment whose live entries
   * it covers. Segment k is covered when segment k+1 started at or below snapshot.index + 1 (k's
   * entries past that point had been truncated before the roll); k+1 restates the hard state.
   */
  private async compact(snapshot: SnapshotMetadata): Promise<void> {
    const name = nameOf(snapshot);
    if (name !== this.compactedFor) {
      await removeSnapshotsExcept(this.snapDir, (n) => n === name || this.prepared.has(n));
      this.compactedFor = name;
    }
    while (
      this.segments.length >= 2 &&
      (this.segments[1] as SegmentFile).firstIndex - 1 <= snapshot.index
    ) {
      await unlink((this.segments[0] as SegmentFile).path);
      // Oldest first, each durable before the next, so the WAL on disk never has a hole.
      await fsyncDir(this.walDir);
      this.segments.shift();
    }
  }

  private roll(): void {
    this.sealed.push({ segment: this.active, create: this.activeCreate, bytes: this.enc.take() });
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

  private checkUsable(): void {
    if (this.closed) throw new Error(`FileStorage ${this.dir}: used after close()`);
    if (this.failed) throw this.failed;
  }
}

/** Reads the WAL and the snapshot file it names. */
async function readState(
  dir: string,
  repairs: string[] | null,
): Promise<{ state: PersistedState; wal: Awaited<ReturnType<typeof recoverWal>> }> {
  const wal = await recoverWal(join(dir, "wal"), repairs);
  if (!wal) {
    return {
      state: { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: null, entries: [] },
      wal,
    };
  }
  let snapshot = null;
  if (wal.snapshot) {
    const path = join(dir, "snap", nameOf(wal.snapshot));
    snapshot = await readSnapshotFile(path);
    const { index, term } = snapshot.metadata;
    if (index !== wal.snapshot.index || term !== wal.snapshot.term) {
      throw new StorageCorruptionError(path, 0, "snapshot file does not match its name");
    }
  }
  return { state: { hardState: wal.hardState, snapshot, entries: wal.entries }, wal };
}

function nameOf(m: SnapshotMetadata): string {
  return snapshotName(m.term, m.index);
}

function copyMetadata(m: SnapshotMetadata): SnapshotMetadata {
  return { index: m.index, term: m.term, conf: copyConf(m.conf) };
}

/**
 * Deletes snapshot files, and temp files of interrupted writes, except those `keep` accepts (a
 * temp file is kept with the snapshot it becomes).
 */
async function removeSnapshotsExcept(
  snapDir: string,
  keep: (snapName: string) => boolean,
): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(snapDir)) {
    const snapName = name.endsWith(".tmp") ? name.slice(0, -4) : name;
    if (!keep(snapName) && (name.endsWith(".snap") || name.endsWith(".tmp"))) {
      await unlink(join(snapDir, name));
      removed.push(name);
    }
  }
  return removed;
}

async function writeAll(fh: FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let off = 0; off < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, off, bytes.length - off, position + off);
    off += bytesWritten;
  }
}

function writeAllSync(fd: number, bytes: Buffer, position: number): void {
  for (let off = 0; off < bytes.length; ) {
    off += writeSync(fd, bytes, off, bytes.length - off, position + off);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
