// One simulated server: the Raft core (RawNodeApi) + a disk (SimDisk over MemoryStorage) + the
// simulated state machine, driven on virtual time exactly as the node runtime drives it on real
// time (src/raft/api.ts, the Ready loop):
//
//   tick every tickMs ──► raw.tick() ─┐
//   message arrives   ──► raw.step()  ├─► drain: rd = ready()
//   client proposes   ──► propose()   │     write rd to disk (volatile)
//   client reads      ──► read()     ─┘
//                                            send leader traffic (app/heartbeat/snap) now
//                                            if rd.mustSync: fsync completes after a random
//                                              latency; nothing else of it (or of any later
//                                              Ready) leaves before it
//                                            send the other messages (votes, replies)
//                                            apply snapshot + committed entries, advance(rd)
//                                            serve confirmed reads once applied >= their index
//                                            snapshot policy: compact every N applied entries
//
// Up to `timing.pipeline` Readys are in flight (default 1, the fsync gate RaftNode keeps): inputs
// that arrive meanwhile are stepped into the core and come out in a later Ready, so the disk sees
// group commits. With more, the next Ready is taken while an fsync runs (api.ts, pipelined
// Readys): its leader traffic leaves at once, everything else waits for every earlier fsync, and
// Readys are finished (replies sent, entries applied, advance) in the order they were taken.
// crash() drops everything volatile (the core, the state machine, unsynced writes: the disk
// decides what survives); restart() rebuilds from disk.load() like a real reboot.
// Faults a node suffers in itself (the nemesis's): pause() stops it processing anything (its
// messages wait, as in a stopped process's socket buffers; its ticks are missed) until resume();
// setClockRate() makes its ticks come faster or slower than virtual time (clock skew);
// armCrash(point) crashes it at the next Ready boundary of that kind that needs an fsync
// (`after-send`: the leader traffic left and the batch is written but not synced;
// `after-fsync`: synced, the replies not yet sent; `vote-...`: the same at the next Ready that
// casts a vote, and `vote-after-reply` once its reply left; `commit-after-send`: a leader,
// right after sending a new commit index; `elected-after-send`: a new leader, right after its
// first appends left, so its no-op may reach only some followers: Figure 8's second leader).
// An exception from the core is a bug (or a disk that broke its promise): the node reports it
// (a `node-error` violation) and stops, as the node runtime does (docs/architecture.md, "Disk faults").

import type {
  PersistedState,
  RaftConfig,
  Random,
  RawNodeApi,
  ReadState,
  Ready,
  TimerFired,
} from "../raft/api.js";
import { mutant } from "../raft/mutants.js";
import type { Entry, Message, NodeId, Role } from "../raft/types.js";
import type { WriteBatch } from "../storage/storage.js";
import type { Rng } from "./rng.js";
import type { ScheduledEvent, Scheduler } from "./scheduler.js";
import { SimStateMachine } from "./state-machine.js";

/** A node's stable storage as the simulator needs it: synchronous, with a crash operation. */
export interface SimDisk {
  load(): PersistedState;
  write(batch: WriteBatch): void;
  sync(): void;
  /** Power loss: a random prefix of the unsynced writes survives (MemoryStorage.crash). */
  crash(random: Random): void;
}

export interface SimNodeTiming {
  /** Virtual milliseconds per Raft tick. */
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
  /** fsync latency, uniform in [min, max] virtual ms. */
  fsyncMinMs: number;
  fsyncMaxMs: number;
  /** A stall: this share of fsyncs takes longer by a delay uniform in [tailMin, tailMax] ms. */
  fsyncTailRate?: number;
  fsyncTailMinMs?: number;
  fsyncTailMaxMs?: number;
  /** Take a snapshot every this many applied entries (0: never). */
  snapshotEvery: number;
  /**
   * Readys taken before the earlier ones are advanced (api.ts: pipelined Readys, each one's
   * messages still wait for every earlier fsync). Default 1: one at a time, as RaftNode.
   */
  pipeline?: number;
}

/** What a node reports to the cluster (invariant checker, trace, harness). */
export interface NodeObserver {
  /** A Ready was taken from the core; called before anything in it is written or sent. */
  onReady(node: SimNode, rd: Ready): void;
  /** A committed entry was applied; `command` is null for no-ops and conf entries. */
  onApply(node: SimNode, entry: Entry, command: string | null): void;
  /** A snapshot (from the leader, or loaded at restart) replaced the state machine. */
  onRestore(node: SimNode, index: number, term: number, hash: number): void;
  /** The local state machine was snapshotted and the log compacted up to `index`. */
  onCompact(node: SimNode, index: number): void;
  /** An fsync completed: the node goes on with the Ready that waited for it. */
  onSync(node: SimNode): void;
  /** A timer fired in the core (an election timeout, a heartbeat, ...). */
  onTimer(node: SimNode, timer: TimerFired): void;
  /** The node lost power; `durable` is what its disk kept; `point` where an armed crash hit. */
  onCrash(node: SimNode, durable: PersistedState, point?: CrashPoint): void;
  /** An armed crash point was reached: the observer crashes the node (SimCluster.crash). */
  onCrashPoint(node: SimNode, point: CrashPoint): void;
  /** The node came back; `persisted` is what its disk held. */
  onStart(node: SimNode, persisted: PersistedState): void;
  /** Malformed state (a broken snapshot, the core threw): a bug, reported as a violation. */
  onError(node: SimNode, message: string): void;
  /** A linearizable read `ctx` is confirmed (ReadIndex) and applied up to its `index`. */
  onRead(node: SimNode, ctx: number, index: number): void;
}

export interface SimNodeOptions {
  id: NodeId;
  peers: NodeId[];
  sched: Scheduler;
  /** The node's own random stream (fsync latency, election timeouts). */
  rng: Rng;
  disk: SimDisk;
  send: (m: Message) => void;
  timing: SimNodeTiming;
  createRawNode: (config: RaftConfig) => RawNodeApi;
  observer: NodeObserver;
  /** Extra core options (preVote, checkQuorum, ...). */
  raftOptions?: Partial<RaftConfig>;
}

const LEADER_TRAFFIC: ReadonlySet<Message["type"]> = new Set(["app", "heartbeat", "snap"]);

/**
 * Where in the Ready cycle an armed crash strikes (see the header); `vote-` points wait for a
 * Ready that casts a vote (an election's boundary).
 */
export const CRASH_POINTS = [
  "after-send",
  "after-fsync",
  "vote-after-send",
  "vote-after-fsync",
  "vote-after-reply",
  "commit-after-send",
  "elected-after-send",
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** A Ready taken from the core and not yet advanced. */
interface InFlight {
  rd: Ready;
  /** Its messages that wait until it (and every earlier Ready) is durable. */
  later: Message[];
  durable: boolean;
  /** Crash when its fsync completes (an armed after-fsync point). */
  strike: CrashPoint | null;
}

export class SimNode {
  readonly id: NodeId;
  /** Null while crashed. */
  raw: RawNodeApi | null = null;
  sm = new SimStateMachine();
  role: Role = "follower";
  leader: NodeId = 0;
  /** Incremented at every crash: events of a dead incarnation check it and do nothing. */
  private incarnation = 0;
  /** Readys taken and not yet advanced, oldest first (at most timing.pipeline). */
  private inFlight: InFlight[] = [];
  /** When the last scheduled fsync completes (fsyncs complete in order). */
  private lastSyncAt = 0;
  /** The hard state of the last Ready that carried one (to tell a fresh vote). */
  private lastHard = { term: 0, vote: 0, commit: 0 };
  private lastCommit = 0;
  private tickEvent: ScheduledEvent | null = null;
  private snapshotIndex = 0;
  /** Reads confirmed by the core, waiting for the state machine to reach their index. */
  private reads: ReadState[] = [];
  /** While paused: what happened meanwhile, run in order at resume(). Null: running. */
  private deferred: (() => void)[] | null = null;
  /** Clock skew: ticks come every tickMs / clockRate virtual ms. */
  clockRate = 1;
  private armed: CrashPoint | null = null;

  constructor(private readonly opts: SimNodeOptions) {
    this.id = opts.id;
  }

  get up(): boolean {
    return this.raw !== null;
  }

  /** Boot (or reboot) from the disk. */
  start(): void {
    if (this.raw) return;
    const o = this.opts;
    const persisted = o.disk.load();
    const snap = persisted.snapshot;
    this.sm = new SimStateMachine();
    if (snap) {
      const err = this.sm.restore(snap.data);
      if (err) o.observer.onError(this, `restart: ${err}`);
    }
    this.snapshotIndex = snap?.metadata.index ?? 0;
    this.role = "follower";
    this.leader = 0;
    this.lastHard = persisted.hardState;
    this.lastCommit = persisted.hardState.commit;
    const fresh = persisted.hardState.term === 0 && snap === null && persisted.entries.length === 0;
    const random = o.rng.fork(`raft/${this.incarnation}`);
    this.raw = o.createRawNode({
      id: o.id,
      peers: o.peers,
      electionTick: o.timing.electionTick,
      heartbeatTick: o.timing.heartbeatTick,
      random: () => random.float(),
      ...o.raftOptions,
      ...(fresh ? {} : { restore: persisted, applied: this.snapshotIndex }),
    });
    o.observer.onStart(this, persisted);
    if (snap)
      o.observer.onRestore(this, snap.metadata.index, snap.metadata.term, this.sm.state.hash);
    // A random phase, so that nodes booted together do not tick in lockstep.
    this.scheduleTick(o.rng.int(1, o.timing.tickMs));
  }

  /** Power loss: everything volatile is gone; the disk keeps what was synced. */
  crash(point?: CrashPoint): void {
    if (!this.raw) return;
    this.stop();
    const o = this.opts;
    o.disk.crash(() => o.rng.float());
    o.observer.onCrash(this, o.disk.load(), point);
  }

  get paused(): boolean {
    return this.deferred !== null;
  }

  /** Stop processing until resume() (a stopped process, a long GC pause). */
  pause(): void {
    if (this.raw && !this.deferred) this.deferred = [];
  }

  /** Go on with everything that waited, in the order it came. */
  resume(): void {
    const waiting = this.deferred;
    this.deferred = null;
    if (waiting) for (const f of waiting) f();
  }

  setClockRate(rate: number): void {
    if (!(rate > 0)) throw new Error(`clock rate must be > 0, got ${rate}`);
    this.clockRate = rate;
  }

  /** Crash at the next Ready boundary `point` (null: disarm). */
  armCrash(point: CrashPoint | null): void {
    this.armed = point;
    if (point === null) for (const f of this.inFlight) f.strike = null;
  }

  /** Leader transfer to `to` (thesis §3.10); false if the core refused it or the node is down. */
  transferLeader(to: NodeId): boolean {
    if (this.deferred) return false;
    return this.guard((raw) => raw.transferLeader(to)) ?? false;
  }

  /** Everything volatile ends: the core, timers, pending fsyncs and reads. */
  private stop(): void {
    this.raw = null;
    this.incarnation++;
    this.inFlight = [];
    this.lastSyncAt = 0;
    this.reads = [];
    this.deferred = null;
    this.armed = null;
    this.opts.sched.cancel(this.tickEvent);
    this.tickEvent = null;
  }

  receive(m: Message): void {
    if (this.deferred) this.deferred.push(() => this.receive(m));
    else this.guard((raw) => raw.step(m));
  }

  /** The network reports `peer` down (its connections closed): a hint for the core. */
  peerLost(peer: NodeId): void {
    if (this.deferred) this.deferred.push(() => this.peerLost(peer));
    else this.guard((raw) => raw.forgetLeader(peer));
  }

  /**
   * Client proposal; only a leader accepts. Null if the node is down or paused (the client's
   * request never reaches the core: it certainly had no effect).
   */
  propose(data: Uint8Array): ReturnType<RawNodeApi["propose"]> | null {
    if (this.deferred) return null;
    return this.guard((raw) => raw.propose(data));
  }

  /**
   * Client linearizable read `ctx` (ReadIndex, thesis §6.4): true if the core took it; the
   * observer's onRead says when it may be served. Null if the node is down or paused.
   */
  read(ctx: number): boolean | null {
    if (this.deferred) return null;
    return this.guard((raw) => raw.readIndex(ctx));
  }

  /**
   * Runs `f` on the live core, then drains it. An exception is the core refusing to go on
   * (an internal invariant broke): the node reports it and stops.
   */
  private guard<T>(f: (raw: RawNodeApi) => T): T | null {
    if (!this.raw) return null;
    try {
      const r = f(this.raw);
      this.drain();
      return r;
    } catch (e) {
      this.fatal(e);
      return null;
    }
  }

  private fatal(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    this.stop();
    this.opts.observer.onError(this, `stopped: the core threw: ${message}`);
  }

  private scheduleTick(
    delay = Math.max(1, Math.round(this.opts.timing.tickMs / this.clockRate)),
  ): void {
    const inc = this.incarnation;
    this.tickEvent = this.opts.sched.after(delay, () => {
      if (inc !== this.incarnation || !this.raw) return;
      // A paused process misses its ticks.
      if (!this.deferred)
        this.guard((raw) => {
          const fired = raw.tick();
          if (fired) this.opts.observer.onTimer(this, fired);
        });
      if (inc === this.incarnation) this.scheduleTick();
    });
  }

  /** Take Readys until the core has nothing more or the pipeline is full. */
  private drain(): void {
    const depth = this.opts.timing.pipeline ?? 1;
    while (this.raw && this.inFlight.length < depth && this.raw.hasReady())
      this.handleReady(this.raw.ready());
  }

  private handleReady(rd: Ready): void {
    const o = this.opts;
    o.observer.onReady(this, rd);
    if (rd.softState) {
      this.role = rd.softState.role;
      this.leader = rd.softState.leader;
    }
    const votes = rd.hardState !== undefined && this.votedNow(rd.hardState);
    const commits = rd.hardState !== undefined && rd.hardState.commit > this.lastCommit;
    if (rd.hardState) this.lastCommit = rd.hardState.commit;
    if (rd.snapshot || rd.entries.length > 0 || rd.hardState) {
      o.disk.write({
        ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
        ...(rd.entries.length > 0 ? { entries: rd.entries } : {}),
        ...(rd.hardState ? { hardState: rd.hardState } : {}),
      });
    }
    const later: Message[] = [];
    for (const m of rd.messages) {
      // Leader exception (api.ts, thesis §10.2.1): replication may overlap the leader's fsync.
      if (LEADER_TRAFFIC.has(m.type) || (isVoteReply(m) && mutant("vote-before-fsync"))) o.send(m);
      else later.push(m);
    }
    const needsSync = rd.mustSync || rd.snapshot !== undefined;
    const flight: InFlight = { rd, later, durable: !needsSync, strike: null };
    this.inFlight.push(flight);
    if (
      (this.armed === "commit-after-send" && commits && this.role === "leader") ||
      (this.armed === "elected-after-send" && rd.softState?.role === "leader")
    ) {
      // The leader told its followers a new commit index, or became leader and sent its first
      // appends, and died with it.
      this.strike(this.armed);
      return;
    }
    if (needsSync) {
      const armed = this.armed;
      if (
        armed &&
        armed !== "commit-after-send" &&
        armed !== "elected-after-send" &&
        (!armed.startsWith("vote-") || votes)
      ) {
        if (armed.endsWith("after-send") || (armed === "vote-after-reply" && !needsSync)) {
          this.strike(armed);
          return;
        }
        this.armed = null;
        flight.strike = armed;
      }
      this.scheduleSync(flight);
    }
    this.settle();
  }

  /** Does this hard state record a vote just cast (a new term or vote)? */
  private votedNow(hs: NonNullable<Ready["hardState"]>): boolean {
    const prev = this.lastHard;
    this.lastHard = hs;
    return hs.vote !== 0 && (hs.vote !== prev.vote || hs.term !== prev.term);
  }

  /**
   * An fsync for `flight` completes after a random latency, never before an earlier one (one
   * disk: a later fsync covers every earlier write).
   */
  private scheduleSync(flight: InFlight): void {
    const o = this.opts;
    const inc = this.incarnation;
    const at = Math.max(o.sched.now + this.fsyncLatency(), this.lastSyncAt);
    this.lastSyncAt = at;
    const synced = (): void => {
      if (inc !== this.incarnation) return; // crashed before the fsync completed
      if (this.deferred) {
        this.deferred.push(synced);
        return;
      }
      o.disk.sync();
      o.observer.onSync(this);
      // Everything written so far is durable now.
      for (const f of this.inFlight) f.durable = true;
      if (flight.strike) this.strike(flight.strike);
      else this.guard(() => this.settle());
    };
    o.sched.at(at, synced);
  }

  /** Finish the Readys at the head of the pipeline that are durable, in order. */
  private settle(): void {
    while (this.raw && this.inFlight.length > 0 && (this.inFlight[0] as InFlight).durable) {
      const f = this.inFlight.shift() as InFlight;
      this.finish(f.rd, f.later);
      if (f.strike === "vote-after-reply") {
        // The vote is cast, durable and answered; the node dies before anything else.
        this.strike(f.strike);
        return;
      }
    }
  }

  private strike(point: CrashPoint): void {
    this.armed = null;
    this.opts.observer.onCrashPoint(this, point);
  }

  private fsyncLatency(): number {
    const { rng, timing: t } = this.opts;
    const ms = rng.int(t.fsyncMinMs, t.fsyncMaxMs);
    const tail = t.fsyncTailRate ?? 0;
    if (tail <= 0 || !rng.chance(tail)) return ms;
    return ms + rng.int(t.fsyncTailMinMs ?? 0, t.fsyncTailMaxMs ?? 0);
  }

  private finish(rd: Ready, later: Message[]): void {
    const raw = this.raw;
    if (!raw) return;
    for (const m of later) this.opts.send(m);
    if (rd.snapshot) this.applySnapshot(rd);
    for (const e of rd.committed) {
      if (e.index <= this.sm.state.applied) continue;
      if (e.index !== this.sm.state.applied + 1)
        this.opts.observer.onError(
          this,
          `apply gap: entry ${e.index} after applied ${this.sm.state.applied}`,
        );
      const command = this.sm.apply(e);
      this.opts.observer.onApply(this, e, command);
    }
    raw.advance(rd);
    if (rd.readStates.length > 0) this.reads.push(...rd.readStates);
    this.serveReads();
    this.maybeCompact(raw);
  }

  /** Reads wait until the state machine has applied their read index (thesis §6.4 step 4). */
  private serveReads(): void {
    if (this.reads.length === 0) return;
    const applied = this.sm.state.applied;
    const waiting: ReadState[] = [];
    for (const r of this.reads) {
      if (r.index <= applied) this.opts.observer.onRead(this, r.ctx, r.index);
      else waiting.push(r);
    }
    this.reads = waiting;
  }

  private applySnapshot(rd: Ready): void {
    const snap = rd.snapshot;
    if (!snap) return;
    // The core hands out only snapshots beyond its commit index, so beyond what was applied.
    if (snap.metadata.index <= this.sm.state.applied) {
      this.opts.observer.onError(
        this,
        `snapshot at ${snap.metadata.index} would take the state machine back from ${this.sm.state.applied}`,
      );
      return;
    }
    const err = this.sm.restore(snap.data);
    if (err) {
      this.opts.observer.onError(this, `install snapshot: ${err}`);
      return;
    }
    this.snapshotIndex = snap.metadata.index;
    this.opts.observer.onRestore(this, snap.metadata.index, snap.metadata.term, this.sm.state.hash);
  }

  private maybeCompact(raw: RawNodeApi): void {
    const every = this.opts.timing.snapshotEvery;
    const { applied } = this.sm.state;
    if (every <= 0 || applied - this.snapshotIndex < every) return;
    const snapshot = raw.compact(applied, this.sm.snapshot());
    if (!snapshot) return;
    // Like the node runtime: written now, durable with the next fsync; until then the log it
    // replaces is still on disk.
    this.opts.disk.write({ snapshot });
    this.snapshotIndex = snapshot.metadata.index;
    this.opts.observer.onCompact(this, snapshot.metadata.index);
  }
}

function isVoteReply(m: Message): boolean {
  return m.type === "vote-resp" || m.type === "prevote-resp";
}
