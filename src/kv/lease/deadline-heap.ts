// An indexed binary min-heap of lease deadlines: the leader asks "which leases are due at time
// T" in O(k log n), and a keep-alive moves one lease's deadline in O(log n) without leaving a
// stale entry behind (etcd's LeaseExpiredNotifier re-pushes instead). Ties break by lease id,
// so the order of expiry is a function of the deadlines alone.

interface Item {
  id: bigint;
  deadline: number;
  pos: number;
}

export class DeadlineHeap {
  private heap: Item[] = [];
  private byId = new Map<bigint, Item>();

  get size(): number {
    return this.heap.length;
  }

  deadlineOf(id: bigint): number | undefined {
    return this.byId.get(id)?.deadline;
  }

  /** Sets (or moves) the deadline of `id`. */
  set(id: bigint, deadline: number): void {
    const item = this.byId.get(id);
    if (item === undefined) {
      const fresh = { id, deadline, pos: this.heap.length };
      this.heap.push(fresh);
      this.byId.set(id, fresh);
      this.up(fresh.pos);
      return;
    }
    const earlier = deadline < item.deadline;
    item.deadline = deadline;
    if (earlier) this.up(item.pos);
    else this.down(item.pos);
  }

  delete(id: bigint): void {
    const item = this.byId.get(id);
    if (item === undefined) return;
    this.byId.delete(id);
    const last = this.heap.pop() as Item;
    if (last === item) return;
    last.pos = item.pos;
    this.heap[item.pos] = last;
    this.up(last.pos);
    this.down(last.pos);
  }

  clear(): void {
    this.heap = [];
    this.byId.clear();
  }

  /** The earliest item, if any. */
  peek(): { id: bigint; deadline: number } | undefined {
    return this.heap[0];
  }

  private less(a: Item, b: Item): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.id < b.id);
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i] as Item;
    const b = this.heap[j] as Item;
    this.heap[i] = b;
    this.heap[j] = a;
    a.pos = j;
    b.pos = i;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(this.heap[i] as Item, this.heap[parent] as Item)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(this.heap[l] as Item, this.heap[m] as Item)) m = l;
      if (r < n && this.less(this.heap[r] as Item, this.heap[m] as Item)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
