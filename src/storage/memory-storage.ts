// MemoryStorage: the Storage contract kept in memory, with the crash semantics of a real disk, for
// the simulator and tests. Every method but the streaming ones is synchronous (the simulator
// calls them without await).
//
// The object plays the disk, not the process: it outlives a node's crash. A node that restarts
// after crash() (or after close()) calls load() on the same instance and reads what "survived".
//
//   write(b)        -> b is copied into `pending` (the page cache: lost on a crash) and checked
//                      by applying it to `written` (so a bad batch throws at write(), as in
//                      FileStorage)
//   sync()          -> every pending batch is applied to `durable` (fsync: survives crashes)
//   crash(random)   -> a random prefix of `pending` reaches the disk, the rest is lost
//   close()         -> a clean stop: unsynced batches were never flushed, so they are dropped
//   load()          -> a copy of `durable`: what a process starting now would read back
//   prepareSnapshot -> the data is kept aside (a durable file no batch names yet) until a
//                      write() installs it by its metadata; a crash or close() drops it, as
//                      FileStorage's open() deletes such orphans

import type { PersistedState, Random } from "../raft/api.js";
import { mutant } from "../raft/mutants.js";
import type { Entry, Snapshot, SnapshotMetadata } from "../raft/types.js";
import { collectChunks } from "./chunks.js";
import { applyBatch, type Batch, copyMetadata, emptyLogState, type LogState } from "./log-state.js";
import { loadedHardState } from "./planted.js";
import type { Chunks, LoadOptions, Storage, WriteBatch } from "./storage.js";

export class MemoryStorage implements Storage {
  private durable: LogState<Entry, Snapshot> = emptyLogState();
  private pending: Batch<Entry, Snapshot>[] = [];
  private written: LogState<Entry, Snapshot> = emptyLogState();
  /** Data of prepared snapshots, by snapshotKey. */
  private prepared = new Map<string, Uint8Array>();
  private closed = false;
  /** The disk-loses-last-fsync mutant (src/raft/mutants.ts): `durable` before the last sync. */
  private beforeLastSync: LogState<Entry, Snapshot> | null = null;

  load(options: LoadOptions = {}): PersistedState {
    this.closed = false;
    const state = this.durable;
    const snap = state.snapshot;
    return {
      hardState: loadedHardState(state.hardState),
      snapshot:
        snap &&
        (options.snapshotData === false
          ? { metadata: copyMetadata(snap.metadata), data: new Uint8Array(0) }
          : copySnapshot(snap)),
      entries: state.entries.map(copyEntry),
    };
  }

  write(batch: WriteBatch): void {
    this.checkOpen();
    // Copied now: the caller may reuse its arrays and buffers once write() returns.
    const copy: Batch<Entry, Snapshot> = {};
    const snap = batch.snapshot;
    if (snap) {
      const key = snapshotKey(snap.metadata);
      const data = snap.data ?? this.prepared.get(key);
      if (!data) throw new Error(`storage: snapshot ${key} carries no data and was not prepared`);
      copy.snapshot = copySnapshot({ metadata: snap.metadata, data });
    }
    if (batch.entries) copy.entries = batch.entries.map(copyEntry);
    if (batch.hardState) copy.hardState = { ...batch.hardState };
    applyBatch(this.written, copy);
    if (snap) this.prepared.delete(snapshotKey(snap.metadata));
    this.pending.push(copy);
  }

  sync(): void {
    this.checkOpen();
    if (this.pending.length > 0 && mutant("disk-loses-last-fsync")) {
      const d = this.durable;
      this.beforeLastSync = {
        hardState: d.hardState,
        snapshot: d.snapshot,
        entries: d.entries.slice(),
      };
    }
    for (const b of this.pending) applyBatch(this.durable, b);
    this.pending = [];
  }

  prepareSnapshot(snapshot: Snapshot): Promise<void> {
    return this.prepareSnapshotStream(snapshot.metadata, [snapshot.data]);
  }

  async prepareSnapshotStream(metadata: SnapshotMetadata, chunks: Chunks): Promise<void> {
    this.checkOpen();
    const data = await collectChunks(chunks);
    this.prepared.set(snapshotKey(metadata), data);
  }

  async *readSnapshot(metadata: SnapshotMetadata): AsyncGenerator<Uint8Array> {
    this.checkOpen();
    const key = snapshotKey(metadata);
    const snap = this.durable.snapshot;
    const data = snap && snapshotKey(snap.metadata) === key ? snap.data : this.prepared.get(key);
    if (!data) throw new Error(`storage: no stored snapshot ${key}`);
    yield data.slice();
  }

  close(): void {
    this.persist(0);
    this.closed = true;
  }

  /**
   * Simulates a crash (power loss, kill -9) of the process using this storage. Synced batches
   * survive; of the unsynced ones, a prefix of random length survives. The batch after that prefix
   * may have been torn half-way through its write: a real WAL detects the torn record by its
   * checksum and discards it whole (FileStorage does), so it is as absent as the batches after it.
   * `random` returns floats in [0, 1) (the simulator's seeded RNG); it is called exactly once.
   * The storage is usable again afterwards: the restarted node calls load().
   */
  crash(random: Random): void {
    const kept = Math.floor(random() * (this.pending.length + 1));
    if (this.beforeLastSync) {
      // A disk that acknowledged its last flush without doing it (mutant only): that batch and
      // everything after it is gone.
      this.durable = this.beforeLastSync;
      this.beforeLastSync = null;
      this.pending = [];
    }
    this.persist(kept);
    this.closed = false;
  }

  /** Makes the first `count` pending batches durable and forgets the rest. */
  private persist(count: number): void {
    for (const b of this.pending.slice(0, count)) applyBatch(this.durable, b);
    this.pending = [];
    this.prepared.clear();
    const d = this.durable;
    this.written = { hardState: d.hardState, snapshot: d.snapshot, entries: d.entries.slice() };
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("MemoryStorage: used after close()");
  }
}

function snapshotKey(m: SnapshotMetadata): string {
  return `${m.term}-${m.index}`;
}

function copyEntry(e: Entry): Entry {
  return { index: e.index, term: e.term, type: e.type, data: e.data.slice() };
}

function copySnapshot(s: Snapshot): Snapshot {
  return { metadata: copyMetadata(s.metadata), data: s.data.slice() };
}
