// Pending linearizable reads on a leader (thesis §6.4, ReadIndex). Each read records the commit
// index at the time it was asked and waits for a heartbeat round, tagged with a round id, to be
// acknowledged by a majority: proof that no newer leader existed when the round was sent.

import type { ReadState } from "./api.js";
import { jointHasQuorum } from "./quorum.js";
import type { ConfState, NodeId } from "./types.js";

interface PendingRead {
  round: number;
  index: number;
  ctx: number;
  acks: Set<NodeId>;
}

export class ReadOnly {
  private pending: PendingRead[] = [];
  private seq = 0;

  /** Records a read at commit index `index`; returns the heartbeat round id that confirms it. */
  add(index: number, ctx: number, self: NodeId): number {
    const round = ++this.seq;
    this.pending.push({ round, index, ctx, acks: new Set([self]) });
    return round;
  }

  /** The newest unconfirmed round (0 if none): regular heartbeats carry it, retrying lost ones. */
  lastRound(): number {
    return this.pending[this.pending.length - 1]?.round ?? 0;
  }

  /**
   * `from` answered heartbeat round `round`. Returns the reads now confirmed, oldest first.
   * A reply to round r proves we still led when r was sent, which was after every earlier round
   * was recorded, so it acknowledges all of them.
   */
  ack(from: NodeId, round: number, conf: ConfState): ReadState[] {
    for (const r of this.pending) if (r.round <= round) r.acks.add(from);
    const done: ReadState[] = [];
    while (this.pending.length > 0) {
      const head = this.pending[0] as PendingRead;
      if (!jointHasQuorum(conf, (id) => head.acks.has(id))) break;
      this.pending.shift();
      done.push({ index: head.index, ctx: head.ctx });
    }
    return done;
  }

  /** Leadership lost: pending reads can never be confirmed (the caller times them out). */
  reset(): void {
    this.pending = [];
  }
}
