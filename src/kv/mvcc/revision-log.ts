// Which keys each revision changed, in revision order: what a watcher replays from a past
// revision (etcd scans its backend by revision the same way) and what compaction visits to
// prune old versions, so neither walks every key. Every revision above the store's first
// changed at least one key, so the log is dense: pages of PAGE slots, indexed by revision.
// A slot holds one record (nearly every revision changes one key, so no array is allocated)
// or an array of records in key order. Dropping a compacted prefix frees whole pages.

const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;

type Slot<R> = R | R[] | undefined;

export class RevisionLog<R extends object> {
  private pages: Slot<R>[][] = [];
  /** Revision of slot 0 of pages[0]; a multiple of PAGE. */
  private base = 0;
  /** Lowest revision still held. */
  private first = 0;
  /** One past the highest revision held. */
  private end = 0;

  get firstRevision(): number {
    return this.first;
  }

  /** Makes an empty log start at `rev`, so that add() takes revisions >= rev in any order. */
  startAt(rev: number): void {
    if (this.pages.length > 0) throw new Error("RevisionLog.startAt on a log that holds revisions");
    this.base = rev - (rev % PAGE);
    this.first = rev;
    this.end = rev;
    this.pages.push(new Array<Slot<R>>(PAGE));
  }

  /** Adds `rec` to revision `rev` (after the records already there: callers add in key order). */
  add(rev: number, rec: R): void {
    if (this.pages.length === 0) {
      this.base = rev - (rev % PAGE);
      this.first = rev;
      this.end = rev;
    }
    if (rev < this.first) throw new Error(`RevisionLog: revision ${rev} below ${this.first}`);
    const p = (rev - this.base) >>> PAGE_BITS;
    while (this.pages.length <= p) this.pages.push(new Array<Slot<R>>(PAGE));
    const page = this.pages[p] as Slot<R>[];
    const i = (rev - this.base) & (PAGE - 1);
    const slot = page[i];
    if (slot === undefined) page[i] = rec;
    else if (Array.isArray(slot)) slot.push(rec);
    else page[i] = [slot, rec];
    if (rev >= this.end) this.end = rev + 1;
  }

  /** The records changed at `rev`, in key order; empty if the log does not hold it. */
  at(rev: number): readonly R[] {
    if (rev < this.first || rev >= this.end) return [];
    const slot = (this.pages[(rev - this.base) >>> PAGE_BITS] as Slot<R>[])[
      (rev - this.base) & (PAGE - 1)
    ];
    if (slot === undefined) return [];
    return Array.isArray(slot) ? slot : [slot];
  }

  /** Forgets every revision below `rev`. */
  dropBefore(rev: number): void {
    if (rev <= this.first) return;
    if (rev >= this.end) {
      this.pages = [];
      this.first = this.end = rev;
      this.base = rev - (rev % PAGE);
      return;
    }
    while (this.pages.length > 0 && this.base + PAGE <= rev) {
      this.pages.shift();
      this.base += PAGE;
    }
    const page = this.pages[0] as Slot<R>[];
    for (let r = Math.max(this.first, this.base); r < rev; r++) page[r - this.base] = undefined;
    this.first = rev;
  }
}
