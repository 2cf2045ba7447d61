// One simulated server: the production Ready driver (src/node/ready-driver.ts) over the Raft
// core, FileStorage (src/storage/file-storage.ts) on a simulated disk (SimDisk from
// src/storage/fs/sim-disk.ts: power loss, torn writes, EIO, stalls, ENOSPC) and the simulated
// state machine, on virtual time:
//
//   tick every tickMs ──► raw.tick() ─┐
//   message arrives   ──► raw.step()  ├─► driver: persist, send, apply, sync, advance
//   client proposes   ──► propose()   │   (pipelined: up to timing.pipeline Readys in flight)
//   client reads      ──► read()     ─┘
//                                        serve confirmed reads once applied >= their index
//                                        snapshot policy: compact every N applied entries
//
// The disk's fsync latency comes from its fault hook (the seed's fsync profile, plus a stall of
// the `disk` fault), so every fsync is a scheduler event and everything FileStorage does between
// them runs in microtasks (docs/architecture.md, "Asynchronous production code under virtual
// time"): the cluster's loop yields a turn after an event that set `sched.microtasks`.
// start() boots like a real process: FileStorage.open (WAL recovery), load, restore; crash() is
// power loss on the disk (SimDisk.crash: unsynced data lost, the last write maybe torn).
// Faults a node suffers in itself (the nemesis's): pause() stops it processing anything (its
// messages and finished disk operations wait, as for a stopped process; its ticks are missed)
// until resume(); setClockRate() makes its ticks come faster or slower than virtual time (clock
// skew); armCrash(point) crashes it at the next Ready boundary of that kind that needs an fsync
// (`after-send`: the leader traffic left and the batch is written but not synced;
// `after-fsync`: synced, the replies not yet sent; `vote-...`: the same at the next Ready that
// casts a vote, and `vote-after-reply` once its reply left; `commit-after-send`: a leader,
// right after sending a new commit index; `elected-after-send`: a new leader, right after its
// first appends left, so its no-op may reach only some followers: Figure 8's second leader);
// the driver's hooks are those boundaries. Disk faults
// (the `disk` fault): the next fsync fails with EIO, fsyncs stall, or the disk is full.
// An exception from the core is a bug (or a disk that broke its promise): the node reports it
// (a `node-error` violation) and stops, as the node runtime does (docs/architecture.md, "Disk
// faults"). A failed write or fsync fail-stops the node as in production; the simulator counts
// it as crashed (`onDiskStop`) and restarts it at the heal.

import { ReadyDriver } from "../node/ready-driver.js";
import type {
  PersistedState,
  RaftConfig,
  RawNodeApi,
  ReadState,
  Ready,
  TimerFired,
} from "../raft/api.js";
import type { Entry, Message, NodeId, Role, Snapshot } from "../raft/types.js";
import { FileStorage } from "../storage/file-storage.js";
import { errorCode } from "../storage/fs/file-system.js";
import { type DiskFault, type DiskOp, SimDisk } from "../storage/fs/sim-disk.js";
import type { Rng } from "./rng.js";
import type { ScheduledEvent, Scheduler } from "./scheduler.js";
import { SimStateMachine } from "./state-machine.js";

/** Where a node's data directory lives on its disk. */
const DATA_DIR = "/data";
/**
 * WAL segment size on the simulated disk: small, since a preallocated spare costs this much
 * memory; big enough that rolls (a rename and directory syncs each) stay rare.
 */
const SEGMENT_SIZE = 64 * 1024;
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
   * messages still wait for every earlier fsync): the ReadyDriver's window. Default 1.
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
  /**
   * An fsync completed: the log up to `last` (as written by the Ready that asked for it) is
   * durable; the node goes on with that Ready.
   */
  onSync(node: SimNode, last: number): void;
  /** A timer fired in the core (an election timeout, a heartbeat, ...). */
  onTimer(node: SimNode, timer: TimerFired): void;
  /**
   * The node lost power (`point`: where an armed crash hit), or a disk fault stopped it
   * (`reason` "disk"). What its disk kept is known at its next start (onStart).
   */
  onCrash(node: SimNode, point?: CrashPoint, reason?: "disk"): void;
  /** An armed crash point was reached: the observer crashes the node (SimCluster.crash). */
  onCrashPoint(node: SimNode, point: CrashPoint): void;
  /**
   * The node came back; `persisted` is what FileStorage recovered from its disk; `afterCrash`
   * if the previous run ended in a crash.
   */
  onStart(node: SimNode, persisted: PersistedState, afterCrash: boolean): void;
  /** Malformed state (a broken snapshot, the core threw): a bug, reported as a violation. */
  onError(node: SimNode, message: string): void;
  /** A linearizable read `ctx` is confirmed (ReadIndex) and applied up to its `index`. */
  onRead(node: SimNode, ctx: number, index: number): void;
  /** A failed write or fsync stopped the node (after onCrash with reason "disk"). */
  onDiskStop?(node: SimNode, message: string): void;
}

export interface SimNodeOptions {
  id: NodeId;
  peers: NodeId[];
  sched: Scheduler;
  /** The node's own random stream (fsync latency, election timeouts, its disk's crashes). */
  rng: Rng;
  send: (m: Message) => void;
  timing: SimNodeTiming;
  createRawNode: (config: RaftConfig) => RawNodeApi;
  observer: NodeObserver;
  /** Extra core options (preVote, checkQuorum, ...). */
  raftOptions?: Partial<RaftConfig>;
}

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

/** The disk fault a node suffers now (the `disk` fault; see SimNode.diskFault). */
export type DiskFaultKind = "eio" | "stall" | "full";

export class SimNode {
  readonly id: NodeId;
  /** Null while down (crashed, stopped, or still booting). */
  raw: RawNodeApi | null = null;
  sm = new SimStateMachine();
  role: Role = "follower";
  leader: NodeId = 0;
  /** The machine's disk: it outlives the node's crashes. */
  readonly disk: SimDisk;
  private storage: FileStorage | null = null;
  private driver: ReadyDriver | null = null;
  /** Incremented at every crash: work of a dead incarnation checks it and does nothing. */
  private incarnation = 0;
  private booting = false;
  /** Whether the last run ended in a crash (power loss or a disk fault), for the checker. */
  private crashed = false;
  /** The hard state of the last Ready that carried one (to tell a fresh vote). */
  private lastHard = { term: 0, vote: 0, commit: 0 };
  private lastCommit = 0;
  /** The log's last index as written so far, and per Ready in flight (what its sync covers). */
  private writtenLast = 0;
  private writtenBy: { rd: Ready; last: number }[] = [];
  /** An armed crash point waiting for this Ready's fsync or reply (one at a time). */
  private strikeAt: { rd: Ready; point: CrashPoint } | null = null;
  private tickEvent: ScheduledEvent | null = null;
  private snapshotIndex = 0;
  /** Reads confirmed by the core, waiting for the state machine to reach their index. */
  private reads: ReadState[] = [];
  /** While paused: what happened meanwhile, run in order at resume(). Null: running. */
  private deferred: (() => void)[] | null = null;
  /** Clock skew: ticks come every tickMs / clockRate virtual ms. */
  clockRate = 1;
  private armed: CrashPoint | null = null;
  /** The `disk` fault: extra ms per fsync while stalled; the next fsync fails with EIO. */
  private stallMs = 0;
  private eioNext = false;
  /** After the final heal: fsyncs no longer draw the profile's tail stalls. */
  calm = false;
  /** EIO faults handed to fsyncs that may not have completed yet (diskHeal cancels them). */
  private readonly eioInFlight = new Set<DiskFault>();

  constructor(private readonly opts: SimNodeOptions) {
    this.id = opts.id;
    const diskRng = opts.rng.fork("disk");
    this.disk = new SimDisk({
      random: () => diskRng.float(),
      complete: (ms, fn) => this.completeDiskOp(ms, fn),
      faults: (op) => this.diskFaultFor(op),
    });
  }

  get up(): boolean {
    return this.raw !== null;
  }

  /** Boot (or reboot) from the disk: FileStorage.open recovers the WAL, as a real restart does. */
  start(): void {
    if (this.raw || this.booting) return;
    this.booting = true;
    const inc = this.incarnation;
    this.opts.sched.microtasks = true;
    this.boot(inc).catch((err: unknown) => {
      if (inc !== this.incarnation) return;
      const message = err instanceof Error ? err.message : String(err);
      // A disk fault met by recovery itself (an EIO on its re-sync of the WAL's tail).
      if (isStorageError(err, "storage-failed") || errorCode(err) === "EIO") {
        this.diskStop(`restart: ${message}`);
        return;
      }
      this.booting = false;
      if (errorCode(err) === "ENOSPC" || isStorageError(err, "storage-no-space")) {
        // Retryable: the disk is full; try again once space may have returned.
        this.opts.sched.after(500, () => {
          if (inc === this.incarnation) this.start();
        });
        return;
      }
      this.opts.observer.onError(this, `restart: ${message}`);
    });
  }

  private async boot(inc: number): Promise<void> {
    const o = this.opts;
    const storage = await FileStorage.open(DATA_DIR, {
      fs: this.disk.fs,
      segmentSize: SEGMENT_SIZE,
    });
    const stored = await storage.load();
    if (inc !== this.incarnation) return;
    this.booting = false;
    // (The lost-vote mutant is planted in FileStorage.load: src/storage/planted.ts.)
    const persisted = stored;
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
    this.writtenLast = persisted.entries.at(-1)?.index ?? this.snapshotIndex;
    const fresh = persisted.hardState.term === 0 && snap === null && persisted.entries.length === 0;
    const random = o.rng.fork(`raft/${this.incarnation}`);
    const raw = o.createRawNode({
      id: o.id,
      peers: o.peers,
      electionTick: o.timing.electionTick,
      heartbeatTick: o.timing.heartbeatTick,
      random: () => random.float(),
      ...o.raftOptions,
      ...(fresh ? {} : { restore: persisted, applied: this.snapshotIndex }),
    });
    this.raw = raw;
    this.storage = storage;
    this.driver = this.newDriver(raw, storage);
    const afterCrash = this.crashed;
    this.crashed = false;
    o.observer.onStart(this, persisted, afterCrash);
    if (snap)
      o.observer.onRestore(this, snap.metadata.index, snap.metadata.term, this.sm.state.hash);
    // A random phase, so that nodes booted together do not tick in lockstep.
    this.scheduleTick(o.rng.int(1, o.timing.tickMs));
  }

  private newDriver(raw: RawNodeApi, storage: FileStorage): ReadyDriver {
    const o = this.opts;
    return new ReadyDriver({
      core: raw,
      storage,
      send: o.send,
      window: o.timing.pipeline ?? 1,
      // Each simulated event is one input: its Ready is taken at once.
      clock: { now: () => o.sched.now, soon: (fn) => fn(), after: (ms, fn) => this.later(ms, fn) },
      // A full disk is retryable (FileStorage keeps the batches queued): the node waits for
      // space; any other storage failure fail-stops it.
      retryDelay: (err) => (isStorageError(err, "storage-no-space") ? 100 : null),
      handler: {
        onReady: (rd) => this.onReady(rd),
        onSoftState: (soft) => {
          this.role = soft.role;
          this.leader = soft.leader;
        },
        apply: (entries) => this.applyEntries(entries),
        restore: (snapshot) => this.applySnapshot(snapshot),
        onReadStates: (rs) => {
          this.reads.push(...rs);
          this.serveReads();
        },
        onSynced: (rd) => o.observer.onSync(this, this.syncedUpTo(rd)),
        afterAdvance: () => this.maybeCompact(),
        onFatal: (err, where) => {
          const message = err instanceof Error ? err.message : String(err);
          if (where.startsWith("storage")) this.diskStop(`${where}: ${message}`);
          else this.fatal(err);
        },
      },
      hooks: {
        afterWrite: (rd, needsSync) => this.afterWrite(rd, needsSync),
        afterSync: (rd) => {
          const point = this.strikeAt?.rd === rd ? this.strikeAt.point : null;
          if (point === "after-fsync" || point === "vote-after-fsync") this.strike(point);
        },
        afterReply: (rd) => {
          // The vote is cast, durable and answered; the node dies before anything else.
          if (this.strikeAt?.rd === rd && this.strikeAt.point === "vote-after-reply")
            this.strike("vote-after-reply");
        },
      },
    });
  }

  /** Power loss: everything volatile is gone; the disk keeps what its model allows. */
  crash(point?: CrashPoint): void {
    if (!this.raw) return;
    this.stop();
    this.disk.crash();
    this.crashed = true;
    this.opts.observer.onCrash(this, point);
  }

  /**
   * A failed write or fsync stopped the node (fail-stop, as in production). The process is gone;
   * the simulator counts it as crashed (power loss on its disk) and restarts it at the heal.
   */
  private diskStop(message: string): void {
    if (!this.raw && !this.booting) return;
    this.stop();
    this.disk.crash();
    this.crashed = true;
    this.opts.observer.onCrash(this, undefined, "disk");
    this.opts.observer.onDiskStop?.(this, message);
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
    if (waiting && waiting.length > 0) {
      this.opts.sched.microtasks = true;
      for (const f of waiting) f();
    }
  }

  setClockRate(rate: number): void {
    if (!(rate > 0)) throw new Error(`clock rate must be > 0, got ${rate}`);
    this.clockRate = rate;
  }

  /** Crash at the next Ready boundary `point` (null: disarm). */
  armCrash(point: CrashPoint | null): void {
    this.armed = point;
    if (point === null) this.strikeAt = null;
  }

  /**
   * The `disk` fault: "eio" fails the next fsync (the node fail-stops), "stall" adds `ms` to
   * every fsync, "full" leaves no free space (ENOSPC) until diskHeal().
   */
  diskFault(kind: DiskFaultKind, ms = 0): void {
    if (kind === "eio") this.eioNext = true;
    else if (kind === "stall") this.stallMs = ms;
    else this.disk.capacity = this.disk.used;
  }

  /**
   * Ends stalls and a full disk (the heal); a pending EIO is dropped too, and so is one an fsync
   * already in flight (issued during a stall) would report when it completes after the heal:
   * otherwise the node would fail-stop after the heal and miss the liveness check (seed 75).
   */
  diskHeal(): void {
    this.stallMs = 0;
    this.eioNext = false;
    for (const f of this.eioInFlight) delete f.error;
    this.eioInFlight.clear();
    this.disk.capacity = Number.POSITIVE_INFINITY;
  }

  /** An EIO waits for the next fsync. */
  get diskEioPending(): boolean {
    return this.eioNext;
  }

  get diskStalled(): boolean {
    return this.stallMs > 0;
  }

  get diskFull(): boolean {
    return this.disk.capacity !== Number.POSITIVE_INFINITY;
  }

  /** Leader transfer to `to` (thesis §3.10); false if the core refused it or the node is down. */
  transferLeader(to: NodeId): boolean {
    if (this.deferred) return false;
    return this.guard((raw) => raw.transferLeader(to)) ?? false;
  }

  /**
   * What the disk holds now, as FileStorage reads it (tests). A down node's disk is opened and
   * closed again (recovery may repair a torn tail, as the next start would).
   */
  async durableState(): Promise<PersistedState> {
    if (this.storage && this.raw) return this.storage.load();
    const s = await FileStorage.open(DATA_DIR, { fs: this.disk.fs, segmentSize: SEGMENT_SIZE });
    try {
      return await s.load();
    } finally {
      await s.close();
    }
  }

  /** Everything volatile ends: the core, the driver, timers, pending fsyncs and reads. */
  private stop(): void {
    this.raw = null;
    this.driver?.stop();
    this.driver = null;
    // Abandoned, not closed: the process is gone (its disk's boot ended with the crash).
    this.storage = null;
    this.booting = false;
    this.incarnation++;
    this.reads = [];
    this.writtenBy = [];
    this.strikeAt = null;
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
   * Runs `f` on the live core, then lets the driver take what it produced. An exception is the
   * core refusing to go on (an internal invariant broke): the node reports it and stops.
   */
  private guard<T>(f: (raw: RawNodeApi) => T): T | null {
    if (!this.raw) return null;
    try {
      const r = f(this.raw);
      this.driver?.schedule();
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

  /** The driver took a Ready: the checker sees it first; note what crash points need. */
  private onReady(rd: Ready): void {
    this.opts.observer.onReady(this, rd);
    const last = rd.entries.at(-1);
    if (last) this.writtenLast = last.index;
    else if (rd.snapshot && this.raw) this.writtenLast = this.raw.status().lastIndex;
    if (rd.mustSync || rd.snapshot) this.writtenBy.push({ rd, last: this.writtenLast });
  }

  /** How far the log was written when `rd` (whose sync just completed) was taken. */
  private syncedUpTo(rd: Ready): number {
    // Syncs complete in the order their Readys were taken.
    let w = this.writtenBy.shift();
    while (w && w.rd !== rd) w = this.writtenBy.shift();
    return w ? w.last : this.writtenLast;
  }

  /** The early messages left and the batch is written: the after-send crash points. */
  private afterWrite(rd: Ready, needsSync: boolean): void {
    const votes = rd.hardState !== undefined && this.votedNow(rd.hardState);
    const commits = rd.hardState !== undefined && rd.hardState.commit > this.lastCommit;
    if (rd.hardState) this.lastCommit = rd.hardState.commit;
    if (needsSync) this.opts.sched.microtasks = true;
    const armed = this.armed;
    if (armed === "commit-after-send") {
      // The leader told its followers a new commit index and died with it.
      if (commits && this.role === "leader") this.strike(armed);
      return;
    }
    if (armed === "elected-after-send") {
      // A new leader sent its first appends and died with them.
      if (rd.softState?.role === "leader") this.strike(armed);
      return;
    }
    if (!needsSync || !armed || (armed.startsWith("vote-") && !votes)) return;
    if (armed.endsWith("after-send")) {
      this.strike(armed);
      return;
    }
    this.armed = null;
    this.strikeAt = { rd, point: armed };
  }

  /** Does this hard state record a vote just cast (a new term or vote)? */
  private votedNow(hs: NonNullable<Ready["hardState"]>): boolean {
    const prev = this.lastHard;
    this.lastHard = hs;
    return hs.vote !== 0 && (hs.vote !== prev.vote || hs.term !== prev.term);
  }

  private strike(point: CrashPoint): void {
    this.armed = null;
    this.strikeAt = null;
    this.opts.observer.onCrashPoint(this, point);
  }

  /** Runs `fn` in `ms` (a driver retry), deferred while paused; it may start storage work. */
  private later(ms: number, fn: () => void): void {
    const run = (): void => {
      if (this.deferred) this.deferred.push(run);
      else {
        this.opts.sched.microtasks = true;
        fn();
      }
    };
    this.opts.sched.after(ms, run);
  }

  /**
   * The disk completes an operation: after `ms` of virtual time (a scheduler event) or at once
   * (a microtask). A paused process sees it only when it resumes.
   */
  private completeDiskOp(ms: number, fn: () => void): void {
    const run = (): void => {
      if (this.deferred) {
        this.deferred.push(run);
        return;
      }
      this.opts.sched.microtasks = true;
      fn();
    };
    if (ms > 0) this.opts.sched.after(ms, run);
    else void Promise.resolve().then(run);
  }

  /** What the disk does to `op`: fsync latency (the seed's profile plus a stall), or EIO. */
  private diskFaultFor(op: DiskOp): DiskFault | undefined {
    if (op.kind !== "datasync") return undefined;
    const fault: DiskFault = { delayMs: this.fsyncLatency() + this.stallMs };
    if (this.eioNext) {
      this.eioNext = false;
      fault.error = "EIO";
      this.eioInFlight.add(fault);
    }
    return fault;
  }

  private fsyncLatency(): number {
    const { rng, timing: t } = this.opts;
    const ms = rng.int(t.fsyncMinMs, t.fsyncMaxMs);
    // The heal ends every slowness (design.md, "Disk faults"), the profile's tail stalls too:
    // the liveness check then measures recovery, not a disk that is slow on purpose.
    const tail = this.calm ? 0 : (t.fsyncTailRate ?? 0);
    if (tail <= 0 || !rng.chance(tail)) return ms;
    return ms + rng.int(t.fsyncTailMinMs ?? 0, t.fsyncTailMaxMs ?? 0);
  }

  private applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      if (e.index <= this.sm.state.applied) continue;
      if (e.index !== this.sm.state.applied + 1)
        this.opts.observer.onError(
          this,
          `apply gap: entry ${e.index} after applied ${this.sm.state.applied}`,
        );
      const command = this.sm.apply(e);
      this.opts.observer.onApply(this, e, command);
    }
    this.serveReads();
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

  private applySnapshot(snap: Snapshot): void {
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
    this.serveReads();
  }

  private maybeCompact(): void {
    const raw = this.raw;
    const every = this.opts.timing.snapshotEvery;
    const { applied } = this.sm.state;
    if (!raw || !this.driver || every <= 0 || applied - this.snapshotIndex < every) return;
    const snapshot = raw.compact(applied, this.sm.snapshot());
    if (!snapshot) return;
    // Like the node runtime: written now, durable with the next fsync; until then the log it
    // replaces is still on disk.
    if (!this.driver.write({ snapshot })) return;
    this.snapshotIndex = snapshot.metadata.index;
    this.opts.observer.onCompact(this, snapshot.metadata.index);
  }
}

function isStorageError(err: unknown, code: string): boolean {
  return (err as { code?: unknown } | null)?.code === code;
}
