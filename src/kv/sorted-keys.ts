// An ordered set of keys for prefix listing: a one-level B+-tree, i.e. a list of sorted blocks
// of at most BLOCK_MAX keys. Insert and delete cost O(log n + BLOCK_MAX) instead of the O(n)
// splice of one big sorted array, and a listing seeks in O(log n) then walks blocks in order.
//
// Order is Unicode code point order (= UTF-8 byte order), not JavaScript's UTF-16 code unit
// order, so listings agree with byte-wise sorted output elsewhere (e.g. MapReduce, clients in
// other languages).

const BLOCK_MAX = 512;

/** Compare by code point: UTF-16 code units >= 0xD800 are remapped so surrogates sort last. */
function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** First index in the sorted array `arr` whose element is >= key. */
function lowerBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(arr[mid] as string, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedKeys {
  private blocks: string[][] = [];

  /** Replace the contents with `keys`, which must already be sorted by compareKeys. */
  load(keys: readonly string[]): void {
    this.blocks = [];
    for (let i = 0; i < keys.length; i += BLOCK_MAX / 2) {
      this.blocks.push(keys.slice(i, i + BLOCK_MAX / 2));
    }
  }

  /** Index of the block that holds, or would hold, `key`. */
  private blockFor(key: string): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    // Last block whose first key is <= key (block 0 if key is below everything).
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (compareKeys((this.blocks[mid] as string[])[0] as string, key) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Add `key`; the caller guarantees it is not present (the Map next to it knows). */
  insert(key: string): void {
    if (this.blocks.length === 0) {
      this.blocks.push([key]);
      return;
    }
    const b = this.blockFor(key);
    const block = this.blocks[b] as string[];
    block.splice(lowerBound(block, key), 0, key);
    if (block.length > BLOCK_MAX) {
      this.blocks.splice(b + 1, 0, block.splice(BLOCK_MAX / 2));
    }
  }

  /** Remove `key`; the caller guarantees it is present. */
  remove(key: string): void {
    const b = this.blockFor(key);
    const block = this.blocks[b] as string[];
    const i = lowerBound(block, key);
    if (block[i] !== key) throw new Error(`sorted key index lost key ${JSON.stringify(key)}`);
    block.splice(i, 1);
    if (block.length === 0) this.blocks.splice(b, 1);
  }

  /**
   * Up to `limit` keys that start with `prefix`, in order, from the first one >= `from` on when
   * given. The keys with a prefix are contiguous in the order, so the walk starts at the later
   * of `prefix` and `from` and stops at the first key without the prefix.
   */
  *withPrefix(prefix: string, limit: number, from?: string): Generator<string> {
    if (limit <= 0 || this.blocks.length === 0) return;
    const start = from !== undefined && compareKeys(from, prefix) > 0 ? from : prefix;
    let b = this.blockFor(start);
    let i = lowerBound(this.blocks[b] as string[], start);
    let emitted = 0;
    for (; b < this.blocks.length; b++, i = 0) {
      const block = this.blocks[b] as string[];
      for (; i < block.length; i++) {
        const key = block[i] as string;
        if (!key.startsWith(prefix)) return;
        yield key;
        if (++emitted >= limit) return;
      }
    }
  }

  /** Every key in order, in a new array (a copy: later changes do not show in it). */
  toArray(): string[] {
    let n = 0;
    for (const block of this.blocks) n += block.length;
    const out = new Array<string>(n);
    let i = 0;
    for (const block of this.blocks) for (const key of block) out[i++] = key;
    return out;
  }
}
