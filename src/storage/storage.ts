// Stable storage for one Raft node. One interface, two adapters (MemoryStorage for the simulator
// and tests, FileStorage for real nodes), one shared conformance suite (test/storage/suite.ts).
//
// Durability model (what a crash keeps):
//   write(batch)  buffers the batch; it is NOT durable yet. Batches are applied in call order.
//   sync()        makes every batch written so far durable (one fsync: group commit).
//   A crash keeps every synced batch intact and may keep some prefix of the unsynced ones; the
//   first unsynced batch may be torn (partially present). load() after a crash returns a state
//   that is exactly the result of applying some prefix of the batches, never a torn batch.

import type { PersistedState } from "../raft/api.js";
import type { Entry, HardState, Snapshot } from "../raft/types.js";

export interface WriteBatch {
  /**
   * A snapshot to install: replaces any older snapshot and drops every log entry with
   * index <= snapshot.metadata.index (and the whole log if the entry at that index has another
   * term). Applied before `entries` and `hardState`. A snapshot older than the stored one is ignored.
   */
  snapshot?: Snapshot;
  /**
   * Entries to append. If entries[0].index <= the last stored index, stored entries from
   * entries[0].index on are dropped first (the core decided they conflict).
   */
  entries?: Entry[];
  hardState?: HardState;
}

export interface Storage {
  /** Reads everything back. Called once at start (or after a simulated crash). */
  load(): PersistedState | Promise<PersistedState>;
  /** Buffer a batch (see the durability model above). */
  write(batch: WriteBatch): void | Promise<void>;
  /** Make every written batch durable. */
  sync(): void | Promise<void>;
  /**
   * Optional: make `snapshot`'s data durable ahead of the write() that installs it, so that
   * write's sync has only a small record to add (FileStorage writes and fsyncs the snapshot file
   * here, off the log's flush path). Changes nothing load() returns: until a write() installs
   * the snapshot and a sync() follows, a crash leaves the store as if this was never called.
   */
  prepareSnapshot?(snapshot: Snapshot): Promise<void>;
  /** Release files/handles. The storage is unusable afterwards. */
  close(): void | Promise<void>;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };
