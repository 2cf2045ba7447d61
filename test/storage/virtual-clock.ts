// A minimal virtual clock for storage tests: SimDisk completes its operations through
// `complete`, and the test decides when time moves, as the simulator will. Before and after each
// completion it lets a macrotask turn pass, so every promise chain a completion starts runs (and
// issues its next operation) first.

import { setImmediate as turn } from "node:timers/promises";

interface Due {
  at: number;
  seq: number;
  fn: () => void;
}

export class VirtualClock {
  now = 0;
  private due: Due[] = [];
  private seq = 0;

  /** SimDiskOptions.complete. */
  readonly complete = (delayMs: number, fn: () => void): void => {
    this.due.push({ at: this.now + delayMs, seq: this.seq++, fn });
  };

  /** Operations issued and not completed yet. */
  get pending(): number {
    return this.due.length;
  }

  /** Runs the earliest completion (and what it starts); false if none is due. */
  async step(until = Number.POSITIVE_INFINITY): Promise<boolean> {
    await turn(); // let callers issue the operations they are about to
    this.due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = this.due[0];
    if (!next || next.at > until) return false;
    this.due.shift();
    this.now = Math.max(this.now, next.at);
    next.fn();
    await turn();
    return true;
  }

  /** Runs every completion due at or before `time` (including those they start). */
  async runUntil(time: number): Promise<void> {
    while (await this.step(time));
  }

  /** Runs completions until `p` settles; fails if it cannot (nothing left to complete). */
  async run<T>(p: Promise<T>, maxSteps = 1_000_000): Promise<T> {
    let settled = false;
    const watched = p.finally(() => {
      settled = true;
    });
    watched.catch(() => {});
    for (let i = 0; i < maxSteps && !settled; i++) {
      if (!(await this.step()) && !settled) {
        throw new Error("VirtualClock: the promise waits on nothing left to run");
      }
    }
    return watched;
  }
}
