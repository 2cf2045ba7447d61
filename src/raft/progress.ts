// The leader's view of one follower's log (Raft paper §5.3 nextIndex/matchIndex), plus the flow
// control etcd-io/raft layers on top of it so a leader neither floods a slow follower nor waits
// a round trip per entry.
//
//                   append accepted
//     start    +-------------------------+
//       |      |                         v
//       |  +-------+  rejected /      +-----------+
//       +->| probe |<-----------------| replicate |
//          +-------+  lost appends    +-----------+
//            |   ^                          ^
//   next was |   | snapshot presumed lost:  | snapshot acknowledged
//  compacted |   | sent again (stays here)  | (match >= snapshot index)
//            v   |                          |
//          +----------+                     |
//          | snapshot |---------------------+
//          +----------+
//
// probe:     at most one AppendEntries in flight; `next` walks back on rejection (fast backup).
//            Paused after each send until a reply that moves `next` or a heartbeat response
//            arrives (so a rejection that cannot move it costs one probe per heartbeat).
// replicate: the follower matches up to `match`; the leader streams entries optimistically
//            (`next` jumps past what it sent), with at most `maxInflight` unacknowledged
//            messages.
// snapshot:  the entries the follower needs were compacted away; one InstallSnapshot is in
//            flight and nothing else is sent until it is acknowledged.

import { Inflights } from "./inflights.js";

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  /** Highest index known to be replicated on the follower (§5.3 matchIndex). */
  match = 0;
  /** Index of the next entry to send (§5.3 nextIndex). Always in [match+1, lastIndex+1]. */
  next: number;
  state: ProgressState = "probe";
  /** In probe state: an append is in flight, wait for its answer before sending another. */
  probeSent = false;
  /** In snapshot state: the snapshot index being installed. */
  pendingSnapshot = 0;
  /** Leader tick at which the snapshot was sent (to retry one presumed lost). */
  snapshotSentAt = 0;
  /** Highest commit index sent to this follower in an AppendEntries. */
  sentCommit = 0;
  /** Leader tick of the last message from this follower (check-quorum, thesis §6.2). */
  lastHeard: number;
  readonly inflights: Inflights;

  /** `now` counts as having heard from the follower: a new leader gets a full timeout. */
  constructor(next: number, maxInflight: number, now: number) {
    if (next < 1) throw new Error(`progress: next ${next} < 1`);
    this.next = next;
    this.lastHeard = now;
    this.inflights = new Inflights(maxInflight);
  }

  becomeProbe(): void {
    this.reset("probe");
    this.next = this.match + 1;
  }

  becomeReplicate(): void {
    this.reset("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number, now: number): void {
    this.reset("snapshot");
    this.pendingSnapshot = snapshotIndex;
    this.snapshotSentAt = now;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /** Records an accepted append up to n. Returns false if it tells nothing new (stale reply). */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * Handles a rejection of the append whose prevIndex was `rejected`, with `hint` the index the
   * leader computed from the follower's conflict term/index (§5.3 fast backup). Returns true if
   * the leader should send again at once: `next` moved back (in probe state), or replication
   * must restart from match (in replicate state; the caller moves to probe). Returns false for
   * a stale rejection, one that no longer matches what is in flight, and for one that cannot
   * move `next`.
   *
   * The last case is a probe at prevIndex = match rejected: the follower no longer holds what it
   * acknowledged (a duplicated reply, or a log that lost entries). Sending the same probe again
   * at once would be rejected again, forever and as fast as the network allows; instead the
   * probe stays outstanding, and the next heartbeat response unpauses it (at most one probe per
   * heartbeat interval).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      // Everything up to match is known good: a rejection at or below it is a reordered reply.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the reply to the one outstanding probe (prevIndex = next-1) counts.
    if (this.next - 1 !== rejected) return false;
    const next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    if (next >= this.next) return false;
    this.next = next;
    this.probeSent = false;
    return true;
  }

  /** Bookkeeping after sending entries up to `last` (or a probe with none). */
  sentEntries(count: number, last: number): void {
    if (this.state === "replicate") {
      if (count > 0) {
        this.next = last + 1;
        this.inflights.add(last);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    } else {
      throw new Error("progress: sent entries in snapshot state");
    }
  }

  /** True when the leader must not send this follower another append right now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }
}
