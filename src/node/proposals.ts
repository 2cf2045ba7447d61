// Proposers waiting for their entry to be applied. A proposal is identified by the (index, term)
// the core assigned it: if the entry applied at that index has another term, the leader that
// accepted the proposal lost its log suffix to a newer leader and the proposal's fate is unknown
// to this node (Raft paper §5.3/§5.4: a new leader may overwrite uncommitted entries).

import { ProposalTimeoutError } from "./errors.js";

interface Pending {
  term: number;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class ProposalTracker {
  private readonly pending = new Map<number, Pending>();

  get size(): number {
    return this.pending.size;
  }

  /** Registers a proposal; rejects with ProposalTimeoutError after timeoutMs. */
  add(index: number, term: number, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(index);
        reject(new ProposalTimeoutError());
      }, timeoutMs);
      timer.unref();
      this.pending.set(index, { term, resolve, reject, timer });
    });
  }

  /**
   * The entry at `index` with `term` was applied (outcome is the state machine's result).
   * A proposer waiting on that index with another term gets `lost()` instead.
   */
  settle(index: number, term: number, result: unknown, lost: () => Error): void {
    const p = this.pending.get(index);
    if (p === undefined) return;
    this.pending.delete(index);
    clearTimeout(p.timer);
    if (p.term === term) p.resolve(result);
    else p.reject(lost());
  }

  /** Rejects every proposal at or below `index` (covered by an installed snapshot). */
  failUpTo(index: number, err: () => Error): void {
    for (const [i, p] of this.pending) {
      if (i <= index) {
        this.pending.delete(i);
        clearTimeout(p.timer);
        p.reject(err());
      }
    }
  }

  failAll(err: () => Error): void {
    this.failUpTo(Number.POSITIVE_INFINITY, err);
  }
}
