// RaftNode: runs the pure Raft core (src/raft) with real timers, stable storage, a transport
// and a state machine, and offers RaftService to the application. The Ready loop itself
// (persist, send, apply, advance, pipelined Readys, the fsync gate) is ReadyDriver's
// (ready-driver.ts), the same one the simulator runs; this file is what is around it:
//
//   tick timer / message / proposal / read --> core --> driver.schedule()  (setImmediate)
//   driver, per Ready: leader traffic out, storage.write, apply committed, storage.sync,
//                      other messages out, (snapshot install), advance
//   around it: proposers and read barriers settled on apply, the snapshot policy
//
// A snapshot stays off the loop where the parts allow it: the state machine encodes it in
// slices (snapshotAsync), the node compacts the core with the result between Readys, and
// storage writes its file before the WAL marker that names it (prepareSnapshot).
//
// While fsyncs are in flight the core keeps taking messages and proposals, so the next Ready
// carries everything that arrived meanwhile: the fsync rate stays bounded however many
// proposals arrive. A storage failure is fatal (the node's durable state is unknown), and so is
// an exception from the core (see inCore). The exception: a full disk, met before a byte was
// written, is waited out (disk-health.ts: the driver's syncs go through it), and so is a slow one.

import type { RaftConfig, Random, RawNodeApi, Status } from "../raft/api.js";
import { decodeConfChangeEntry } from "../raft/confchange-codec.js";
import {
  type ConfChange,
  type ConfState,
  copyConf,
  type Entry,
  type Message,
  NONE,
  type NodeId,
  type Role,
  type Snapshot,
} from "../raft/types.js";
import type { Storage } from "../storage/storage.js";
import type { Transport } from "../transport/transport.js";
import type { Logger } from "../util/logger.js";
import type {
  AppliedPoint,
  FollowerProgress,
  RaftService,
  ServiceStatus,
  StateMachine,
} from "./api.js";
import { DiskHealth } from "./disk-health.js";
import {
  ConfChangeRefusedError,
  CoreFailureError,
  LeadershipLostError,
  NodeConfigError,
  NotLeaderError,
  StoppedError,
} from "./errors.js";
import { type AddressBook, Membership } from "./membership.js";
import type { NodeMetrics } from "./metrics.js";
import { ProposalTracker } from "./proposals.js";
import { ReadQueue } from "./reads.js";
import { ReadyDriver } from "./ready-driver.js";
import {
  DEFAULT_ELECTION_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MS,
  type Timing,
  timingFor,
} from "./timing.js";

export const DEFAULT_SNAPSHOT_ENTRIES = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

export interface RaftNodeOptions {
  id: NodeId;
  /**
   * The configuration before the log's first entry (used only when the log does not start with
   * a conf entry or a snapshot): every voter, this node included; empty for a joining node.
   */
  peers: NodeId[];
  /** The members' addresses before the log's first entry (membership.ts). Default: none. */
  baseBook?: AddressBook;
  storage: Storage;
  transport: Transport;
  stateMachine: StateMachine;
  /** Builds the Raft core; src/raft's RawNode in production. */
  createRawNode: (config: RaftConfig) => RawNodeApi;
  /** Each node draws its election timeout from [T, 2T). Default 1000 ms. */
  electionTimeoutMs?: number;
  /** Default 100 ms. Must be shorter than the election timeout. */
  heartbeatMs?: number;
  /**
   * Snapshot the state machine and compact the log every this many applied entries. Default
   * 10,000. Members take turns: each snapshots at its own offset within the interval (see
   * snapshotDue), never more than this many entries after its previous snapshot.
   */
  snapshotEntries?: number;
  /** Default deadline of propose() and readBarrier(). Default 5 s. */
  requestTimeoutMs?: number;
  logger?: Logger;
  metrics?: NodeMetrics;
  random?: Random;
  /**
   * Where this node's durable state lives (its data directory), named when the node stops
   * because that state is inconsistent. Default "(not given)".
   */
  dataDir?: string;
  /**
   * Readys in flight at once (pipelined Readys: the next one is taken while earlier fsyncs run).
   * Default DEFAULT_READY_WINDOW (ready-driver.ts).
   */
  readyWindow?: number;
  /** Called once if the node stops because of an unrecoverable error (storage, state machine, core). */
  onFatal?: (err: Error) => void;
}

export class RaftNode implements RaftService {
  private readonly proposals = new ProposalTracker();
  private readonly reads: ReadQueue;
  private readonly ticker: NodeJS.Timeout;
  private ticks = 0;
  private role: Role = "follower";
  private leader: NodeId = NONE;
  private applied: number;
  /** The term of the entry at `applied` and the configuration in effect there (appliedPoint). */
  private appliedTerm: number;
  private appliedConf: ConfState;
  private snapshotIndex: number;
  private readonly driver: ReadyDriver;
  /** A snapshot being encoded, or whose file is being written ahead of its marker (one). */
  private snapshotting: Promise<void> | null = null;
  /** A snapshot snapshotAsync() finished, for the loop to compact the core with. */
  private encodedSnapshot: { index: number; data: Uint8Array } | null = null;
  /** The applied index at which the next snapshot is due, for snapshots up to `after`. */
  private nextSnapshot = { after: -1, at: 0 };
  private stopped = false;
  /** Full and slow disks (disk-health.ts): every storage wait goes through it. */
  private readonly disk: DiskHealth;

  /** Loads the durable state, restores the state machine and starts the node. */
  static async start(given: RaftNodeOptions): Promise<RaftNode> {
    // Snapshots carry the members' addresses around the application's bytes (membership.ts).
    const membership = new Membership(given.baseBook ?? { clusterId: null, members: [] });
    const options = { ...given, stateMachine: membership.wrap(given.stateMachine) };
    const timing = timingFor(
      options.electionTimeoutMs ?? DEFAULT_ELECTION_TIMEOUT_MS,
      options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    );
    if (!timing.ok) throw new NodeConfigError(timing.error);
    const persisted = await options.storage.load();
    const snap = persisted.snapshot;
    // The state machine restarts from the snapshot; the core then hands back every entry after
    // it up to the persisted commit index as committed, and we re-apply them (thesis §5.1: the
    // state machine is volatile, the log is the truth).
    if (snap) options.stateMachine.restore(snap.data);
    const fresh = persisted.hardState.term === 0 && snap === null && persisted.entries.length === 0;
    const raw = options.createRawNode({
      id: options.id,
      peers: options.peers,
      electionTick: timing.value.electionTick,
      heartbeatTick: timing.value.heartbeatTick,
      random: options.random ?? Math.random,
      ...(fresh ? {} : { restore: persisted, applied: snap?.metadata.index ?? 0 }),
    });
    return new RaftNode(
      options,
      raw,
      timing.value,
      snap?.metadata.index ?? 0,
      snap?.metadata.term ?? 0,
      membership,
    );
  }

  private constructor(
    private readonly options: RaftNodeOptions,
    private readonly raw: RawNodeApi,
    timing: Timing,
    snapshotIndex: number,
    snapshotTerm: number,
    /** The members' addresses in effect (membership.ts). */
    readonly membership: Membership,
  ) {
    this.applied = snapshotIndex;
    this.appliedTerm = snapshotTerm;
    // Before any entry is applied again: the snapshot's configuration (or --peers' when new).
    this.appliedConf = raw.status().conf;
    this.snapshotIndex = snapshotIndex;
    this.reads = new ReadQueue(timing.electionTick);
    this.disk = new DiskHealth(
      {
        status: () => this.raw.status(),
        transferLeader: (to) => void this.transferLeader(to),
        stepDown: () => {
          if (this.inCore("a step-down", () => this.raw.stepDown?.()))
            this.onSoftState("follower", NONE);
        },
      },
      { electionTick: timing.electionTick, logger: options.logger, metrics: options.metrics },
    );
    this.driver = new ReadyDriver({
      core: raw,
      // The driver only writes and syncs; a sync goes through DiskHealth, which waits out a
      // full disk (retrying, with the NOSPACE alarm up) and times a stall for the step-down.
      storage: {
        write: (batch) => options.storage.write(batch),
        sync: () => this.disk.persist("sync", () => options.storage.sync()),
      },
      send: (m) => options.transport.send(m),
      clock: {
        now: () => performance.now(),
        soon: (fn) => setImmediate(fn),
        after: (ms, fn) => setTimeout(fn, ms).unref(),
      },
      ...(options.readyWindow !== undefined ? { window: options.readyWindow } : {}),
      handler: {
        beforeReady: () => {
          this.maybeCompact();
          this.reads.maybeStartRound(this.ticks, (ctx) => this.raw.readIndex(ctx));
        },
        onReady: (rd) => {
          // The core put a new configuration in effect; it is durable through the log and
          // snapshots (docs/architecture.md, "Membership changes"): nothing to persist here.
          if (rd.confState) this.log?.info({ conf: rd.confState }, "configuration changed");
        },
        onSoftState: (soft) => this.onSoftState(soft.role, soft.leader),
        apply: (entries) => {
          for (const e of entries) this.applyEntry(e);
          this.reads.release(this.applied);
        },
        restore: (snapshot) => this.applySnapshot(snapshot),
        onReadStates: (readStates) => {
          for (const rs of readStates) this.reads.confirm(rs.ctx, rs.index);
          this.reads.release(this.applied);
        },
        onSynced: (rd, ms) => {
          this.options.metrics?.observeFsync(ms / 1000);
          this.options.metrics?.observeBatch(rd.entries.length);
        },
        afterAdvance: (rd) => {
          this.membership.advanced();
          if (rd.hardState) {
            this.options.metrics?.setCommitIndex(rd.hardState.commit);
            this.options.metrics?.setTerm(rd.hardState.term);
          }
          this.options.metrics?.setAppliedIndex(this.applied);
          this.maybeSnapshot();
        },
        onFatal: (err, where) =>
          this.fail(where.startsWith("storage") ? err : this.coreFailure(where, err)),
      },
    });
    options.transport.onMessage((m) => this.onMessage(m));
    options.transport.onPeerLost((id) => this.onPeerLost(id));
    this.ticker = setInterval(() => this.onTick(), timing.tickMs);
    this.log?.debug({ applied: snapshotIndex, timing }, "node started");
    this.schedule();
  }

  private get log(): Logger | undefined {
    return this.options.logger;
  }

  // ---- RaftService -----------------------------------------------------------------------

  propose(data: Uint8Array, timeoutMs?: number): Promise<unknown> {
    if (this.stopped) return Promise.reject(new StoppedError());
    const full = this.disk.writeRefusal();
    if (full) return Promise.reject(full);
    const r = this.raw.propose(data);
    if (!r.ok) return Promise.reject(notLeader(r.leader));
    this.options.metrics?.proposal();
    this.schedule();
    return this.proposals.add(r.index, r.term, timeoutMs ?? this.requestTimeoutMs);
  }

  readBarrier(timeoutMs?: number): Promise<void> {
    if (this.stopped) return Promise.reject(new StoppedError());
    if (this.role !== "leader") {
      // A disk that holds the loop holds the Ready that would report a new leader too.
      return Promise.reject(notLeader(this.disk.degraded ? this.raw.status().leader : this.leader));
    }
    const p = this.reads.add(timeoutMs ?? this.requestTimeoutMs);
    this.schedule();
    return p;
  }

  status(): ServiceStatus {
    const s = this.raw.status();
    return {
      id: s.id,
      role: s.role,
      term: s.term,
      leader: s.leader === NONE ? null : s.leader,
      commitIndex: s.commit,
      appliedIndex: this.applied,
      members: [...s.voters].sort((a, b) => a - b),
      conf: s.conf,
      ...(s.progress && { progress: followerProgress(s.progress, s.lastIndex) }),
      alarms: this.disk.alarms,
    };
  }

  disarmAlarms(): string[] {
    return this.disk.disarm();
  }

  appliedPoint(): AppliedPoint {
    return { index: this.applied, term: this.appliedTerm, conf: copyConf(this.appliedConf) };
  }

  /**
   * Proposes a membership change (thesis §4.3) and resolves with the configuration it leads to
   * once it is applied here and in effect in the core. `cc.context` should be the address book
   * of that configuration (membership.ts encodeBook). Rejects with NotLeaderError or
   * ConfChangeRefusedError (certainly not proposed), or like propose() (outcome unknown).
   */
  proposeConfChange(cc: ConfChange, timeoutMs?: number): Promise<ConfState> {
    if (this.stopped) return Promise.reject(new StoppedError());
    const r = this.raw.proposeConfChange(cc);
    if (!r.ok) {
      if (r.reason === "not-leader") return Promise.reject(notLeader(r.leader));
      const error = "error" in r ? r.error : "a leader transfer is in progress";
      return Promise.reject(new ConfChangeRefusedError(r.reason, error));
    }
    this.schedule();
    return this.proposals
      .add(r.index, r.term, timeoutMs ?? this.requestTimeoutMs)
      .then(async (conf) => {
        await this.membership.afterAdvance(r.index);
        return conf as ConfState;
      });
  }

  transferLeader(to: NodeId): boolean {
    if (this.stopped || this.role !== "leader") return false;
    const started = this.raw.transferLeader(to);
    this.schedule();
    return started;
  }

  /**
   * Stops timers and the loop and fails every waiter with StoppedError. The caller owns the
   * transport and storage and closes them afterwards.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    this.disk.stop();
    this.driver.stop();
    await this.snapshotting;
    this.failWaiters(() => new StoppedError());
  }

  // ---- inputs ------------------------------------------------------------------------------

  private get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  private onTick(): void {
    if (this.stopped) return;
    this.ticks++;
    this.disk.tick();
    if (this.inCore("a tick", () => this.raw.tick())) this.schedule();
  }

  private onMessage(m: Message): void {
    if (this.stopped) return;
    this.membership.heard(m.from);
    if (this.inCore(`a ${m.type} message from ${m.from}`, () => this.raw.step(m))) this.schedule();
  }

  private onPeerLost(id: NodeId): void {
    if (this.stopped) return;
    if (this.inCore("a lost peer", () => this.raw.forgetLeader(id))) this.schedule();
  }

  /**
   * Runs one input through the core. The core drops malformed messages itself, so whatever
   * still throws is a broken invariant or a log that lost acknowledged entries: the core may
   * have half-processed the input, so the node stops (fail-stop: docs/architecture.md, "Disk faults")
   * instead of carrying on. Returns false once stopped.
   */
  private inCore(what: string, input: () => void): boolean {
    try {
      input();
      return true;
    } catch (err) {
      this.fail(this.coreFailure(what, err));
      return false;
    }
  }

  private coreFailure(what: string, err: unknown): CoreFailureError {
    const dir = this.options.dataDir ?? "(not given)";
    const reason = err instanceof Error ? err.message : String(err);
    return new CoreFailureError(
      `node ${this.options.id} (data directory ${dir}) stopped on ${what}: ${reason}`,
      { cause: err },
    );
  }

  // ---- around the loop ----------------------------------------------------------------------

  /** The driver looks at the core on the next turn: every input of this turn shares a Ready. */
  private schedule(): void {
    if (!this.stopped) this.driver.schedule();
  }

  private onSoftState(role: Role, leader: NodeId): void {
    const wasLeader = this.role === "leader";
    this.options.metrics?.setLeader(leader);
    this.role = role;
    this.leader = leader;
    this.log?.info({ term: this.raw.status().term, role, leader }, "role changed");
    if (wasLeader && role !== "leader") {
      // Entries proposed here may still be committed by the next leader or be overwritten
      // (Raft paper §5.4.2): their outcome is unknown to this node.
      this.proposals.failAll(() => new LeadershipLostError());
      this.reads.failUnconfirmed(() => new NotLeaderError(leader === NONE ? null : leader));
    }
  }

  private applySnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    // InstallSnapshot of an older snapshot never reaches here (the core ignores it, §7); the
    // guard keeps the state machine from going backwards even so.
    if (index <= this.applied) return;
    this.options.stateMachine.restore(snapshot.data);
    this.applied = index;
    this.appliedTerm = term;
    this.appliedConf = copyConf(snapshot.metadata.conf);
    this.snapshotIndex = index;
    this.proposals.failUpTo(index, () => new LeadershipLostError());
    this.log?.debug({ index, term }, "installed snapshot from leader");
  }

  private applyEntry(e: Entry): void {
    if (e.index <= this.applied) return;
    let result: unknown;
    // The empty normal entry is a new leader's no-op (§8) and conf entries are the core's and
    // the address book's (membership.ts): neither reaches the state machine.
    if (e.type === "normal" && e.data.length > 0) result = this.options.stateMachine.apply(e);
    else if (e.type === "conf") {
      result = this.membership.applyConfEntry(e);
      // The core checked it on its way into the log (confchange-codec.ts).
      const cc = decodeConfChangeEntry(e.data);
      if (cc.ok) this.appliedConf = cc.value.conf;
    }
    this.applied = e.index;
    this.appliedTerm = e.term;
    this.proposals.settle(e.index, e.term, result, () => new LeadershipLostError());
  }

  /**
   * Every snapshotEntries applied entries: snapshot the state machine, compact the core's log and
   * persist the snapshot. Each slow step runs off the loop when the parts allow it: the state
   * machine encodes in slices (snapshotAsync) and storage writes the file ahead of its WAL
   * marker (prepareSnapshot); one snapshot is in flight at a time.
   */
  private maybeSnapshot(): void {
    const every = this.options.snapshotEntries ?? DEFAULT_SNAPSHOT_ENTRIES;
    if (this.stopped || this.snapshotting || this.encodedSnapshot) return;
    if (!this.snapshotDue(every)) return;
    const { stateMachine } = this.options;
    const index = this.applied;
    this.snapshotIndex = index;
    if (!stateMachine.snapshotAsync) {
      this.compactAndPersist(index, stateMachine.snapshot());
      return;
    }
    this.snapshotting = stateMachine
      .snapshotAsync()
      .then((data) => {
        // The core is compacted from the loop, between Readys (the driver's beforeReady).
        if (data !== null && !this.stopped) this.encodedSnapshot = { index, data };
        this.snapshotting = null;
        this.schedule();
      })
      .catch((err: unknown) => {
        this.snapshotting = null;
        this.fail(err);
      });
  }

  /**
   * Whether a snapshot is due: at the first applied index past the previous snapshot that is
   * congruent to this member's offset modulo `every`. The offsets spread the members over the
   * interval (member k of n at k/n of it), so they do not all spend the CPU and disk of a
   * snapshot at the same moment: when they did, every member paused together and so did every
   * client request (the tail of the latency). A follower pausing alone delays only the requests
   * it relays; the other members keep the quorum.
   */
  private snapshotDue(every: number): boolean {
    if (this.nextSnapshot.after !== this.snapshotIndex) {
      const voters = [...this.raw.status().voters].sort((a, b) => a - b);
      // A joining member knows no configuration before its first conf entry or snapshot, and
      // a snapshot then would record an empty one: wait for it.
      if (voters.length === 0) return false;
      const k = Math.max(0, voters.indexOf(this.options.id));
      const offset = Math.floor((k * every) / voters.length);
      const first = this.snapshotIndex + 1;
      const at = first + ((((offset - first) % every) + every) % every);
      this.nextSnapshot = { after: this.snapshotIndex, at };
    }
    return this.applied >= this.nextSnapshot.at;
  }

  private maybeCompact(): void {
    const encoded = this.encodedSnapshot;
    if (encoded === null || this.stopped) return;
    this.encodedSnapshot = null;
    this.compactAndPersist(encoded.index, encoded.data);
  }

  private compactAndPersist(index: number, data: Uint8Array): void {
    // Ignored (null) if a snapshot from the leader covered `index` meanwhile.
    const snapshot = this.raw.compact(index, data);
    if (snapshot === null) return;
    const { storage } = this.options;
    if (!storage.prepareSnapshot) {
      this.installSnapshot(snapshot);
      return;
    }
    // The file (megabytes) is written and fsynced off the loop while Readys keep flowing: a
    // proposal's fsync never waits for it. The core's log is compacted already, but the WAL
    // keeps every entry until the marker is durable, so a crash meanwhile restarts from the
    // previous snapshot and replays.
    this.snapshotting = this.disk
      .persist("snapshot file", () => storage.prepareSnapshot?.(snapshot), { holdsLoop: false })
      .then(() => (this.stopped ? undefined : this.installSnapshot(snapshot)))
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.snapshotting = null;
      });
  }

  /**
   * Written but not synced on its own: the next Ready's sync makes it durable, and until then
   * the log it replaces is still on disk (a crash keeps a prefix of the batches). It is only
   * ever a local snapshot of applied, hence committed, entries: no batch in between can have
   * truncated the log below it, and a newer snapshot from the leader makes storage ignore it.
   */
  private installSnapshot(snapshot: Snapshot): void {
    if (!this.driver.write({ snapshot })) return;
    const { index } = snapshot.metadata;
    this.log?.debug({ index, bytes: snapshot.data.length }, "snapshot taken, log compacted");
  }

  private failWaiters(err: () => Error): void {
    this.proposals.failAll(err);
    this.reads.failAll(err);
  }

  private fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.log?.fatal({ err: error }, "node stopped: unrecoverable error");
    if (!this.stopped) {
      this.stopped = true;
      clearInterval(this.ticker);
      this.disk.stop();
      this.driver.stop();
      this.failWaiters(() => new StoppedError());
    }
    this.options.onFatal?.(error);
  }
}

function followerProgress(
  progress: NonNullable<Status["progress"]>,
  lastIndex: number,
): FollowerProgress[] {
  return Object.entries(progress)
    .map(([id, p]) => ({ id: Number(id), ...p, lag: Math.max(0, lastIndex - p.match) }))
    .sort((a, b) => a.id - b.id);
}

/**
 * A follower rejects every write and read that reaches it (the service then forwards them):
 * capturing a stack trace for each cost more than the rest of the rejection (2.7% of a
 * follower's CPU under load), and nobody reads it.
 */
function notLeader(leader: NodeId): NotLeaderError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new NotLeaderError(leader === NONE ? null : leader);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
