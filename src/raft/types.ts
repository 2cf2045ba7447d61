// Plain data shared by the Raft core and every shell around it (simulator, node runtime,
// storage, transport). Everything here is structured-clone / msgpack friendly: numbers,
// strings, booleans, arrays, plain objects and Uint8Array. No classes, no Maps.

/** A member's id. Positive integer, unique in the cluster. */
export type NodeId = number;

/** Sentinel for "no node" (no vote cast, no leader known). */
export const NONE: NodeId = 0;

export type EntryType = "normal" | "conf";

/**
 * One log entry. Indexes are absolute and start at 1; index 0 / term 0 is the empty log's
 * sentinel. An entry with type "normal" and empty data is the no-op a new leader appends
 * (§8 of the Raft paper: it commits the previous terms' entries indirectly); state machines skip
 * it.
 */
export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
}

/** The state Raft must persist before answering any message (Figure 2, "Persistent state"). */
export interface HardState {
  term: number;
  /** Candidate voted for in `term`, or NONE. */
  vote: NodeId;
  /** Highest index known committed. Persisting it is an optimisation, not a safety need. */
  commit: number;
}

/**
 * A cluster configuration (Raft thesis §4.3), shaped like etcd-io/raft's ConfState. Outside a
 * membership change only `voters` and `learners` are non-empty. In a joint configuration
 * C_old,new, `votersOutgoing` holds C_old's voters and `voters` C_new's: elections and commitment
 * then need a majority of each. `learnersNext` are voters of C_old that become learners when the
 * joint configuration is left (they cannot be learners while they still vote in C_old), and
 * `autoLeave` says the leader leaves the joint configuration on its own once it is committed.
 * Every id list is sorted ascending without duplicates; a node is in at most one of `voters`
 * and `learners`.
 */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  votersOutgoing: NodeId[];
  learnersNext: NodeId[];
  autoLeave: boolean;
}

/** The configuration of a cluster of `voters` alone (a new cluster, no change in progress). */
export function simpleConf(voters: readonly NodeId[]): ConfState {
  return {
    voters: [...new Set(voters)].sort((a, b) => a - b),
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
}

/** A deep copy (ConfState arrays are never shared between owners). */
export function copyConf(c: ConfState): ConfState {
  return {
    voters: c.voters.slice(),
    learners: c.learners.slice(),
    votersOutgoing: c.votersOutgoing.slice(),
    learnersNext: c.learnersNext.slice(),
    autoLeave: c.autoLeave,
  };
}

/** One member's change within a configuration change (etcd-io/raft's ConfChangeSingle). */
export interface ConfChangeSingle {
  /** add-voter also promotes a learner; add-learner also demotes a voter. */
  type: "add-voter" | "add-learner" | "remove";
  node: NodeId;
}

/**
 * How a change is carried out (etcd's ConfChangeTransition). "auto": a simple change if at
 * most one voter changes, else a joint configuration left automatically; "joint": always
 * through a joint configuration, left automatically once committed; "joint-explicit": a joint
 * configuration that stays until a change with no `changes` leaves it.
 */
export type ConfChangeTransition = "auto" | "joint" | "joint-explicit";

/**
 * A membership change asked of the leader (thesis §4.3; etcd's ConfChangeV2). An empty
 * `changes` leaves the current joint configuration. `context` is the application's (the node
 * layer keeps members' addresses there); Raft carries it in the entry and never reads it.
 */
export interface ConfChange {
  changes: ConfChangeSingle[];
  transition?: ConfChangeTransition;
  context?: Uint8Array;
}

/**
 * What a "conf" entry holds (confchange-codec.ts encodes it): the change as asked, and the
 * configuration that results from it. The result is computed once, by the leader that proposed
 * it, from its configuration at the time (the one the previous change produced: a leader
 * proposes a change only once every earlier one is applied), so every node adopts the same
 * configuration at this index without recomputing it.
 */
export interface ConfChangeEntry {
  changes: ConfChangeSingle[];
  transition: ConfChangeTransition;
  context: Uint8Array;
  conf: ConfState;
}

export interface SnapshotMetadata {
  /** Last index the snapshot covers (absolute). */
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  conf: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** The application's serialized state machine at `metadata.index`. Opaque to Raft. */
  data: Uint8Array;
}

export type Role = "follower" | "precandidate" | "candidate" | "leader";

// ---------------------------------------------------------------------------------------------
// Messages. One-way; every message carries from/to/term. Requests and responses are separate
// messages matched by content, never by a pending-call table, so a late or duplicated reply is
// just another message that the term and index checks discard.

interface MessageBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

/**
 * RequestVote (§5.2) and its pre-vote twin (thesis §9.6). A pre-vote carries the term the
 * sender *would* campaign in and changes no state at the receiver.
 */
export interface VoteRequest extends MessageBase {
  type: "vote" | "prevote";
  lastLogIndex: number;
  lastLogTerm: number;
  /** Set when campaigning because of a leader transfer: bypasses the leader lease check. */
  transfer?: boolean;
}

export interface VoteResponse extends MessageBase {
  type: "vote-resp" | "prevote-resp";
  granted: boolean;
}

/** AppendEntries (§5.3). `entries` may be empty (a probe). */
export interface AppendRequest extends MessageBase {
  type: "app";
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}

/**
 * Reply to AppendRequest or InstallSnapshot.
 * success: `matchIndex` is the last index known to match the leader's log.
 * reject: `rejectIndex` echoes the request's prevIndex (so a stale rejection can be recognised),
 * and `conflictTerm`/`conflictIndex` give the fast backup hint (§5.3, "optimization").
 */
export interface AppendResponse extends MessageBase {
  type: "app-resp";
  success: boolean;
  matchIndex: number;
  rejectIndex: number;
  conflictTerm: number;
  conflictIndex: number;
}

/** Leader liveness + commit propagation; `ctx` carries a ReadIndex round's id when non-zero. */
export interface Heartbeat extends MessageBase {
  type: "heartbeat";
  commit: number;
  ctx: number;
}

export interface HeartbeatResponse extends MessageBase {
  type: "heartbeat-resp";
  ctx: number;
}

/** InstallSnapshot (§7). Whole snapshot; a transport may split it into chunks on the wire. */
export interface SnapshotRequest extends MessageBase {
  type: "snap";
  snapshot: Snapshot;
}

/**
 * Leader transfer (thesis §3.10): tells the target to campaign at once. `index` is the leader's
 * last index when it sent this, which the target is known to hold: the target acts only while
 * its log still ends there (raw-node.ts, stepFollower), so a late TimeoutNow of an abandoned
 * transfer is recognised.
 */
export interface TimeoutNow extends MessageBase {
  type: "timeout-now";
  index: number;
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNow;

export type MessageType = Message["type"];
