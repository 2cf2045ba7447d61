// The contract between the pure Raft core and the shell that drives it (simulator, node
// runtime, tests). Modeled on etcd-io/raft's RawNode: the shell calls tick/step/propose, then
// drains Ready, does what it says in the documented order, and calls advance().
//
//   loop:
//     on timer       -> tick()
//     on message     -> step(m)
//     on client op   -> propose(data) / readIndex(ctx)
//     if hasReady():
//       rd = ready()
//       persist rd.snapshot, rd.entries, rd.hardState     (durably: one fsync if rd.mustSync)
//       send rd.messages                                  (AFTER persisting; see below)
//       apply rd.snapshot (if any), then rd.committed    (in order)
//       serve rd.readStates once applied >= their index
//       advance(rd)
//
// Entries of type "conf" in rd.committed are the core's: the configuration they carry takes
// effect when advance() acknowledges them (proposeConfChange), and the state machine skips them
// (their `context` is the application's, decodeConfChangeEntry reads it). An exception from
// step()/tick() (LogInconsistencyError, or a broken invariant) means the node must stop.
//
// Leader exception (thesis §10.2.1): while the core is leader, messages of type "app",
// "heartbeat" and "snap" may be sent before the leader's own fsync completes; the core counts the
// leader's own log toward commit only when advance() reports it persisted. Votes and append
// responses must never leave before the state they promise is durable.

import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  Role,
  Snapshot,
} from "./types.js";

/** Seeded randomness, injected so the core stays deterministic. Returns a float in [0, 1). */
export type Random = () => number;

export interface RaftConfig {
  id: NodeId;
  /**
   * The first configuration's voters, this node included, for a node of a brand-new cluster.
   * A restarted node's configuration is its snapshot's, followed by the conf entries of its
   * log as they are applied again. `[]` for a node that joins a running cluster: it has no
   * configuration (never campaigns) until the leader's log or snapshot gives it one.
   */
  peers: NodeId[];
  /** Election timeout is drawn uniformly from [electionTick, 2*electionTick) ticks. */
  electionTick: number;
  /** Leader sends heartbeats every heartbeatTick ticks. Must be < electionTick. */
  heartbeatTick: number;
  random: Random;
  /** Pre-vote (thesis §9.6). Default true. */
  preVote?: boolean;
  /** Check-quorum / leader lease (thesis §6.2, §9.6). Default true. */
  checkQuorum?: boolean;
  /** Max entries in one AppendEntries. Default 256. */
  maxEntriesPerMsg?: number;
  /** Soft cap on the summed data bytes of one AppendEntries (at least one entry is sent). Default 1 MiB. */
  maxBytesPerMsg?: number;
  /** Max AppendEntries in flight (unacknowledged) per follower while replicating. Default 64. */
  maxInflight?: number;
  /**
   * Probes carry no entries: a follower whose match is unknown is first asked only whether it
   * holds (prevIndex, prevTerm), and entries stream once it says yes. Costs a round trip per
   * probe; saves resending large batches while backing up over a long divergent log. Default false.
   */
  emptyProbes?: boolean;
  /** State restored from storage on restart. Absent for a brand-new node. */
  restore?: PersistedState;
  /** Index of the last entry already applied by the state machine (restart); default snapshot index. */
  applied?: number;
}

/** Exactly what a node must have on stable storage to restart. */
export interface PersistedState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot, contiguous, ascending. */
  entries: Entry[];
}

export interface ReadState {
  /** Commit index the leader confirmed it still led at; serve the read once applied >= index. */
  index: number;
  /** The caller's id for this read, echoed back. */
  ctx: number;
}

/** Volatile facts for the shell (status endpoints, leader hints, metrics). */
export interface SoftState {
  role: Role;
  leader: NodeId; // NONE if unknown
}

export interface Ready {
  /** Present when term/vote/commit changed; persist before sending messages. */
  hardState?: HardState;
  /**
   * Entries to append to stable storage. entries[0].index may be <= the stored last index:
   * the storage then drops its entries from that index on before appending (a conflict
   * truncation decided by the core).
   */
  entries: Entry[];
  /** A snapshot received from the leader: persist it (dropping the log it covers), then apply it. */
  snapshot?: Snapshot;
  /** Committed entries to apply, in order, after the snapshot (if any). All are locally durable. */
  committed: Entry[];
  /** Messages to send after persisting (see leader exception above). */
  messages: Message[];
  /** Linearizable reads confirmed by a quorum. */
  readStates: ReadState[];
  /** Present when role or leader changed. */
  softState?: SoftState;
  /**
   * Present when the configuration in effect changed since the last Ready: a conf entry was
   * applied (acknowledged by advance()) or a snapshot from the leader installed. Informational:
   * the configuration is durable through the log and snapshots, the caller persists nothing
   * extra.
   */
  confState?: ConfState;
  /** True if hardState term/vote or entries changed, so an fsync is needed before sending. */
  mustSync: boolean;
}

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: "not-leader" | "transferring"; leader: NodeId };

/**
 * proposeConfChange's answer: as propose(), or refused because an earlier change is not yet
 * applied ("conf-pending", thesis §4.3: one change at a time) or because the change is not
 * valid against the current configuration ("invalid-conf", `error` says why).
 */
export type ConfChangeProposeResult =
  | ProposeResult
  | { ok: false; reason: "conf-pending" | "invalid-conf"; leader: NodeId; error: string };

export interface Status {
  id: NodeId;
  role: Role;
  term: number;
  leader: NodeId;
  vote: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  snapshotIndex: number;
  /** The incoming voters of the configuration in effect (all its voters outside a change). */
  voters: NodeId[];
  /** The configuration in effect: the last applied one (a copy). */
  conf: ConfState;
  /** Per follower and learner, leader only. */
  progress?: Record<
    NodeId,
    { match: number; next: number; state: "probe" | "replicate" | "snapshot" }
  >;
}

/**
 * What a tick did: an election timeout (a campaign started), a heartbeat interval (the leader
 * broadcast heartbeats), a check-quorum step-down, or an abandoned leader transfer (when a
 * heartbeat fires in the same tick, it is named instead).
 */
export type TimerFired = "election" | "heartbeat" | "check-quorum" | "transfer";

export interface RawNodeApi {
  /**
   * Advance logical time by one tick (election/heartbeat timers, check-quorum). Returns the timer
   * that fired, if any (for traces and metrics; the Ready says what it did).
   */
  tick(): TimerFired | null;
  /** Handle one message from the network. Messages for another node or malformed ones are ignored. */
  step(m: Message): void;
  /** Append data to the leader's log. Fails fast (no exception) when not leader. */
  propose(data: Uint8Array): ProposeResult;
  /**
   * Ask for a linearizable read point (thesis §6.4). On a leader, answered via Ready.readStates once
   * a heartbeat round confirms leadership. Returns false if this node cannot serve it (not leader,
   * or the leader has not yet committed an entry in its term).
   */
  readIndex(ctx: number): boolean;
  /**
   * Propose a membership change (thesis §4.3; etcd's ConfChangeV2). On success the entry is in
   * the leader's log; the change takes effect on each node when that node applies it (when
   * advance() acknowledges the Ready that carried it in `committed`), and Ready.confState then
   * reports the new configuration. A joint configuration entered with auto-leave is left by the
   * leader on its own once applied. Fails fast, without exception, like propose().
   */
  proposeConfChange(cc: ConfChange): ConfChangeProposeResult;
  /**
   * Start a leader transfer to `to` (thesis §3.10). Returns false if not leader, or `to` is not
   * a voter of the incoming configuration (a learner or an unknown node).
   */
  transferLeader(to: NodeId): boolean;
  /** Campaign at once (tests, operator). */
  campaign(): void;
  /**
   * Leader only (raftwork's; etcd-io/raft has none): become a follower of nobody in the same
   * term, so the other voters elect a new leader once their election timers fire. The shell
   * calls it when its own disk holds the cluster up (an fsync stalled past an election timeout,
   * or a full disk: docs/architecture.md, "Disk faults"). Returns false if not leader.
   * Optional so that test doubles of the core need not have it; RawNode has it.
   */
  stepDown?(): boolean;
  /**
   * Forget the leader if it is `id`, as etcd's ForgetLeader does, and campaign soon. The shell
   * calls it when the transport lost its connection to `id` (closed by the peer, or its process
   * died). A follower whose leader that is drops it (ending its lease, so it grants pre-votes at
   * once) and campaigns after a short random delay instead of waiting out its election timeout;
   * everything else ignores it. Only a hint: Raft stays safe whatever it reports.
   */
  forgetLeader(id: NodeId): void;
  /**
   * The application took a snapshot of its state at `index` (<= applied). The core drops log
   * entries up to `index` (absolute indexes stay valid) and will send `data` to followers that need
   * entries it no longer has. The snapshot carries the configuration in effect at `index`. An
   * index <= the current snapshot's is ignored.
   * Returns the new snapshot (with the term and conf the caller needs to persist it), or null if
   * the call was ignored.
   */
  compact(index: number, data: Uint8Array): Snapshot | null;
  hasReady(): boolean;
  ready(): Ready;
  /**
   * Acknowledge the last Ready as persisted, sent and applied. A Ready may be taken before the
   * previous one is advanced (group commit: it then holds only what is new); its messages still
   * wait until every earlier Ready is durable too, even if its own mustSync is false. Advance
   * each Ready exactly once, in the order they were taken.
   */
  advance(rd: Ready): void;
  status(): Status;
}
