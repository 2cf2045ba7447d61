// What a service built on Raft (the KV store) sees of a running node. The node runtime
// (src/node/raft-node.ts) implements RaftService; the service implements StateMachine. Nothing
// here knows what the service is: where its clients connect, or how it reaches the leader's
// copy of it, is the service's business (docs/architecture.md, "Layers").

import type { ConfState, Entry, NodeId, Role } from "../raft/types.js";

/**
 * The replicated application. Called by the node runtime only, one call at a time, in log order.
 * apply() must be deterministic: same entries, same state, same results on every node.
 */
export interface StateMachine {
  /** Apply one committed entry (never the empty no-op). The result goes to the local proposer, if any. */
  apply(entry: Entry): unknown;
  /** Serialize the whole state (called after applying up to some index). */
  snapshot(): Uint8Array;
  /**
   * Optional: the bytes snapshot() would return at the time of the call, produced without
   * blocking the event loop for long; apply() may be called meanwhile and must not change the
   * result. Resolves with null if restore() was called before it finished.
   */
  snapshotAsync?(): Promise<Uint8Array | null>;
  /** Replace the whole state with a snapshot's. */
  restore(data: Uint8Array): void;
}

export interface ServiceStatus {
  id: NodeId;
  role: Role;
  term: number;
  /** Leader id, or null when none is known. */
  leader: NodeId | null;
  commitIndex: number;
  appliedIndex: number;
  /** The voters (of the incoming half, during a joint change). */
  members: NodeId[];
  /** The configuration in effect (thesis §4.3): voters, learners, outgoing voters. */
  conf?: ConfState;
  /**
   * Leader only: each follower's replication progress from the core's tracker (Raft paper
   * §5.3 matchIndex/nextIndex) and its lag, the leader's last log index minus `match`.
   */
  progress?: FollowerProgress[];
  /** This member's raised alarms (etcd's names): "NOSPACE" while its disk is full. */
  alarms?: string[];
}

export interface FollowerProgress {
  id: NodeId;
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
  lag: number;
}

export interface RaftService {
  /**
   * Propose data and resolve with StateMachine.apply's result once the entry is committed and
   * applied on this node. Rejects with NotLeaderError (certainly not proposed), or
   * ProposalTimeoutError / LeadershipLostError (may have been committed: outcome unknown).
   */
  propose(data: Uint8Array, timeoutMs?: number): Promise<unknown>;
  /**
   * Linearizable read barrier (ReadIndex, thesis §6.4): resolves once this node's state machine
   * reflects every write acknowledged before the call. Leader only; rejects like propose().
   */
  readBarrier(timeoutMs?: number): Promise<void>;
  status(): ServiceStatus;
  /**
   * Optional: asks the leader to hand leadership to member `to` (thesis §3.10). Returns false
   * when this node is not the leader or `to` is not a voter; the transfer itself may still fail
   * (it aborts after an election timeout): watch status() for its outcome.
   */
  transferLeader?(to: NodeId): boolean;
  /**
   * Optional: clears this member's alarms (etcd's Alarm DEACTIVATE) and retries what raised
   * them at once; a disk still full raises NOSPACE again. Returns the alarms that were raised.
   */
  disarmAlarms?(): string[];
  /**
   * Optional: where the state machine is now: the last applied index, its entry's term and the
   * configuration in effect there. Read in the same turn of the event loop as a snapshot of
   * the state machine, it names that snapshot's place in the log (a backup: src/kv/backup.ts).
   */
  appliedPoint?(): AppliedPoint;
}

export interface AppliedPoint {
  index: number;
  term: number;
  conf: ConfState;
}
