// k-way merge of sorted group streams (sorted runs spilled by the map side and the reduce
// side's grouper, partitions fetched by the reduce side). Each source yields groups in
// strictly increasing key order; the merge yields each key once, with the values of every
// source that had it, in increasing UTF-8 order. Memory: one pending group per source,
// whatever the sizes of the sources.

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

interface Head {
  group: Group | undefined; // undefined only before the first advance
  source: GroupSource;
  plain: boolean;
}

/** Key order of two heads: native comparison when both keys are surrogate-free (the common
 * case, and much cheaper), else compareUtf8. */
function before(a: Head, b: Head): boolean {
  const x = (a.group as Group).key;
  const y = (b.group as Group).key;
  return a.plain && b.plain ? x < y : compareUtf8(x, y) < 0;
}

/** Binary min-heap of source heads, ordered by key. */
class HeadHeap {
  readonly items: Head[] = [];

  push(h: Head): void {
    const a = this.items;
    a.push(h);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h, a[p] as Head)) break;
      a[i] = a[p] as Head;
      i = p;
    }
    a[i] = h;
  }

  pop(): Head | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && before(a[r] as Head, a[l] as Head) ? r : l;
      if (!before(a[c] as Head, last)) break;
      a[i] = a[c] as Head;
      i = c;
    }
    a[i] = last;
    return top;
  }

  peekKey(): string | undefined {
    return this.items[0]?.group?.key;
  }
}

/** Merges sorted sources into one sorted source with one group per distinct key. */
export function mergeGroups(sources: readonly GroupSource[]): GroupSource {
  const heap = new HeadHeap();
  for (const source of sources) advance(heap, { group: undefined, source, plain: false });
  return {
    next(): Group | undefined {
      const head = heap.pop();
      if (!head) return undefined;
      const group = head.group as Group;
      const key = group.key;
      let values = group.values;
      advance(heap, head);
      if (heap.peekKey() === key) {
        values = values.slice();
        do {
          const same = heap.pop() as Head;
          for (const v of (same.group as Group).values) values.push(v);
          advance(heap, same);
        } while (heap.peekKey() === key);
      }
      return { key, values };
    },
  };
}

/** Moves a head to its source's next group (reusing the head) and back into the heap. */
function advance(heap: HeadHeap, head: Head): void {
  const group = head.source.next();
  if (!group) return;
  head.group = group;
  head.plain = head.source.plain === true;
  heap.push(head);
}
