// MemoryStorage: the Storage contract kept in memory, with the crash semantics of a real disk, for
// the simulator and tests. Every method is synchronous (the simulator calls them without await).
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

import type { PersistedState, Random } from "../raft/api.js";
import { copyConf, type Entry, type Snapshot } from "../raft/types.js";
import { applyBatch, emptyLogState, type LogState } from "./log-state.js";
import type { Storage, WriteBatch } from "./storage.js";

export class MemoryStorage implements Storage {
  private durable: LogState<Entry, Snapshot> = emptyLogState();
  private pending: WriteBatch[] = [];
  private written: LogState<Entry, Snapshot> = emptyLogState();
  private closed = false;

  load(): PersistedState {
    this.closed = false;
    const state = this.durable;
    return {
      hardState: { ...state.hardState },
      snapshot: state.snapshot && copySnapshot(state.snapshot),
      entries: state.entries.map(copyEntry),
    };
  }

  write(batch: WriteBatch): void {
    this.checkOpen();
    // Copied now: the caller may reuse its arrays and buffers once write() returns.
    const copy: WriteBatch = {};
    if (batch.snapshot) copy.snapshot = copySnapshot(batch.snapshot);
    if (batch.entries) copy.entries = batch.entries.map(copyEntry);
    if (batch.hardState) copy.hardState = { ...batch.hardState };
    applyBatch(this.written, copy);
    this.pending.push(copy);
  }

  sync(): void {
    this.checkOpen();
    for (const b of this.pending) applyBatch(this.durable, b);
    this.pending = [];
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
    this.persist(Math.floor(random() * (this.pending.length + 1)));
    this.closed = false;
  }

  /** Makes the first `count` pending batches durable and forgets the rest. */
  private persist(count: number): void {
    for (const b of this.pending.slice(0, count)) applyBatch(this.durable, b);
    this.pending = [];
    const d = this.durable;
    this.written = { hardState: d.hardState, snapshot: d.snapshot, entries: d.entries.slice() };
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("MemoryStorage: used after close()");
  }
}

function copyEntry(e: Entry): Entry {
  return { index: e.index, term: e.term, type: e.type, data: e.data.slice() };
}

function copySnapshot(s: Snapshot): Snapshot {
  const { index, term, conf } = s.metadata;
  return { metadata: { index, term, conf: copyConf(conf) }, data: s.data.slice() };
}
