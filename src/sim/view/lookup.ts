// Lookups over sorted number arrays: the trace model keeps every series (record times, send
// times, state changes) sorted, so "what is visible between t0 and t1", "the state at record i"
// and "how many sends per pixel column" are binary searches, never scans. Shared by the model,
// the viewer page and the summary.

/** A sorted array of numbers (plain or typed). */
export type Sorted = ArrayLike<number>;

/** The first index whose value is >= x (a.length if none). */
export function lowerBound(a: Sorted, x: number, from = 0, to = a.length): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose value is > x (a.length if none). */
export function upperBound(a: Sorted, x: number, from = 0, to = a.length): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The last index whose value is <= x, or -1. */
export function lastAtOrBefore(a: Sorted, x: number): number {
  return upperBound(a, x) - 1;
}

/**
 * Counts of the values of `a` in each of `n` equal buckets covering [t0, t1): the aggregate a
 * zoomed-out view draws instead of one mark per event. Costs O(n log a.length) whatever the
 * number of values, so it is exact at every zoom level.
 */
export function bucketCounts(a: Sorted, t0: number, t1: number, n: number): Uint32Array {
  const out = new Uint32Array(Math.max(0, n));
  if (n <= 0 || !(t1 > t0)) return out;
  const width = (t1 - t0) / n;
  let lo = lowerBound(a, t0);
  for (let k = 0; k < n; k++) {
    const end = k === n - 1 ? t1 : t0 + (k + 1) * width;
    const hi = lowerBound(a, end, lo);
    out[k] = hi - lo;
    lo = hi;
  }
  return out;
}

/** A growable column of numbers, frozen into a typed array when the model is built. */
export class Column {
  private data: Float64Array;
  length = 0;

  constructor(capacity = 1024) {
    this.data = new Float64Array(capacity);
  }

  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  /** The last value pushed (undefined when empty). */
  last(): number | undefined {
    return this.length > 0 ? this.data[this.length - 1] : undefined;
  }

  /** The values as a typed array of exactly `length` (a copy: the column may grow on). */
  freeze(): Float64Array {
    return this.data.slice(0, this.length);
  }
}
