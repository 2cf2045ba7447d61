// The ordered index of the store's key records: a list of sorted blocks (a two-level B+-tree).
// Lookup and insert cost O(log n + BLOCK_MAX); a range scan seeks in O(log n) and then walks
// blocks in order, so a range costs O(log n + k). Each block counts its records that are live
// at the newest revision, so counting a range at the newest revision costs O(log n + n/BLOCK)
// instead of a walk over every key (a paged listing of a million keys asks for the count on
// every page).

import type { ByteString } from "./keys.js";

const BLOCK_MAX = 512;
/** A block this small is merged into its neighbour when the two fit in one. */
const BLOCK_MIN = BLOCK_MAX / 4;

interface Block<R> {
  recs: R[];
  live: number;
}

/** Position of a record: block index and index inside the block. */
interface Cursor {
  b: number;
  i: number;
}

export class KeyIndex<R extends { readonly key: ByteString }> {
  private blocks: Block<R>[] = [];
  private total = 0;

  /** `isLive(rec)`: whether the record holds a value at the newest revision. */
  constructor(private readonly isLive: (rec: R) => boolean) {}

  get size(): number {
    return this.total;
  }

  get(key: ByteString): R | undefined {
    const c = this.seek(key);
    const rec = this.blocks[c.b]?.recs[c.i];
    return rec !== undefined && rec.key === key ? rec : undefined;
  }

  /** Adds `rec`, whose key must be absent. */
  insert(rec: R): void {
    this.total++;
    const live = this.isLive(rec) ? 1 : 0;
    if (this.blocks.length === 0) {
      this.blocks.push({ recs: [rec], live });
      return;
    }
    const c = this.seek(rec.key);
    // Past the end of a block, append to that block rather than start the next one.
    if (c.i === 0 && c.b > 0) {
      c.b--;
      c.i = (this.blocks[c.b] as Block<R>).recs.length;
    }
    const block = this.blocks[c.b] as Block<R>;
    block.recs.splice(c.i, 0, rec);
    block.live += live;
    if (block.recs.length > BLOCK_MAX) {
      const upper = block.recs.splice(BLOCK_MAX / 2);
      const moved = this.countLive(upper);
      block.live -= moved;
      this.blocks.splice(c.b + 1, 0, { recs: upper, live: moved });
    }
  }

  /**
   * Appends `rec`, whose key must be above every key in the index: the O(1) path for
   * building an index from records in key order (snapshot restore).
   */
  append(rec: R): void {
    const last = this.blocks[this.blocks.length - 1];
    if (last !== undefined && (last.recs[last.recs.length - 1] as R).key >= rec.key) {
      throw new Error("KeyIndex.append: keys out of order");
    }
    this.total++;
    const live = this.isLive(rec) ? 1 : 0;
    if (last === undefined || last.recs.length >= BLOCK_MAX / 2) {
      this.blocks.push({ recs: [rec], live });
    } else {
      last.recs.push(rec);
      last.live += live;
    }
  }

  /** Removes `rec`, which must be present. */
  remove(rec: R): void {
    const c = this.seek(rec.key);
    const block = this.blocks[c.b] as Block<R>;
    if (block.recs[c.i] !== rec) throw new Error("KeyIndex.remove: record not in the index");
    block.recs.splice(c.i, 1);
    if (this.isLive(rec)) block.live--;
    this.total--;
    if (block.recs.length === 0) {
      this.blocks.splice(c.b, 1);
      return;
    }
    const next = this.blocks[c.b + 1];
    if (
      block.recs.length < BLOCK_MIN &&
      next &&
      block.recs.length + next.recs.length <= BLOCK_MAX
    ) {
      block.recs.push(...next.recs);
      block.live += next.live;
      this.blocks.splice(c.b + 1, 1);
    }
  }

  /** Tells the index that `rec` became live (+1) or dead (-1) at the newest revision. */
  liveChanged(rec: R, delta: 1 | -1): void {
    (this.blocks[this.seek(rec.key).b] as Block<R>).live += delta;
  }

  /**
   * Calls `visit` on each record with start <= key < end, in key order, until it returns
   * false. `end` AFTER_ALL_KEYS (or any string above every key) scans to the end.
   */
  scan(start: ByteString, end: ByteString, visit: (rec: R) => boolean | undefined): void {
    if (start >= end) return;
    let { b, i } = this.seek(start);
    for (; b < this.blocks.length; b++, i = 0) {
      const recs = (this.blocks[b] as Block<R>).recs;
      for (; i < recs.length; i++) {
        const rec = recs[i] as R;
        if (rec.key >= end) return;
        if (visit(rec) === false) return;
      }
    }
  }

  /** Up to `max` records with key > `after` (every key when after is null), in key order. */
  after(after: ByteString | null, max: number): R[] {
    const out: R[] = [];
    if (this.blocks.length === 0 || max <= 0) return out;
    let { b, i } = after === null ? { b: 0, i: 0 } : this.seek(after);
    for (; b < this.blocks.length; b++, i = 0) {
      const recs = (this.blocks[b] as Block<R>).recs;
      for (; i < recs.length; i++) {
        const rec = recs[i] as R;
        if (after !== null && rec.key <= after) continue;
        out.push(rec);
        if (out.length >= max) return out;
      }
    }
    return out;
  }

  /** Records in [start, end) that are live at the newest revision. */
  countLiveIn(start: ByteString, end: ByteString): number {
    if (start >= end || this.blocks.length === 0) return 0;
    const from = this.seek(start);
    if (from.b >= this.blocks.length) return 0;
    const to = this.seek(end);
    if (from.b === to.b)
      return this.countLive((this.blocks[from.b] as Block<R>).recs, from.i, to.i);
    let n = this.countLive((this.blocks[from.b] as Block<R>).recs, from.i);
    for (let b = from.b + 1; b < to.b; b++) n += (this.blocks[b] as Block<R>).live;
    const last = this.blocks[to.b];
    if (last) n += this.countLive(last.recs, 0, to.i);
    return n;
  }

  private countLive(recs: readonly R[], from = 0, to = recs.length): number {
    let n = 0;
    for (let i = from; i < to; i++) if (this.isLive(recs[i] as R)) n++;
    return n;
  }

  /**
   * The position of the first record with key >= `key`: {b: blocks.length, i: 0} when every
   * key is below it.
   */
  private seek(key: ByteString): Cursor {
    const blocks = this.blocks;
    if (blocks.length === 0) return { b: 0, i: 0 };
    // Last block whose first key is <= key (block 0 if key is below everything).
    let lo = 0;
    let hi = blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (((blocks[mid] as Block<R>).recs[0] as R).key <= key) lo = mid;
      else hi = mid - 1;
    }
    const recs = (blocks[lo] as Block<R>).recs;
    let l = 0;
    let h = recs.length;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if ((recs[mid] as R).key < key) l = mid + 1;
      else h = mid;
    }
    if (l === recs.length && lo + 1 < blocks.length) return { b: lo + 1, i: 0 };
    if (l === recs.length) return { b: blocks.length, i: 0 };
    return { b: lo, i: l };
  }
}
