// Stable storage for one Raft node. One interface, two adapters (MemoryStorage for the simulator
// and tests, FileStorage for real nodes), one shared conformance suite (test/storage/suite.ts).
//
// Durability model (what a crash keeps):
//   write(batch)  buffers the batch; it is NOT durable yet. Batches are applied in call order.
//   sync()        makes every batch written so far durable (one fsync: group commit).
//   A crash keeps every synced batch intact and may keep some prefix of the unsynced ones; the
//   first unsynced batch may be torn (partially present). load() after a crash returns a state
//   that is exactly the result of applying some prefix of the batches, never a torn batch.
//
// Snapshot data can be large, so it can travel as a sequence of chunks and never as one buffer:
// prepareSnapshotStream() stores it from chunks, a write() naming only its metadata installs it,
// load({ snapshotData: false }) leaves it out, and readSnapshot() reads it back in chunks.
// Adapters may rely on Raft's state machine safety: two snapshots with the same index and term
// hold the same data (FileStorage names snapshot files by index and term alone).

import type { PersistedState } from "../raft/api.js";
import type { Entry, HardState, Snapshot, SnapshotMetadata } from "../raft/types.js";

/**
 * A snapshot whose data the storage holds already (prepareSnapshot or prepareSnapshotStream
 * completed for these metadata): its metadata alone installs it.
 */
export interface SnapshotRef {
  metadata: SnapshotMetadata;
  data?: undefined;
}

export interface WriteBatch {
  /**
   * A snapshot to install: replaces any older snapshot and drops every log entry with
   * index <= snapshot.metadata.index (and the whole log if the entry at that index has another
   * term). Applied before `entries` and `hardState`. A snapshot older than the stored one is
   * ignored. Without `data` it must have been prepared (write() throws otherwise).
   */
  snapshot?: Snapshot | SnapshotRef;
  /**
   * Entries to append. If entries[0].index <= the last stored index, stored entries from
   * entries[0].index on are dropped first (the core decided they conflict).
   */
  entries?: Entry[];
  hardState?: HardState;
}

/** Snapshot data as a chunk sequence (a sync iterable such as an array works too). */
export type Chunks = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface LoadOptions {
  /**
   * Whether the snapshot's data comes back in `snapshot.data` (default true). With false,
   * `snapshot.data` is empty and the caller streams the data with readSnapshot(); the data is
   * still verified before load() returns, so a damaged snapshot is found at start.
   */
  snapshotData?: boolean;
}

export interface Storage {
  /** Reads everything back. Called once at start (or after a simulated crash). */
  load(options?: LoadOptions): PersistedState | Promise<PersistedState>;
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
  /**
   * Optional: prepareSnapshot from a chunk sequence, never holding the data as one buffer. If
   * `chunks` throws, the partial data is discarded and its error rethrown; the store is as
   * before. Each chunk may be reused by the producer once the next one is requested.
   */
  prepareSnapshotStream?(metadata: SnapshotMetadata, chunks: Chunks): Promise<void>;
  /**
   * Optional: the data of a stored snapshot (the installed one once synced, or a prepared one),
   * as verified chunks the caller owns. Throws if no such snapshot is stored.
   */
  readSnapshot?(metadata: SnapshotMetadata): AsyncIterable<Uint8Array>;
  /** Release files/handles. The storage is unusable afterwards. */
  close(): void | Promise<void>;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };
