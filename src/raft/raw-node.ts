// The Raft state machine (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm", and Ongaro's thesis), in etcd-io/raft's shape: everything enters through step(),
// tick() or propose(); everything leaves through ready(). The role is a pair of function
// references (stepRole/tickRole), swapped by the become* methods. No I/O, no clock, no global
// randomness: the caller owns all of them (see api.ts for the driving loop).
//
// Ownership: arrays and entries in a Ready belong to the caller once handed out, but the Entry
// and Snapshot objects are shared with the core's log: treat them as immutable.
//
// Pipelining: the caller may call ready() again before advancing the previous Ready (group
// commit). Each Ready then holds only what is new since the last one, and advance() must be
// called once per Ready, in order. Messages of a Ready must be sent only after that Ready (and
// every earlier one) is durable, except the leader's app/heartbeat/snap (api.ts).

import type {
  ConfChangeProposeResult,
  PersistedState,
  ProposeResult,
  RaftConfig,
  RawNodeApi,
  ReadState,
  Ready,
  SoftState,
  Status,
  TimerFired,
} from "./api.js";
import { applyConfChange, isVoter, members } from "./confchange.js";
import { decodeConfChangeEntry, encodeConfChangeEntry } from "./confchange-codec.js";
import { LogInconsistencyError } from "./errors.js";
import { RaftLog } from "./log.js";
import { mutant } from "./mutants.js";
import { Progress } from "./progress.js";
import { jointCommittedIndex, jointHasQuorum, jointVoteResult } from "./quorum.js";
import { ReadOnly } from "./read-only.js";
import type {
  AppendRequest,
  AppendResponse,
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Heartbeat,
  HeartbeatResponse,
  Message,
  NodeId,
  Role,
  Snapshot,
  SnapshotRequest,
  VoteRequest,
  VoteResponse,
} from "./types.js";
import { copyConf, NONE, simpleConf } from "./types.js";
import { isWellFormed } from "./validate.js";

const DEFAULT_MAX_ENTRIES = 256;
const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_MAX_INFLIGHT = 64;

/** A message before the sender stamps its id and current term on it. */
type Outgoing = DistributiveOmit<Message, "from" | "term">;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1)
    throw new Error(`raft config: ${name} must be a positive integer, got ${v}`);
  return v;
}

export class RawNode implements RawNodeApi {
  readonly id: NodeId;
  private term = 0;
  private vote: NodeId = NONE;
  private leader: NodeId = NONE;
  private role: Role = "follower";
  private readonly log: RaftLog;
  /**
   * The configuration in effect: the last one applied (thesis §4.3; see applyConf for why a
   * change takes effect when applied, not when appended). The one place membership lives.
   */
  private conf: ConfState;
  /** The configuration before any entry of the log: the restored snapshot's, or `peers`. */
  private readonly initialConf: ConfState;
  /** The configuration changed since the last Ready (reported as Ready.confState). */
  private confChanged = false;
  /**
   * Leader: index of the newest conf entry it may have in its log; another change may be
   * proposed only once it is applied (one change at a time, thesis §4.3). Set to the last index
   * on election, since the log may hold an unapplied change from an earlier term.
   */
  private pendingConfIndex = 0;
  /**
   * Leader: the newest configuration in its log no longer has it as a voter, so it steps down
   * once that configuration is applied (applyConf). Until then it takes no new entries, so its
   * log ends at that change: once it steps down, a follower holding its whole log can win the
   * election that follows even if it does not know the change committed (it then still counts
   * the old leader's vote, which the old leader grants a log as long as its own). Otherwise the
   * old leader's extra entries could refuse it that vote, with nobody left to tell the commit.
   */
  private leaving = false;
  /** Per-follower (and learner) replication state; leader only. */
  private readonly progress = new Map<NodeId, Progress>();
  /** Votes received in the current (pre-)campaign. */
  private readonly votes = new Map<NodeId, boolean>();

  private stepRole: (m: Message) => void = (m) => this.stepFollower(m);
  private tickRole: () => TimerFired | null = () => this.tickElection();

  private readonly electionTick: number;
  private readonly heartbeatTick: number;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxInflight: number;
  private readonly emptyProbes: boolean;

  /** Ticks since the last election timeout reset (follower/candidate) or quorum check (leader). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Drawn from [electionTick, 2*electionTick) on every reset (§5.2 randomized timeouts). */
  private randomizedElectionTimeout = 0;
  /** The election timer was shortened by forgetLeader (see there). */
  private hastened = false;
  /** Total ticks, a logical clock for retrying a snapshot presumed lost. */
  private ticks = 0;

  /** Target of an ongoing leader transfer (thesis §3.10), or NONE. */
  private leadTransferee: NodeId = NONE;
  /** Leader ticks since the ongoing transfer started; it is abandoned after an election timeout. */
  private transferElapsed = 0;
  /** New entries or a new commit index must go out to every follower at the next ready(). */
  private bcastPending = false;
  private readonly readOnly = new ReadOnly();

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHard: HardState;
  private prevSoft: SoftState;

  constructor(config: RaftConfig) {
    this.id = positiveInt("id", config.id);
    this.electionTick = positiveInt("electionTick", config.electionTick);
    this.heartbeatTick = positiveInt("heartbeatTick", config.heartbeatTick);
    if (this.heartbeatTick >= this.electionTick)
      throw new Error("raft config: heartbeatTick must be < electionTick");
    this.random = config.random;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxEntries = positiveInt(
      "maxEntriesPerMsg",
      config.maxEntriesPerMsg ?? DEFAULT_MAX_ENTRIES,
    );
    this.maxBytes = positiveInt("maxBytesPerMsg", config.maxBytesPerMsg ?? DEFAULT_MAX_BYTES);
    this.maxInflight = positiveInt("maxInflight", config.maxInflight ?? DEFAULT_MAX_INFLIGHT);
    this.emptyProbes = config.emptyProbes ?? false;

    const r: PersistedState = config.restore ?? {
      hardState: { term: 0, vote: NONE, commit: 0 },
      snapshot: null,
      entries: [],
    };
    this.log = RaftLog.restore(r.snapshot, r.entries, r.hardState.commit);
    for (const v of config.peers) positiveInt("peer id", v);
    // A joining node (no peers, no snapshot) has no configuration until the leader gives it one.
    this.initialConf =
      r.snapshot !== null ? copyConf(r.snapshot.metadata.conf) : simpleConf(config.peers);
    this.conf = copyConf(this.initialConf);
    if (config.applied !== undefined) {
      const a = config.applied;
      if (a < this.log.snapshotIndex() || a > this.log.lastIndex())
        throw new Error(
          `raft config: applied ${a} outside [${this.log.snapshotIndex()}, ${this.log.lastIndex()}]`,
        );
      // Applied entries were committed, even if the persisted commit index lagged behind.
      this.log.commitTo(a);
      this.log.appliedTo(a);
      // The configuration in effect includes the changes the caller already applied.
      const done = this.log.slice(this.log.firstIndex(), a + 1) ?? [];
      for (const e of done) if (e.type === "conf") this.conf = confOf(e);
    }
    this.term = r.hardState.term;
    this.vote = r.hardState.vote;
    this.prevHard = { term: this.term, vote: this.vote, commit: this.log.committed };
    this.becomeFollower(this.term, NONE);
    this.prevSoft = { role: this.role, leader: this.leader };
  }

  // -------------------------------------------------------------------------------------------
  // Public API (api.ts)

  tick(): TimerFired | null {
    this.ticks++;
    return this.tickRole();
  }

  step(m: Message): void {
    if (!isWellFormed(m) || m.to !== this.id || m.from === this.id) return;
    // Messages are taken from any node, not only from members of our configuration: a node
    // learns its configuration from the leader's log, and ours may be older than the
    // candidate's (a voter we have not applied yet may need our vote). A removed node that
    // campaigns with a higher term is kept out by the lease below (thesis §4.2.3, §9.6).

    // A leader sends a heartbeat's commit as min(match, commit): never beyond what we
    // acknowledged holding. If it is beyond our log, the log lost acknowledged entries: throw
    // (errors.ts) before any state changes, so the shell stops the node.
    if (m.type === "heartbeat" && m.term >= this.term && m.commit > this.log.lastIndex())
      throw new LogInconsistencyError(this.id, m.from, m.commit, this.log.lastIndex());

    // A TimeoutNow counts only from the leader of our term (see stepFollower); one from a
    // later term is from a leader we have not heard of, so it proves nothing.
    if (m.type === "timeout-now" && m.term !== this.term) return;
    if (m.term > this.term) {
      if (m.type === "vote" || m.type === "prevote") {
        // Thesis §6.2/§9.6 lease: a follower that heard from a live leader within the minimum
        // election timeout ignores requests to replace it, unless the leader itself asked
        // (transfer), so a partitioned node that rejoins cannot disrupt the cluster.
        const inLease =
          this.checkQuorum && this.leader !== NONE && this.electionElapsed < this.electionTick;
        if (inLease && m.transfer !== true) return;
      }
      if (m.type === "prevote") {
        // A pre-vote asks about a term the sender has not entered: our term stays (§9.6).
      } else if (m.type === "prevote-resp" && m.granted) {
        // A granted pre-vote carries the term we would campaign in; the candidate counts it.
      } else {
        const fromLeader = m.type === "app" || m.type === "heartbeat" || m.type === "snap";
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term && !(m.type === "app-resp" && mutant("stale-append-reply"))) {
      if ((this.checkQuorum || this.preVote) && (m.type === "app" || m.type === "heartbeat")) {
        // A stale leader that was cut off: with pre-vote/check-quorum nobody else would tell it
        // about the new term (its vote requests are ignored), so answer and make it step down.
        this.send({
          type: "app-resp",
          to: m.from,
          success: false,
          matchIndex: 0,
          rejectIndex: 0,
          conflictTerm: 0,
          conflictIndex: 0,
        });
      } else if (m.type === "prevote") {
        this.send({ type: "prevote-resp", to: m.from, granted: false });
      }
      return;
    }

    if (m.type === "vote" || m.type === "prevote") this.handleVote(m);
    else this.stepRole(m);
  }

  propose(data: Uint8Array): ProposeResult {
    if (this.role !== "leader") return { ok: false, reason: "not-leader", leader: this.leader };
    // Thesis §3.10: during a transfer new entries would only delay the target catching up.
    if (this.leadTransferee !== NONE)
      return { ok: false, reason: "transferring", leader: this.leader };
    // About to step down (see `leaving`): the caller should look for the next leader.
    if (this.leaving) return { ok: false, reason: "not-leader", leader: NONE };
    const index = this.log.lastIndex() + 1;
    this.log.append([{ index, term: this.term, type: "normal", data }]);
    this.bcastPending = true;
    return { ok: true, index, term: this.term };
  }

  readIndex(ctx: number): boolean {
    if (this.role !== "leader") return false;
    // Thesis §6.4: until the leader commits an entry of its term it may not know the latest
    // commit index (earlier terms' entries commit only indirectly).
    if (this.log.term(this.log.committed) !== this.term) return false;
    const index = this.log.committed;
    if (jointHasQuorum(this.conf, (id) => id === this.id) || mutant("read-without-quorum")) {
      this.readStates.push({ index, ctx });
      return true;
    }
    this.bcastHeartbeat(this.readOnly.add(index, ctx, this.id));
    return true;
  }

  transferLeader(to: NodeId): boolean {
    // Only a voter can win the election the transfer asks for (a learner or a stranger never
    // campaigns), so anything else is refused.
    if (this.role !== "leader" || to === this.id || !this.conf.voters.includes(to)) return false;
    if (this.leadTransferee === to) return true;
    this.leadTransferee = to;
    // The transfer aborts if it has not completed within an election timeout (thesis §3.10).
    this.transferElapsed = 0;
    if (!this.maybeSendTimeoutNow()) this.sendAppend(to, true);
    return true;
  }

  campaign(): void {
    this.startCampaign(false);
  }

  stepDown(): boolean {
    if (this.role !== "leader") return false;
    // Same term, vote kept: a follower of nobody, which sends nothing until it hears a leader
    // or its election timer fires. Stepping down is always safe (§5.2).
    this.becomeFollower(this.term, NONE);
    return true;
  }

  /**
   * etcd's ForgetLeader, plus an early campaign.
   * Not in the Raft paper. A leader whose process dies (a crash, kill -9) closes its connections
   * at once, long before a follower's election timer notices the missing heartbeats. A follower
   * told so stops counting on that leader: it forgets it (which also ends its lease, so it grants
   * the other followers' pre-votes) and campaigns after a random 1..electionTick ticks instead
   * of what is left of [electionTick, 2 * electionTick). Safety does not depend on timing, and
   * pre-vote keeps a false alarm harmless: while another follower still hears from the leader,
   * its lease rejects the pre-vote, and the leader's next message restores the normal timer.
   */
  forgetLeader(id: NodeId): void {
    if (this.role !== "follower" || id !== this.leader) return;
    this.leader = NONE;
    this.hastened = true;
    // As if the leader's last message were an election timeout old: the rest of the timer is
    // drawn from a range as wide as a normal one, so two followers told at once tie no more
    // often than in any election (§5.2).
    const soon = this.electionElapsed + 1 + Math.floor(this.random() * this.electionTick);
    this.randomizedElectionTimeout = Math.min(this.randomizedElectionTimeout, soon);
  }

  compact(index: number, data: Uint8Array): Snapshot | null {
    if (index <= this.log.snapshotIndex()) return null;
    return this.log.compact(index, data, this.confAt(index)) ? this.log.snapshot : null;
  }

  proposeConfChange(cc: ConfChange): ConfChangeProposeResult {
    if (this.role !== "leader") return { ok: false, reason: "not-leader", leader: this.leader };
    if (this.leadTransferee !== NONE)
      return { ok: false, reason: "transferring", leader: this.leader };
    if (this.leaving) return { ok: false, reason: "not-leader", leader: NONE };
    // Thesis §4.3: one change at a time. The next is computed from the configuration the
    // previous one produced, so that one must be in effect here first.
    if (this.pendingConfIndex > this.log.applied) {
      const error = `a configuration change at index ${this.pendingConfIndex} is not applied yet`;
      return { ok: false, reason: "conf-pending", leader: this.leader, error };
    }
    const next =
      cc.context === undefined || cc.context instanceof Uint8Array
        ? applyConfChange(this.conf, cc)
        : { ok: false as const, error: "context must be binary data (a Uint8Array)" };
    if (!next.ok)
      return { ok: false, reason: "invalid-conf", leader: this.leader, error: next.error };
    const data = encodeConfChangeEntry({
      changes: cc.changes.map((c) => ({ type: c.type, node: c.node })),
      transition: cc.transition ?? "auto",
      context: cc.context ?? new Uint8Array(0),
      conf: next.value,
    });
    const index = this.log.lastIndex() + 1;
    this.log.append([{ index, term: this.term, type: "conf", data }]);
    this.pendingConfIndex = index;
    this.leaving = !isVoter(next.value, this.id);
    this.bcastPending = true;
    return { ok: true, index, term: this.term };
  }

  hasReady(): boolean {
    return (
      (this.bcastPending && this.role === "leader") ||
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.hasUnstable() ||
      this.log.hasCommitted() ||
      this.log.hasSnapshot() ||
      !sameHardState(this.hardState(), this.prevHard) ||
      this.role !== this.prevSoft.role ||
      this.leader !== this.prevSoft.leader ||
      this.confChanged
    );
  }

  ready(): Ready {
    this.flushAppends();
    const rd: Ready = {
      entries: this.log.takeUnstable(),
      committed: this.log.takeCommitted(),
      messages: this.msgs,
      readStates: this.readStates,
      mustSync: false,
    };
    this.msgs = [];
    this.readStates = [];
    const snapshot = this.log.takeSnapshot();
    if (snapshot !== undefined) rd.snapshot = snapshot;
    const hs = this.hardState();
    if (!sameHardState(hs, this.prevHard)) {
      rd.hardState = hs;
      rd.mustSync = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote;
      this.prevHard = hs;
    }
    if (rd.entries.length > 0 || snapshot !== undefined) rd.mustSync = true;
    if (this.role !== this.prevSoft.role || this.leader !== this.prevSoft.leader) {
      this.prevSoft = { role: this.role, leader: this.leader };
      rd.softState = { ...this.prevSoft };
    }
    if (this.confChanged) {
      this.confChanged = false;
      rd.confState = copyConf(this.conf);
    }
    return rd;
  }

  advance(rd: Ready): void {
    if (rd.snapshot !== undefined) this.log.snapshotApplied(rd.snapshot);
    this.log.stableTo(rd.entries);
    for (const e of rd.committed) {
      this.log.appliedTo(e.index);
      if (e.type === "conf") this.applyConf(confOf(e));
    }
    // The leader's own log counts toward commit only once durable (thesis §10.2.1).
    if (this.role === "leader" && this.maybeCommit()) this.bcastPending = true;
    this.maybeAutoLeave();
  }

  status(): Status {
    const s: Status = {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      snapshotIndex: this.log.snapshotIndex(),
      voters: [...this.conf.voters],
      conf: copyConf(this.conf),
    };
    if (this.role === "leader") {
      s.progress = {};
      for (const [id, pr] of this.progress)
        s.progress[id] = { match: pr.match, next: pr.next, state: pr.state };
    }
    return s;
  }

  // -------------------------------------------------------------------------------------------
  // Role transitions

  /**
   * Moves to `term`. votedFor is reset here and only here, exactly when the term changes
   * (Figure 2: one vote per term).
   */
  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.leader = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.drawElectionTimeout();
    this.leadTransferee = NONE;
    this.transferElapsed = 0;
    this.leaving = false;
    this.votes.clear();
    this.progress.clear();
    this.readOnly.reset();
    this.bcastPending = false;
  }

  private becomeFollower(term: number, leader: NodeId): void {
    this.reset(term);
    this.leader = leader;
    this.role = "follower";
    this.stepRole = (m) => this.stepFollower(m);
    this.tickRole = () => this.tickElection();
  }

  private becomePreCandidate(): void {
    // Thesis §9.6: no term change, no vote cast; only find out whether we could win.
    this.votes.clear();
    this.leader = NONE;
    this.role = "precandidate";
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.leader = this.id;
    this.role = "leader";
    this.stepRole = (m) => this.stepLeader(m);
    this.tickRole = () => this.tickHeartbeat();
    const next = this.log.lastIndex() + 1;
    for (const id of members(this.conf))
      if (id !== this.id) this.progress.set(id, new Progress(next, this.maxInflight, this.ticks));
    // Any conf entry in the log must be applied before another change (see pendingConfIndex).
    this.pendingConfIndex = this.log.lastIndex();
    const unapplied = this.log.slice(this.log.applied + 1, Infinity) ?? [];
    const lastConf = unapplied.findLast((e) => e.type === "conf");
    this.leaving = lastConf !== undefined && !isVoter(confOf(lastConf), this.id);
    // §8: a no-op of the new term lets the leader commit (and so learn) everything before it.
    this.log.append([{ index: next, term: this.term, type: "normal", data: new Uint8Array(0) }]);
    this.bcastPending = true;
  }

  /** Only a voter campaigns (a learner, or a node outside the configuration, never does). */
  private promotable(): boolean {
    return isVoter(this.conf, this.id);
  }

  /**
   * A committed conf entry not yet applied: the configuration we would count votes with is
   * about to change (etcd's hup check). A node campaigns only with the newest committed
   * configuration, so that the configurations in use differ by at most one change (see
   * applyConf).
   */
  private hasUnappliedConf(): boolean {
    const pending = this.log.slice(this.log.applied + 1, this.log.committed + 1) ?? [];
    return pending.some((e) => e.type === "conf");
  }

  /** §5.2 election, preceded by a pre-vote round (thesis §9.6) unless disabled or a transfer. */
  private startCampaign(transfer: boolean): void {
    if (this.role === "leader" || !this.promotable() || this.hasUnappliedConf()) return;
    if (this.preVote && !transfer) this.becomePreCandidate();
    else this.becomeCandidate();
    this.requestVotes(transfer);
  }

  private requestVotes(transfer: boolean): void {
    const type = this.role === "precandidate" ? "prevote" : "vote";
    this.votes.set(this.id, true);
    if (this.poll()) return;
    const term = type === "prevote" ? this.term + 1 : this.term;
    const voters = new Set([...this.conf.voters, ...this.conf.votersOutgoing]);
    for (const to of voters) {
      if (to === this.id) continue;
      const m: VoteRequest = {
        type,
        from: this.id,
        to,
        term,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
      };
      if (transfer) m.transfer = true;
      this.msgs.push(m);
    }
  }

  /** Acts on the tally; returns true if the campaign ended. */
  private poll(): boolean {
    const result = jointVoteResult(this.conf, this.votes);
    if (result === "won") {
      if (this.role === "precandidate") {
        this.becomeCandidate();
        this.requestVotes(false);
      } else {
        this.becomeLeader();
      }
      return true;
    }
    if (result === "lost") {
      this.becomeFollower(this.term, NONE);
      return true;
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------
  // Ticks

  private tickElection(): TimerFired | null {
    this.electionElapsed++;
    if (!this.promotable() || this.electionElapsed < this.randomizedElectionTimeout) return null;
    this.electionElapsed = 0;
    // A shortened timer is good for one campaign: if that fails, wait a full timeout again.
    if (this.hastened) this.drawElectionTimeout();
    this.startCampaign(false);
    return "election";
  }

  /** §5.2: a timeout drawn from [electionTick, 2 * electionTick), so that elections rarely tie. */
  private drawElectionTimeout(): void {
    this.hastened = false;
    this.randomizedElectionTimeout =
      this.electionTick + Math.floor(this.random() * this.electionTick);
  }

  private tickHeartbeat(): TimerFired | null {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    // Thesis §6.2 check-quorum: a leader that has not heard from a majority within an election
    // timeout steps down, so clients stop waiting on it. A sliding window (checked every tick)
    // bounds the step-down to one election timeout after the last reply from a quorum.
    if (this.checkQuorum) {
      const live = (id: NodeId) =>
        id === this.id || this.ticks - this.progressOf(id).lastHeard < this.electionTick;
      if (!jointHasQuorum(this.conf, live)) {
        this.becomeFollower(this.term, NONE);
        return "check-quorum";
      }
    }
    if (this.electionElapsed >= this.electionTick) this.electionElapsed = 0;
    let fired: TimerFired | null = null;
    if (this.leadTransferee !== NONE && ++this.transferElapsed >= this.electionTick) {
      this.abortTransfer();
      fired = "transfer";
    }
    if (this.heartbeatElapsed >= this.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastRound());
      // A TimeoutNow may have been lost: repeat it with every heartbeat while the transfer is
      // on, so a lost one costs a heartbeat interval, not the whole transfer.
      this.maybeSendTimeoutNow();
      // An auto-leave refused during a transfer is retried here (nothing may be applied later).
      this.maybeAutoLeave();
      fired = "heartbeat";
    }
    return fired;
  }

  /**
   * A transfer that did not finish within an election timeout is abandoned (thesis §3.10) and
   * proposals are accepted again. The leader appends an empty entry at once: a TimeoutNow
   * still in flight names the log's end before it, so the target, once it holds this entry,
   * ignores that late TimeoutNow instead of deposing a healthy leader (see stepFollower).
   */
  private abortTransfer(): void {
    this.leadTransferee = NONE;
    this.transferElapsed = 0;
    if (this.leaving) return; // it takes no entries (and will not lead long)
    const index = this.log.lastIndex() + 1;
    this.log.append([{ index, term: this.term, type: "normal", data: new Uint8Array(0) }]);
    this.bcastPending = true;
  }

  /** Sends TimeoutNow if a transfer is on and its target holds the whole log. */
  private maybeSendTimeoutNow(): boolean {
    const to = this.leadTransferee;
    if (to === NONE || this.progressOf(to).match !== this.log.lastIndex()) return false;
    this.send({ type: "timeout-now", to, index: this.log.lastIndex() });
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Steps by role (messages already at our term, votes handled)

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case "heartbeat":
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case "snap":
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case "timeout-now":
        // Thesis §3.10: the leader handed over; campaign now, skipping pre-vote and leases.
        // etcd-io/raft campaigns on any MsgTimeoutNow; a late one, from a transfer the leader
        // abandoned, would then depose a healthy leader. What the target can know: the
        // TimeoutNow is from the leader it follows in this term (step() drops other terms),
        // and the leader appends nothing while a transfer is on (proposals are refused) but
        // appends an entry when it abandons one (abortTransfer). So the target acts only while
        // its log ends exactly where the leader's did when it sent this: an entry beyond
        // m.index proves the transfer is over.
        if (
          m.from === this.leader &&
          this.log.lastIndex() === m.index &&
          this.log.lastTerm() === m.term
        )
          this.startCampaign(true);
        return;
      default:
        return; // stale responses from an earlier role in this term
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "app":
      case "heartbeat":
      case "snap":
        // §5.2: a leader of our term exists; concede and handle its message as a follower.
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        return;
      case "vote-resp":
      case "prevote-resp":
        this.handleVoteResponse(m);
        return;
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case "app-resp":
        pr.lastHeard = this.ticks;
        this.handleAppendResponse(m, pr);
        return;
      case "heartbeat-resp":
        pr.lastHeard = this.ticks;
        this.handleHeartbeatResponse(m, pr);
        return;
      default:
        return; // vote responses after winning, or stray messages: nothing to do
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.leader = from;
    // The leader was only out of reach (forgetLeader): back to the normal timer.
    if (this.hastened) this.drawElectionTimeout();
  }

  // -------------------------------------------------------------------------------------------
  // Elections

  private handleVote(m: VoteRequest): void {
    const respType = m.type === "vote" ? "vote-resp" : "prevote-resp";
    // Figure 2 RequestVote rule 2: one vote per term (a repeat request from the same candidate
    // is granted again); a pre-vote for a later term promises nothing, so it is always allowed.
    const canVote =
      this.vote === m.from ||
      mutant("double-vote") ||
      (this.vote === NONE && this.leader === NONE) ||
      (m.type === "prevote" && m.term > this.term);
    // §5.4.1: only a candidate whose log is at least as up-to-date as ours.
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // Reply at the request's term: for a pre-vote that is the term the candidate will use.
      this.msgs.push({ type: respType, from: this.id, to: m.from, term: m.term, granted: true });
      if (m.type === "vote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, granted: false });
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    const expected = this.role === "precandidate" ? "prevote-resp" : "vote-resp";
    if (m.type !== expected) return;
    // A granted pre-vote must be for the term we would campaign in, not an earlier round's.
    if (m.type === "prevote-resp" && m.granted && m.term !== this.term + 1) return;
    this.votes.set(m.from, m.granted);
    this.poll();
  }

  // -------------------------------------------------------------------------------------------
  // Replication, follower side

  private handleAppend(m: AppendRequest): void {
    let { prevIndex, prevTerm, entries } = m;
    const committed = this.log.committed;
    if (prevIndex < committed) {
      // Everything up to our commit index is in the leader's log too (Leader Completeness,
      // §5.4), so skip what we know is committed and keep only what extends beyond it.
      entries = entries.filter((e) => e.index > committed);
      if (entries.length === 0) {
        this.replyAppend(m.from, true, committed);
        return;
      }
      prevIndex = committed;
      prevTerm = this.log.term(committed) as number;
    }
    const lastNew = this.log.maybeAppend(prevIndex, prevTerm, entries);
    if (lastNew !== undefined) {
      const last = mutant("follower-commits-leader-commit") ? this.log.lastIndex() : lastNew;
      this.log.commitTo(Math.min(m.commit, last));
      this.replyAppend(m.from, true, lastNew);
      return;
    }
    // §5.3 fast backup: point the leader at the last index whose term could still match, so a
    // whole conflicting term is skipped in one round trip.
    const hint = this.log.findConflictByTerm(
      Math.min(m.prevIndex, this.log.lastIndex()),
      m.prevTerm,
    );
    this.send({
      type: "app-resp",
      to: m.from,
      success: false,
      matchIndex: 0,
      rejectIndex: m.prevIndex,
      conflictTerm: hint.term,
      conflictIndex: hint.index,
    });
  }

  private replyAppend(to: NodeId, success: boolean, matchIndex: number): void {
    this.send({
      type: "app-resp",
      to,
      success,
      matchIndex,
      rejectIndex: 0,
      conflictTerm: 0,
      conflictIndex: 0,
    });
  }

  private handleHeartbeat(m: Heartbeat): void {
    // Checked in step(): m.commit is within our log.
    this.log.commitTo(m.commit);
    this.send({ type: "heartbeat-resp", to: m.from, ctx: m.ctx });
  }

  private handleSnapshot(m: SnapshotRequest): void {
    const md = m.snapshot.metadata;
    if (md.index <= this.log.committed && !mutant("accept-older-snapshot")) {
      // §7: an older snapshot (reordered or duplicated) would move the state machine back.
      this.replyAppend(m.from, true, this.log.committed);
      return;
    }
    if (this.log.matchTerm(md.index, md.term)) {
      // §7 step 6: we already hold the covered prefix; just learn that it is committed.
      this.log.commitTo(md.index);
    } else {
      this.log.restoreSnapshot(m.snapshot);
      // The snapshot's configuration is committed at md.index and replaces our log: it is in
      // effect at once, as etcd restores its tracker from a snapshot.
      this.applyConf(copyConf(md.conf));
    }
    this.replyAppend(m.from, true, md.index);
  }

  // -------------------------------------------------------------------------------------------
  // Replication, leader side

  private handleAppendResponse(m: AppendResponse, pr: Progress): void {
    if (!m.success) {
      if (m.rejectIndex > this.log.lastIndex()) return;
      // Jump over the follower's whole conflicting term: the largest index in our log whose
      // term is <= the follower's term there.
      const hint =
        m.conflictTerm > 0
          ? this.log.findConflictByTerm(m.conflictIndex, m.conflictTerm).index
          : m.conflictIndex;
      if (pr.maybeDecrTo(m.rejectIndex, hint)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    if (m.matchIndex > this.log.lastIndex()) return;
    if (m.matchIndex < pr.match) return; // reordered: we know better already
    // A follower that was paused may have missed the last commit broadcast; it then gets an
    // append (maybe empty) below, to learn the commit index now rather than at a heartbeat.
    const wasPaused = pr.isPaused();
    pr.maybeUpdate(m.matchIndex);
    if (pr.state === "probe") {
      pr.becomeReplicate();
    } else if (pr.state === "snapshot") {
      // An older reply; keep waiting unless the follower can continue from our log anyway.
      if (pr.match < pr.pendingSnapshot && pr.match + 1 < this.log.firstIndex()) return;
      pr.becomeReplicate();
    } else {
      pr.inflights.freeLE(m.matchIndex);
    }
    if (this.maybeCommit()) this.bcastPending = true;
    else if (wasPaused && pr.sentCommit < this.log.committed) this.sendAppend(m.from, true);
    while (this.sendAppend(m.from, false));
    if (m.from === this.leadTransferee) this.maybeSendTimeoutNow();
  }

  private handleHeartbeatResponse(m: HeartbeatResponse, pr: Progress): void {
    pr.probeSent = false;
    if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.state === "snapshot") {
      // The follower is alive but has not acknowledged the snapshot for an election timeout:
      // presume it lost and send it again.
      if (this.ticks - pr.snapshotSentAt >= this.electionTick) this.sendSnapshot(m.from, pr);
    } else if (pr.match < this.log.lastIndex()) {
      // An empty append detects lost appends (the follower rejects it and we back up).
      this.sendAppend(m.from, true);
    }
    if (m.ctx > 0) this.readStates.push(...this.readOnly.ack(m.from, m.ctx, this.conf));
  }

  /** Figure 8 / §5.4.2: commit the majority's index only if it holds an entry of our term. */
  private maybeCommit(): boolean {
    const own = mutant("leader-counts-unsynced") ? this.log.lastIndex() : this.log.stable;
    const mci = jointCommittedIndex(this.conf, (id) =>
      id === this.id ? own : this.progressOf(id).match,
    );
    if (this.log.term(mci) !== this.term && !mutant("commit-earlier-term")) return false;
    return this.log.commitTo(mci);
  }

  /** Sends what a follower is missing, batched (maxEntriesPerMsg / maxBytesPerMsg). */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progressOf(to);
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const batch = this.log.slice(pr.next, Infinity, this.maxEntries, this.maxBytes);
    if (prevTerm === undefined || batch === undefined) return this.sendSnapshot(to, pr);
    if (batch.length === 0 && !sendIfEmpty) return false;
    // An empty probe still carries our commit index: the follower must cap it at what the
    // request covers (prevIndex), not at its own last entry, which may be a divergent tail.
    const entries = this.emptyProbes && pr.state === "probe" ? [] : batch;
    this.send({ type: "app", to, prevIndex, prevTerm, entries, commit: this.log.committed });
    pr.sentCommit = this.log.committed;
    pr.sentEntries(entries.length, prevIndex + entries.length);
    return entries.length > 0;
  }

  /** §7: the entries the follower needs were compacted; send the snapshot instead. */
  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snapshot = this.log.snapshot;
    if (snapshot === null)
      throw new Error(`raft: follower ${to} needs index ${pr.next} but no snapshot exists`);
    this.send({ type: "snap", to, snapshot });
    pr.becomeSnapshot(snapshot.metadata.index, this.ticks);
    return false;
  }

  /**
   * Proposals and commit advances are broadcast once per ready(), so a burst of proposals
   * between two Readys leaves in a few large AppendEntries instead of one message each.
   */
  private flushAppends(): void {
    if (!this.bcastPending || this.role !== "leader") return;
    this.bcastPending = false;
    for (const id of this.progress.keys()) {
      this.sendAppend(id, true);
      while (this.sendAppend(id, false));
    }
  }

  private bcastHeartbeat(ctx: number): void {
    for (const [to, pr] of this.progress) {
      // Never tell a follower a commit index beyond what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: "heartbeat", to, commit, ctx });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Membership (thesis §4.3)

  /**
   * Puts a configuration in effect: when a conf entry is applied (advance()) or a snapshot from
   * the leader replaces the log. etcd-io/raft's choice, not the thesis's (§4.1 uses a
   * configuration as soon as it is in the log); docs/architecture.md, "Membership changes",
   * says why it is safe: a leader proposes a change only once the previous one is applied, and
   * no node campaigns with a committed change still unapplied, so the configurations in use at
   * any time are at most one change apart, and any two adjacent ones share a voter in every
   * pair of their quorums.
   */
  private applyConf(next: ConfState): void {
    this.conf = next;
    this.confChanged = true;
    if (this.role !== "leader") return;
    if (!isVoter(next, this.id)) {
      // Removed (or demoted): the change is committed, so step down (thesis §4.2.2). Until
      // now it led without counting itself toward the new voters' majority (quorum.ts).
      this.becomeFollower(this.term, NONE);
      return;
    }
    const ids = members(next);
    for (const id of [...this.progress.keys()]) if (!ids.includes(id)) this.progress.delete(id);
    const next1 = this.log.lastIndex() + 1;
    for (const id of ids) {
      if (id !== this.id && !this.progress.has(id))
        this.progress.set(id, new Progress(next1, this.maxInflight, this.ticks));
    }
    if (this.leadTransferee !== NONE && !next.voters.includes(this.leadTransferee)) {
      this.leadTransferee = NONE;
      this.transferElapsed = 0;
    }
    // The quorum changed (a removed laggard may have held commitment back), and new members
    // need their first append.
    this.maybeCommit();
    this.bcastPending = true;
  }

  /**
   * Leaves a joint configuration entered with auto-leave once it is applied (etcd's
   * AutoLeave): the leader proposes the empty change itself. Refused during a transfer, it is
   * tried again on the next advance() or heartbeat.
   */
  private maybeAutoLeave(): void {
    if (this.role !== "leader" || !this.conf.autoLeave) return;
    if (this.pendingConfIndex > this.log.applied) return;
    this.proposeConfChange({ changes: [] });
  }

  /** The configuration in effect once every entry up to `index` is applied (for a snapshot). */
  private confAt(index: number): ConfState {
    const ents = this.log.slice(this.log.firstIndex(), index + 1) ?? [];
    for (let k = ents.length - 1; k >= 0; k--) {
      const e = ents[k] as Entry;
      if (e.type === "conf") return confOf(e);
    }
    return copyConf(this.log.snapshot?.metadata.conf ?? this.initialConf);
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private progressOf(id: NodeId): Progress {
    const pr = this.progress.get(id);
    if (pr === undefined) throw new Error(`raft: no progress for ${id}`);
    return pr;
  }

  /** Stamps sender and term on a freshly built message (no copy: this is the hot path). */
  private send(m: Outgoing): void {
    const msg = m as Message;
    msg.from = this.id;
    msg.term = this.term;
    this.msgs.push(msg);
  }
}

/**
 * The configuration a conf entry results in. Every conf entry in the log was checked on its way
 * in (encoded here, or through the message schema); one that does not decode came from a
 * damaged disk, a broken invariant.
 */
function confOf(e: Entry): ConfState {
  const cc = decodeConfChangeEntry(e.data);
  if (!cc.ok) throw new Error(`raft: conf entry ${e.index} does not decode: ${cc.error}`);
  return cc.value.conf;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
