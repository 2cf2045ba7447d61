// The Raft log as the core sees it: a snapshot offset followed by entries, all in memory, with
// absolute indexes (Raft paper §7: after compaction every access goes through the offset).
//
//   snapshot.index   firstIndex()               stable          lastIndex()
//        |               |                         |                 |
//   ...covered by snap | e  e  e  e  e  e  e  e  e | e  e  e  e  e  e |
//                      |<------ persisted -------->|<-- unstable --->|
//   applied <= committed <= lastIndex; entries up to `stable` were acknowledged by advance().
//
// Unstable entries are handed to the caller in a Ready to persist; advance() moves `stable`.
// A conflict truncation (§5.3) below `stable` pulls it back, and the next Ready re-sends from the
// truncation point, which tells storage to drop its tail (api.ts Ready.entries).

import { mutant } from "./mutants.js";
import type { Entry, Snapshot } from "./types.js";

export class RaftLog {
  /** Index and term of the last entry covered by the snapshot (0/0 for none). */
  private snapIndex = 0;
  private snapTerm = 0;
  /** entries[i].index === snapIndex + 1 + i */
  private entries: Entry[] = [];
  /** The latest snapshot this node holds (from compact() or the leader), to send to followers. */
  snapshot: Snapshot | null = null;
  /** A snapshot received from the leader that the caller has not yet persisted and applied. */
  pendingSnapshot: Snapshot | null = null;
  /** The pendingSnapshot last handed out in a Ready. */
  private handedSnapshot: Snapshot | null = null;
  /** Last index acknowledged as durable by advance(). */
  stable = 0;
  /** Last index handed out in a Ready (persisted or in progress). */
  private handed = 0;
  /** Last index handed out to apply (applied or in progress). */
  private applying = 0;
  committed = 0;
  applied = 0;

  /** Rebuilds the log from stable storage (restart). Everything given is durable. */
  static restore(snapshot: Snapshot | null, entries: readonly Entry[], commit: number): RaftLog {
    const log = new RaftLog();
    if (snapshot !== null) {
      log.snapIndex = snapshot.metadata.index;
      log.snapTerm = snapshot.metadata.term;
      log.snapshot = snapshot;
    }
    let expect = log.snapIndex + 1;
    for (const e of entries) {
      if (e.index !== expect)
        throw new Error(`log: restored entry index ${e.index}, expected ${expect}`);
      expect++;
    }
    log.entries = entries.slice();
    log.stable = log.lastIndex();
    log.handed = log.stable;
    log.committed = Math.max(commit, log.snapIndex);
    if (log.committed > log.lastIndex())
      throw new Error(`log: commit ${commit} beyond last index ${log.lastIndex()}`);
    log.applied = log.snapIndex;
    log.applying = log.snapIndex;
    return log;
  }

  snapshotIndex(): number {
    return this.snapIndex;
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) as number;
  }

  /** Term of the entry at i, or undefined if i was compacted away or is beyond the log. */
  term(i: number): number | undefined {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex || i > this.lastIndex()) return undefined;
    return (this.entries[i - this.snapIndex - 1] as Entry).term;
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** §5.4.1: is a log ending at (index, term) at least as up-to-date as ours? */
  isUpToDate(index: number, term: number): boolean {
    const lt = this.lastTerm();
    if (mutant("up-to-date-by-length")) return index >= this.lastIndex();
    return term > lt || (term === lt && index >= this.lastIndex());
  }

  /**
   * Entries [lo, hi) with hi clamped to lastIndex+1, at most maxEntries and, beyond the first
   * entry, at most maxBytes of data. undefined if lo was compacted away (send a snapshot).
   */
  slice(lo: number, hi: number, maxEntries = Number.MAX_SAFE_INTEGER, maxBytes = Infinity) {
    if (lo < this.firstIndex()) return undefined;
    const end = Math.min(hi, this.lastIndex() + 1, lo + maxEntries);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < end; i++) {
      const e = this.entries[i - this.snapIndex - 1] as Entry;
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /**
   * §5.3 AppendEntries receiver: if our log matches (prevIndex, prevTerm), append what is new and
   * return the index of the last entry the request covers; undefined on a mismatch. Existing
   * entries are truncated only on a real conflict (same index, different term); a stale or
   * reordered request whose entries we already hold changes nothing.
   */
  maybeAppend(prevIndex: number, prevTerm: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    const stale = mutant("truncate-on-stale-append") && entries.length > 0;
    const ci = stale ? (entries[0] as Entry).index : this.findConflict(entries);
    if (ci !== 0) {
      if (ci <= this.committed)
        throw new Error(
          `log: entry ${ci} conflicts with committed entry (commit ${this.committed})`,
        );
      this.append(entries.slice(ci - prevIndex - 1));
    }
    return lastNew;
  }

  /** Index of the first entry that is new or conflicts with ours; 0 if we hold them all. */
  private findConflict(entries: readonly Entry[]): number {
    for (const e of entries) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /** Appends entries, truncating from entries[0].index (a decision already made). */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (first.index <= this.committed)
      throw new Error(`log: truncating at ${first.index} below commit ${this.committed}`);
    if (first.index > this.lastIndex() + 1)
      throw new Error(`log: gap: appending ${first.index} after ${this.lastIndex()}`);
    this.entries.length = first.index - this.snapIndex - 1;
    for (const e of entries) this.entries.push(e);
    this.stable = Math.min(this.stable, first.index - 1);
    this.handed = Math.min(this.handed, first.index - 1);
  }

  /**
   * Fast backup hint (§5.3): the largest index <= index whose term is <= term. A follower uses it
   * to point the leader past a whole conflicting term; the leader uses it to jump to the end of
   * the follower's term in its own log. Stops at the snapshot boundary.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term || i <= this.snapIndex) return { index: i, term: t };
      i--;
    }
  }

  commitTo(i: number): boolean {
    if (i <= this.committed) return false;
    if (i > this.lastIndex())
      throw new Error(`log: commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
    return true;
  }

  /** Unstable entries not yet handed out; marks them handed. */
  takeUnstable(): Entry[] {
    const out = this.entries.slice(this.handed - this.snapIndex);
    this.handed = this.lastIndex();
    return out;
  }

  hasUnstable(): boolean {
    return this.handed < this.lastIndex();
  }

  /** advance(): entries up to (index, term) are durable, unless they were truncated meanwhile. */
  stableTo(entries: readonly Entry[]): void {
    // By the Log Matching Property the last still-matching entry proves its whole prefix.
    for (let k = entries.length - 1; k >= 0; k--) {
      const e = entries[k] as Entry;
      if (this.matchTerm(e.index, e.term)) {
        this.stable = Math.max(this.stable, e.index);
        return;
      }
    }
  }

  /** Committed entries ready to apply: durable locally, not yet handed out; marks them handed. */
  takeCommitted(): Entry[] {
    const hi = this.applyLimit();
    const lo = Math.max(this.applying, this.applied) + 1;
    if (hi < lo) return [];
    this.applying = hi;
    return this.entries.slice(lo - this.snapIndex - 1, hi - this.snapIndex);
  }

  hasCommitted(): boolean {
    return this.applyLimit() > Math.max(this.applying, this.applied);
  }

  private applyLimit(): number {
    // A snapshot awaiting application comes first; entries after it wait for it.
    if (this.pendingSnapshot !== null) return 0;
    return Math.min(mutant("apply-before-commit") ? this.lastIndex() : this.committed, this.stable);
  }

  appliedTo(i: number): void {
    if (i > this.committed) throw new Error(`log: applied ${i} beyond commit ${this.committed}`);
    this.applied = Math.max(this.applied, i);
  }

  /** Resets the log to a snapshot from the leader (§7 InstallSnapshot, step 7: discard the log). */
  restoreSnapshot(s: Snapshot): void {
    this.snapIndex = s.metadata.index;
    this.snapTerm = s.metadata.term;
    this.entries = [];
    this.snapshot = s;
    this.pendingSnapshot = s;
    this.committed = s.metadata.index;
    this.stable = s.metadata.index;
    this.handed = s.metadata.index;
    this.applying = s.metadata.index;
  }

  /** The pending snapshot if it was not handed out yet; marks it handed. */
  takeSnapshot(): Snapshot | undefined {
    if (this.pendingSnapshot === null || this.pendingSnapshot === this.handedSnapshot)
      return undefined;
    this.handedSnapshot = this.pendingSnapshot;
    return this.pendingSnapshot;
  }

  hasSnapshot(): boolean {
    return this.pendingSnapshot !== null && this.pendingSnapshot !== this.handedSnapshot;
  }

  /** The caller persisted and applied a snapshot handed out earlier. */
  snapshotApplied(s: Snapshot): void {
    if (this.pendingSnapshot === s) this.pendingSnapshot = null;
    this.applied = Math.max(this.applied, s.metadata.index);
  }

  /** §7 log compaction: drop entries up to index, covered by the application's snapshot. */
  compact(index: number, data: Uint8Array, conf: Snapshot["metadata"]["conf"]): boolean {
    if (index <= this.snapIndex) return false;
    // The caller may snapshot entries it was handed before it calls advance().
    const applied = Math.max(this.applied, this.applying);
    if (index > applied) throw new Error(`log: compact at ${index} beyond applied ${applied}`);
    const term = this.term(index) as number;
    this.entries = this.entries.slice(index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
    this.snapshot = { metadata: { index, term, conf }, data };
    return true;
  }
}
