// Virtual time for the simulator. Every action (message delivery, timer tick, fsync completion,
// fault) is an event at a virtual millisecond; events run one at a time in (time, seq) order,
// where seq is the order in which they were scheduled, so equal times never depend on heap
// internals and a run is a pure function of its seed.

export interface ScheduledEvent {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
  /** Set by cancel(); a cancelled event is skipped when its time comes. */
  cancelled: boolean;
}

export class Scheduler {
  /** Current virtual time in milliseconds. */
  now = 0;
  /** Events run so far (the event number reported with invariant violations). */
  executed = 0;
  /**
   * Set by whatever may have left promise callbacks to run (a storage call, a disk operation
   * completing): the cluster's loop then yields one turn to the microtask queue before the next
   * event (docs/architecture.md, "Asynchronous production code under virtual time").
   */
  microtasks = false;
  private seq = 0;
  private readonly heap: ScheduledEvent[] = [];

  get pending(): number {
    return this.heap.length;
  }

  /** Run `run` at virtual time `time` (clamped to now: the past is not reachable). */
  at(time: number, run: () => void): ScheduledEvent {
    const ev: ScheduledEvent = {
      time: Math.max(time, this.now),
      seq: this.seq++,
      run,
      cancelled: false,
    };
    this.push(ev);
    return ev;
  }

  after(delayMs: number, run: () => void): ScheduledEvent {
    return this.at(this.now + delayMs, run);
  }

  cancel(ev: ScheduledEvent | null | undefined): void {
    if (ev) ev.cancelled = true;
  }

  /** Time of the next live event, or Infinity. */
  peekTime(): number {
    while (this.heap.length > 0 && (this.heap[0] as ScheduledEvent).cancelled) this.pop();
    return this.heap.length > 0 ? (this.heap[0] as ScheduledEvent).time : Number.POSITIVE_INFINITY;
  }

  /** Run the next live event. Returns false when none is left. */
  step(): boolean {
    for (;;) {
      const ev = this.pop();
      if (!ev) return false;
      if (ev.cancelled) continue;
      this.now = ev.time;
      this.executed++;
      ev.run();
      return true;
    }
  }

  /**
   * Run events up to and including virtual time `until`, then set the clock to `until`.
   * Stops early (returning false) as soon as `stop()` is true after an event.
   */
  runUntil(until: number, stop?: () => boolean): boolean {
    while (this.peekTime() <= until) {
      this.step();
      if (stop?.()) return false;
    }
    this.now = Math.max(this.now, until);
    return true;
  }

  /** Run until no event is left or `maxEvents` have run. Returns true if the queue drained. */
  runUntilIdle(maxEvents = 1_000_000): boolean {
    for (let i = 0; i < maxEvents; i++) if (!this.step()) return true;
    return this.peekTime() === Number.POSITIVE_INFINITY;
  }

  private less(x: ScheduledEvent, y: ScheduledEvent): boolean {
    return x.time < y.time || (x.time === y.time && x.seq < y.seq);
  }

  private push(ev: ScheduledEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(ev, h[parent] as ScheduledEvent)) break;
      h[i] = h[parent] as ScheduledEvent;
      i = parent;
    }
    h[i] = ev;
  }

  private pop(): ScheduledEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && this.less(h[r] as ScheduledEvent, h[l] as ScheduledEvent) ? r : l;
      if (!this.less(h[c] as ScheduledEvent, last)) break;
      h[i] = h[c] as ScheduledEvent;
      i = c;
    }
    h[i] = last;
    return top;
  }
}
