// Sorting keys in UTF-8 byte order, fast. A comparison sort of JS strings costs a call of the
// comparator and a string comparison per step (~30 ns each, ~15 steps per key for a map
// task's partition); this sort mostly compares numbers instead. It is a most-significant-
// digit radix sort whose digit is two UTF-16 code units, done by the engine's native numeric
// sort of a Float64Array: each entry packs the key's next two units (mapped to code-point
// order, 0 for "the key has ended") above the key's index, so one native sort orders a range
// by those two units and, for equal units, by index (which keeps the sort stable). Ranges
// whose keys still agree are sorted again on their next two units, until they differ or end.
//
//   entry = (u[2d] * 0x10001 + u[2d+1]) * 2^20 + index     (< 2^53: exact in a double)

import { compareUtf8 } from "./keys.js";

const INDEX_BITS = 20;
const INDEX_SPAN = 2 ** INDEX_BITS;
const DIGIT_SPAN = 0x10001;

/** Unit i of s mapped to code-point order, plus one; 0 past the end of s. */
function unit(s: string, i: number): number {
  if (i >= s.length) return 0;
  const u = s.charCodeAt(i);
  // Surrogates (astral code points) above U+E000..U+FFFF, as in compareUtf8.
  if (u < 0xd800) return u + 1;
  return (u <= 0xdfff ? u + 0x2000 : u - 0x800) + 1;
}

/**
 * The indices of `keys` in UTF-8 byte order of the keys; equal keys keep their relative
 * order (a stable sort).
 */
export function sortedOrder(keys: readonly string[]): Uint32Array {
  const n = keys.length;
  const order = new Uint32Array(n);
  if (n >= INDEX_SPAN) {
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => compareUtf8(keys[a] as string, keys[b] as string) || a - b);
    order.set(idx);
    return order;
  }
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = keys[i] as string;
    a[i] = (unit(k, 0) * DIGIT_SPAN + unit(k, 1)) * INDEX_SPAN + i;
  }
  a.sort();
  // Ranges [start, end) at depth d (units 2d, 2d+1 sorted) whose keys may still differ.
  const stack: number[] = [];
  pushTies(a, 0, n, 0, stack);
  while (stack.length > 0) {
    const d = stack.pop() as number;
    const end = stack.pop() as number;
    const start = stack.pop() as number;
    if (end - start <= SMALL) {
      insertionSort(a, start, end, keys);
      continue;
    }
    for (let j = start; j < end; j++) {
      const i = (a[j] as number) % INDEX_SPAN;
      const k = keys[i] as string;
      a[j] = (unit(k, 2 * d) * DIGIT_SPAN + unit(k, 2 * d + 1)) * INDEX_SPAN + i;
    }
    a.subarray(start, end).sort();
    pushTies(a, start, end, d, stack);
  }
  for (let j = 0; j < n; j++) order[j] = (a[j] as number) % INDEX_SPAN;
  return order;
}

/** Few keys: sorting them by string comparison is cheaper than another pass of digits. */
const SMALL = 12;

function insertionSort(a: Float64Array, start: number, end: number, keys: readonly string[]) {
  for (let j = start + 1; j < end; j++) {
    const x = a[j] as number;
    const kx = keys[x % INDEX_SPAN] as string;
    let i = j - 1;
    // Entries of a run are in index order, so "not after" keeps equal keys stable.
    while (i >= start && compareUtf8(keys[(a[i] as number) % INDEX_SPAN] as string, kx) > 0) {
      a[i + 1] = a[i] as number;
      i--;
    }
    a[i + 1] = x;
  }
}

/** Pushes each run of equal digits in a[start, end) whose keys have not ended, for depth d+1. */
function pushTies(a: Float64Array, start: number, end: number, d: number, stack: number[]): void {
  let j = start;
  while (j < end) {
    const digit = Math.floor((a[j] as number) / INDEX_SPAN);
    let e = j + 1;
    while (e < end && Math.floor((a[e] as number) / INDEX_SPAN) === digit) e++;
    // A second unit of 0 means every key of the run ended here: they are equal.
    if (e - j > 1 && digit % DIGIT_SPAN !== 0) stack.push(j, e, d + 1);
    j = e;
  }
}
