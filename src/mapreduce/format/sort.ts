// Sorting keys in UTF-8 byte order, fast. A comparison sort of JS strings costs a call of the
// comparator and a string comparison per step (~30 ns each, ~15 steps per key for a map
// task's partition); this sort mostly compares numbers instead. It is a most-significant-
// digit radix sort done by the engine's native numeric sort of a Float64Array: each entry
// packs a digit (the key's next few UTF-16 units) above the key's index, so one native sort
// orders a range by that digit and, for equal digits, by index (which keeps the sort stable).
// Ranges whose keys still agree are sorted again on their next digit, until they differ or
// end; a few keys left are sorted by comparing strings.
//
// A digit packs as many units as fit: each unit becomes its rank in the keys' alphabet (the
// distinct units they use, in code-point order, 1-based; 0 for "the key has ended"), so for
// text (an alphabet of ~60 units) a digit holds 5 units, and one pass orders most keys.
//
//   entry = digit * 2^20 + index,   digit = sum of rank(u[k*d + j]) * (A+1)^(k-1-j), j < k
//   (< 2^53: exact in a double; A = alphabet size, k = units per digit, d = depth)

import { compareUtf8 } from "./keys.js";

const INDEX_BITS = 20;
const INDEX_SPAN = 2 ** INDEX_BITS;
/** Digits stay below this, so that digit * 2^20 + index is below 2^53. */
const DIGIT_SPAN = 2 ** (53 - INDEX_BITS);
const MAX_UNITS = 8;
/** Rank of each UTF-16 unit in the alphabet of the keys being sorted (0: unused); kept
 * between calls, and cleared after each, to avoid allocating 256 KiB per call. */
const rank = new Uint32Array(0x10000);

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
  const units = rankAlphabet(keys);
  try {
    const base = units.length + 1;
    // Units per digit (an alphabet of one unit, or none, would allow any number).
    let k = 1;
    while (k < MAX_UNITS && base ** (k + 1) <= DIGIT_SPAN) k++;
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = digit(keys[i] as string, 0, k, base) * INDEX_SPAN + i;
    a.sort();
    // Ranges [start, end) sorted to depth d whose keys may still differ.
    const stack: number[] = [];
    pushTies(a, 0, n, 0, base, stack);
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
        a[j] = digit(keys[i] as string, d, k, base) * INDEX_SPAN + i;
      }
      a.subarray(start, end).sort();
      pushTies(a, start, end, d, base, stack);
    }
    for (let j = 0; j < n; j++) order[j] = (a[j] as number) % INDEX_SPAN;
    return order;
  } finally {
    for (const u of units) rank[u] = 0;
  }
}

/** Ranks the units the keys use (in `rank`), in code-point order; returns them. */
function rankAlphabet(keys: readonly string[]): number[] {
  const units: number[] = [];
  for (const key of keys) {
    for (let i = 0; i < key.length; i++) {
      const u = key.charCodeAt(i);
      if (rank[u] === 0) {
        rank[u] = 1;
        units.push(u);
      }
    }
  }
  // Surrogates (astral code points) after U+E000..U+FFFF, as in compareUtf8.
  const order = (u: number) => (u < 0xd800 ? u : u <= 0xdfff ? u + 0x2000 : u - 0x800);
  units.sort((x, y) => order(x) - order(y));
  for (let r = 0; r < units.length; r++) rank[units[r] as number] = r + 1;
  return units;
}

/** Digit d of `key`: its units k*d .. k*d+k-1 as ranks, 0 past its end. */
function digit(key: string, d: number, k: number, base: number): number {
  let v = 0;
  for (let i = k * d; i < k * d + k; i++)
    v = v * base + (i < key.length ? (rank[key.charCodeAt(i)] as number) : 0);
  return v;
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
function pushTies(
  a: Float64Array,
  start: number,
  end: number,
  d: number,
  base: number,
  stack: number[],
): void {
  let j = start;
  while (j < end) {
    const digit = Math.floor((a[j] as number) / INDEX_SPAN);
    let e = j + 1;
    while (e < end && Math.floor((a[e] as number) / INDEX_SPAN) === digit) e++;
    // A last unit of 0 means every key of the run ended within this digit: they are equal.
    if (e - j > 1 && digit % base !== 0) stack.push(j, e, d + 1);
    j = e;
  }
}
