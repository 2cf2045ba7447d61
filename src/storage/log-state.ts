// The meaning of a WriteBatch, written once and shared: MemoryStorage keeps its whole state with
// it, FileStorage tracks index/term pairs with it (to know its last index and whether a snapshot
// kept the log). Generic over the entry and snapshot shapes so each caller keeps only what it
// needs.

import { copyConf, type HardState, type SnapshotMetadata } from "../raft/types.js";
import { EMPTY_HARD_STATE } from "./storage.js";

export interface IndexTerm {
  index: number;
  term: number;
}

export interface LogState<E extends IndexTerm, S extends { metadata: SnapshotMetadata }> {
  hardState: HardState;
  snapshot: S | null;
  /** Contiguous entries after the snapshot: entries[i].index === snapshotIndex + 1 + i. */
  entries: E[];
}

export interface Batch<E, S> {
  snapshot?: S;
  entries?: E[];
  hardState?: HardState;
}

/** What applying a batch did with its snapshot; FileStorage records it in the WAL. */
export type SnapshotOutcome = "none" | "ignored" | "kept-log" | "dropped-log";

export function emptyLogState<
  E extends IndexTerm,
  S extends { metadata: SnapshotMetadata },
>(): LogState<E, S> {
  return { hardState: { ...EMPTY_HARD_STATE }, snapshot: null, entries: [] };
}

/** A deep copy: stored metadata must not alias the caller's. */
export function copyMetadata(m: SnapshotMetadata): SnapshotMetadata {
  return { index: m.index, term: m.term, conf: copyConf(m.conf) };
}

export function snapshotIndex(s: LogState<IndexTerm, { metadata: SnapshotMetadata }>): number {
  return s.snapshot?.metadata.index ?? 0;
}

export function lastIndex(s: LogState<IndexTerm, { metadata: SnapshotMetadata }>): number {
  return snapshotIndex(s) + s.entries.length;
}

/**
 * Applies one batch in the order the Storage contract fixes: snapshot, then entries, then hard
 * state. Mutates `state` (it keeps references to the batch's objects: callers copy first if they
 * must). A batch the Raft core can never produce (a gap in the log) throws before anything
 * changes: that is a bug in the caller, not a storage condition.
 */
export function applyBatch<E extends IndexTerm, S extends { metadata: SnapshotMetadata }>(
  state: LogState<E, S>,
  batch: Batch<E, S>,
): SnapshotOutcome {
  checkNumbers(batch);
  const outcome = batch.snapshot ? snapshotOutcome(state, batch.snapshot) : "none";
  const base =
    outcome === "none" || outcome === "ignored"
      ? snapshotIndex(state)
      : (batch.snapshot as S).metadata.index;
  const last = outcome === "dropped-log" ? base : Math.max(base, lastIndex(state));
  const append = batch.entries ? entriesAfter(batch.entries, base, last) : [];
  if (outcome === "kept-log" || outcome === "dropped-log") {
    const snap = batch.snapshot as S;
    state.entries = outcome === "kept-log" ? state.entries.slice(base - snapshotIndex(state)) : [];
    state.snapshot = snap;
  }
  if (append.length > 0) {
    // A conflict truncation decided by the core (§5.3): drop our suffix from the first new index.
    state.entries.length = (append[0] as E).index - base - 1;
    for (const e of append) state.entries.push(e);
  }
  if (batch.hardState) state.hardState = batch.hardState;
  return outcome;
}

// Indexes, terms and votes are non-negative safe integers; anything else would be written, then
// rejected as corrupt at the next start. Cheap enough to check on every batch.
function checkNumbers(batch: Batch<IndexTerm, { metadata: SnapshotMetadata }>): void {
  const nat = (what: string, v: number) => {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`storage: invalid ${what}: ${v}`);
  };
  if (batch.hardState) {
    nat("hard state term", batch.hardState.term);
    nat("hard state vote", batch.hardState.vote);
    nat("hard state commit", batch.hardState.commit);
  }
  if (batch.snapshot) {
    nat("snapshot index", batch.snapshot.metadata.index);
    nat("snapshot term", batch.snapshot.metadata.term);
  }
  for (const e of batch.entries ?? []) {
    nat("entry index", e.index);
    nat("entry term", e.term);
  }
}

function snapshotOutcome<E extends IndexTerm, S extends { metadata: SnapshotMetadata }>(
  state: LogState<E, S>,
  snap: S,
): SnapshotOutcome {
  const base = snapshotIndex(state);
  const { index, term } = snap.metadata;
  // An older (or the same) snapshot carries nothing new; installing it could only move the
  // state machine backwards (Raft paper §7: "If the snapshot is older, ignore it").
  if (index <= base) return "ignored";
  // §7: "If existing log entry has same index and term as snapshot's last included entry,
  // retain log entries following it"; otherwise the whole log is discarded.
  return state.entries[index - base - 1]?.term === term ? "kept-log" : "dropped-log";
}

/** The entries of an append that land after `base`, checked to extend a log ending at `last`. */
function entriesAfter<E extends IndexTerm>(entries: E[], base: number, last: number): E[] {
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1] as E;
    if ((entries[i] as E).index !== prev.index + 1) {
      throw new Error(`storage: entries not contiguous after index ${prev.index}`);
    }
  }
  // Entries the snapshot already covers are compacted away; skipping them keeps indexes absolute.
  const from = entries.findIndex((e) => e.index > base);
  if (from < 0) return [];
  const first = (entries[from] as E).index;
  if (first > last + 1) {
    throw new Error(`storage: entries start at ${first} but the log ends at ${last} (gap)`);
  }
  return from === 0 ? entries : entries.slice(from);
}
