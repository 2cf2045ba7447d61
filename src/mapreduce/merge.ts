// k-way merge of sorted group streams (runs spilled by the map side, partitions fetched by
// the reduce side). Each source yields groups in strictly increasing key order; the merge
// yields each key once, with the values of every source that had it, in increasing UTF-8
// order. Memory: one pending group per source, whatever the sizes of the sources.

import { compareUtf8 } from "./keys.js";
import type { Group } from "./records.js";

export interface GroupSource {
  next(): Group | undefined;
}

/** Adapts an in-memory array of sorted groups. */
export function arraySource(groups: readonly Group[]): GroupSource {
  let i = 0;
  return { next: () => groups[i++] };
}

interface Head {
  group: Group;
  source: GroupSource;
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
      if (compareUtf8((a[p] as Head).group.key, h.group.key) <= 0) break;
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
      const c =
        r < a.length && compareUtf8((a[r] as Head).group.key, (a[l] as Head).group.key) < 0 ? r : l;
      if (compareUtf8((a[c] as Head).group.key, last.group.key) >= 0) break;
      a[i] = a[c] as Head;
      i = c;
    }
    a[i] = last;
    return top;
  }

  peekKey(): string | undefined {
    return this.items[0]?.group.key;
  }
}

/** Merges sorted sources into one sorted stream with one group per distinct key. */
export function* mergeGroups(sources: readonly GroupSource[]): Generator<Group> {
  const heap = new HeadHeap();
  for (const source of sources) {
    const group = source.next();
    if (group) heap.push({ group, source });
  }
  for (;;) {
    const head = heap.pop();
    if (!head) return;
    const key = head.group.key;
    let values = head.group.values;
    advance(heap, head);
    while (heap.peekKey() === key) {
      const same = heap.pop() as Head;
      values = values.length === 0 ? same.group.values : values.concat(same.group.values);
      advance(heap, same);
    }
    yield { key, values };
  }
}

function advance(heap: HeadHeap, head: Head): void {
  const group = head.source.next();
  if (group) heap.push({ group, source: head.source });
}
