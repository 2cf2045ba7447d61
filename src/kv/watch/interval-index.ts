// Which watched ranges hold a key: an interval tree (a treap ordered by range start, each node
// knowing the largest range end below it), so a write finds the watchers of its keys in
// O(log r + m) among r distinct ranges, however many watchers exist. Watchers of the same range
// share one node (etcd's election and lock recipes have many clients watch one prefix).
// Priorities come from a counter through a fixed hash, not from randomness, so the structure is
// deterministic like the rest of the hub.

import type { ByteString } from "../mvcc/keys.js";

interface Node<T> {
  start: ByteString;
  /** Exclusive; AFTER_ALL_KEYS for "every key >= start". */
  end: ByteString;
  maxEnd: ByteString;
  prio: number;
  left: Node<T> | null;
  right: Node<T> | null;
  items: Set<T>;
}

function cmp(aStart: string, aEnd: string, b: { start: string; end: string }): number {
  if (aStart !== b.start) return aStart < b.start ? -1 : 1;
  if (aEnd !== b.end) return aEnd < b.end ? -1 : 1;
  return 0;
}

function maxEndOf<T>(n: Node<T>): ByteString {
  let m = n.end;
  if (n.left && n.left.maxEnd > m) m = n.left.maxEnd;
  if (n.right && n.right.maxEnd > m) m = n.right.maxEnd;
  return m;
}

function rotateRight<T>(n: Node<T>): Node<T> {
  const l = n.left as Node<T>;
  n.left = l.right;
  l.right = n;
  n.maxEnd = maxEndOf(n);
  l.maxEnd = maxEndOf(l);
  return l;
}

function rotateLeft<T>(n: Node<T>): Node<T> {
  const r = n.right as Node<T>;
  n.right = r.left;
  r.left = n;
  n.maxEnd = maxEndOf(n);
  r.maxEnd = maxEndOf(r);
  return r;
}

export class IntervalIndex<T> {
  private root: Node<T> | null = null;
  private seq = 0;
  private ranges = 0;

  /** Distinct ranges held. */
  get size(): number {
    return this.ranges;
  }

  add(start: ByteString, end: ByteString, item: T): void {
    this.root = this.insert(this.root, start, end, item);
  }

  /** Removes `item` from range [start, end); the range goes when its last item does. */
  delete(start: ByteString, end: ByteString, item: T): void {
    this.root = this.remove(this.root, start, end, item);
  }

  /** Calls `visit` for each item of each range holding `key` (start <= key < end). */
  stab(key: ByteString, visit: (item: T) => void): void {
    const walk = (n: Node<T> | null): void => {
      if (n === null || n.maxEnd <= key) return;
      walk(n.left);
      if (n.start > key) return; // everything to the right starts later still
      if (key < n.end) for (const item of n.items) visit(item);
      walk(n.right);
    };
    walk(this.root);
  }

  private insert(n: Node<T> | null, start: string, end: string, item: T): Node<T> {
    if (n === null) {
      this.ranges++;
      // A multiplicative hash of a counter: well-spread priorities with no randomness.
      const prio = Math.imul(++this.seq, 0x9e3779b1) >>> 0;
      return { start, end, maxEnd: end, prio, left: null, right: null, items: new Set([item]) };
    }
    const c = cmp(start, end, n);
    if (c === 0) {
      n.items.add(item);
      return n;
    }
    if (c < 0) {
      n.left = this.insert(n.left, start, end, item);
      if (n.left.prio > n.prio) n = rotateRight(n);
    } else {
      n.right = this.insert(n.right, start, end, item);
      if (n.right.prio > n.prio) n = rotateLeft(n);
    }
    n.maxEnd = maxEndOf(n);
    return n;
  }

  private remove(n: Node<T> | null, start: string, end: string, item: T): Node<T> | null {
    if (n === null) return null;
    const c = cmp(start, end, n);
    if (c < 0) n.left = this.remove(n.left, start, end, item);
    else if (c > 0) n.right = this.remove(n.right, start, end, item);
    else {
      n.items.delete(item);
      if (n.items.size > 0) return n;
      this.ranges--;
      return this.unlink(n);
    }
    n.maxEnd = maxEndOf(n);
    return n;
  }

  /** Removes node `n` itself, rotating it down to a leaf. */
  private unlink(n: Node<T>): Node<T> | null {
    if (n.left === null) return n.right;
    if (n.right === null) return n.left;
    let top: Node<T>;
    if (n.left.prio > n.right.prio) {
      top = rotateRight(n);
      top.right = this.unlink(n);
    } else {
      top = rotateLeft(n);
      top.left = this.unlink(n);
    }
    top.maxEnd = maxEndOf(top);
    return top;
  }
}
