// k-way merge of sorted group streams (sorted runs spilled by the map side and the reduce
// side's grouper, partitions fetched by the reduce side). Each source yields groups in
// strictly increasing key order; the merge yields each key once, with the values of every
// source that had it (sources in the order given), in increasing UTF-8 order. Memory: one
// pending group per source, whatever the sizes of the sources.
//
// A tree of losers (Knuth, TAOCP vol. 3, 5.4.1): each internal node keeps the source that
// lost the match played there, and the overall winner sits above the root. Replacing the
// winner replays only the matches on its leaf's path, one comparison per level: log2(k)
// string comparisons per group, where a binary heap needs about twice that. Reduce tasks
// merge one section per map task, and comparing keys was most of their merge time.

import { compareUtf8 } from "./keys.js";
import type { Group } from "./records.js";

export interface GroupSource {
  next(): Group | undefined;
  /** True when the key of the group last returned holds no surrogate, so that `<` on it
   * agrees with UTF-8 order (records.ts plainText); absent means "not known". */
  readonly plain?: boolean;
}

/** Adapts an in-memory array of sorted groups (`plain`: as in GroupSource, for all of them). */
export function arraySource(groups: readonly Group[], plain = false): GroupSource {
  let i = 0;
  return { next: () => groups[i++], plain };
}

/** Merges sorted sources into one sorted source with one group per distinct key. */
export function mergeGroups(sources: readonly GroupSource[]): GroupSource {
  const k = sources.length;
  /** The current group of each source; undefined once the source is exhausted. */
  const heads: (Group | undefined)[] = sources.map((s) => s.next());
  const plain: boolean[] = sources.map((s) => s.plain === true);
  /** Whether source a's head goes before source b's (exhausted sources go last; ties go to
   * the earlier source, so values keep the order of the sources). */
  const before = (a: number, b: number): boolean => {
    const x = heads[a];
    const y = heads[b];
    if (x === undefined) return false;
    if (y === undefined) return true;
    if (x.key === y.key) return a < b;
    return plain[a] && plain[b] ? x.key < y.key : compareUtf8(x.key, y.key) < 0;
  };
  // Node n (1 <= n < k) holds the loser of its match; leaves are k..2k-1 (source = leaf - k).
  const losers = new Int32Array(Math.max(1, k));
  /** Plays the matches below node n; returns their winner and records the losers. */
  const build = (n: number): number => {
    if (n >= k) return n - k;
    const l = build(2 * n);
    const r = build(2 * n + 1);
    if (before(l, r)) {
      losers[n] = r;
      return l;
    }
    losers[n] = l;
    return r;
  };
  let winner = k === 0 ? -1 : build(1);
  /** Source s has a new head: replays the matches on its path to the root. */
  const replay = (s: number): void => {
    let w = s;
    for (let n = (s + k) >> 1; n >= 1; n >>= 1) {
      const other = losers[n] as number;
      if (before(other, w)) {
        losers[n] = w;
        w = other;
      }
    }
    winner = w;
  };
  const advance = (s: number): void => {
    heads[s] = (sources[s] as GroupSource).next();
    plain[s] = (sources[s] as GroupSource).plain === true;
    replay(s);
  };
  return {
    next(): Group | undefined {
      if (winner < 0) return undefined;
      const first = heads[winner];
      if (first === undefined) return undefined;
      const key = first.key;
      let values = first.values;
      advance(winner);
      let copied = false;
      for (let h = heads[winner]; h !== undefined && h.key === key; h = heads[winner]) {
        if (!copied) {
          values = values.slice();
          copied = true;
        }
        for (const v of h.values) values.push(v);
        advance(winner);
      }
      return { key, values };
    },
  };
}
