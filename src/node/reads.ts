// Linearizable read barriers (ReadIndex, Raft thesis §6.4), batched: every barrier requested
// while a round is in flight joins the next round, so N concurrent reads cost one heartbeat
// round, not N.
//
//   waiting --startRound()--> in flight (ctx) --confirm(ctx, index)--> confirmed --applied >= index--> resolved
//
// A round whose confirmation never comes (heartbeat acks lost) is abandoned after
// `roundTimeoutTicks` and its live waiters go back to waiting; each waiter also has its own
// deadline.

import { ProposalTimeoutError } from "./errors.js";

interface Waiter {
  done: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface Round {
  startedAt: number;
  waiters: Waiter[];
}

export class ReadQueue {
  private waiting: Waiter[] = [];
  private readonly inFlight = new Map<number, Round>();
  private confirmed: { index: number; waiters: Waiter[] }[] = [];
  private nextCtx = 1;

  constructor(private readonly roundTimeoutTicks: number) {}

  add(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        done: false,
        resolve: () => {
          if (w.done) return;
          w.done = true;
          clearTimeout(w.timer);
          resolve();
        },
        reject: (err) => {
          if (w.done) return;
          w.done = true;
          clearTimeout(w.timer);
          reject(err);
        },
        timer: setTimeout(() => w.reject(new ProposalTimeoutError()), timeoutMs),
      };
      w.timer.unref();
      this.waiting.push(w);
    });
  }

  /**
   * Starts a round for the waiting barriers if none is in flight (or the in-flight ones are
   * stale). `request(ctx)` asks the core for a read index; it returns false when the core cannot
   * serve reads right now, and the waiters stay queued.
   */
  maybeStartRound(now: number, request: (ctx: number) => boolean): void {
    for (const [ctx, round] of this.inFlight) {
      if (now - round.startedAt >= this.roundTimeoutTicks) {
        this.inFlight.delete(ctx);
        this.waiting.push(...round.waiters);
      }
    }
    this.waiting = this.waiting.filter((w) => !w.done);
    if (this.waiting.length === 0 || this.inFlight.size > 0) return;
    const ctx = this.nextCtx++;
    if (!request(ctx)) return;
    this.inFlight.set(ctx, { startedAt: now, waiters: this.waiting });
    this.waiting = [];
  }

  get hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  /** The core confirmed leadership for round `ctx` at commit index `index`. */
  confirm(ctx: number, index: number): void {
    const round = this.inFlight.get(ctx);
    if (round === undefined) return;
    this.inFlight.delete(ctx);
    this.confirmed.push({ index, waiters: round.waiters });
  }

  /** Resolves the confirmed barriers whose index is applied. */
  release(applied: number): void {
    if (this.confirmed.length === 0) return;
    const later: typeof this.confirmed = [];
    for (const c of this.confirmed) {
      if (c.index <= applied) for (const w of c.waiters) w.resolve();
      else later.push(c);
    }
    this.confirmed = later;
  }

  /**
   * Rejects every barrier that has not been confirmed yet (this node stopped leading: a
   * confirmed one is still valid, it only waits for the local apply).
   */
  failUnconfirmed(err: () => Error): void {
    for (const w of this.waiting) w.reject(err());
    for (const round of this.inFlight.values()) for (const w of round.waiters) w.reject(err());
    this.waiting = [];
    this.inFlight.clear();
  }

  failAll(err: () => Error): void {
    this.failUnconfirmed(err);
    for (const c of this.confirmed) for (const w of c.waiters) w.reject(err());
    this.confirmed = [];
  }
}
