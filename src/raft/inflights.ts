// A bounded FIFO of the last indexes of AppendEntries sent to one follower and not yet
// acknowledged: the leader's sliding window in replicate state (etcd-io/raft's tracker/inflights).

export class Inflights {
  private readonly buf: number[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new Error(`inflights: capacity ${capacity} must be a positive integer`);
  }

  get count(): number {
    return this.buf.length;
  }

  full(): boolean {
    return this.buf.length >= this.capacity;
  }

  add(last: number): void {
    if (this.full()) throw new Error("inflights: add to a full window");
    const tail = this.buf[this.buf.length - 1];
    if (tail !== undefined && last <= tail) throw new Error(`inflights: ${last} not above ${tail}`);
    this.buf.push(last);
  }

  /** Acknowledges every message whose last index is <= index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.buf.length && (this.buf[n] as number) <= index) n++;
    if (n > 0) this.buf.splice(0, n);
  }

  /** Frees the oldest slot: a heartbeat reply shows the follower is alive though acks were lost. */
  freeFirst(): void {
    this.buf.shift();
  }

  reset(): void {
    this.buf.length = 0;
  }
}
