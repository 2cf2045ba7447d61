// SimCluster: N SimNodes on one SimNetwork and one virtual clock, with the invariant checker
// and the trace attached. The runner (random faults, a client, the liveness check), the lab
// tests' harness and the demo all drive a cluster through this one surface:
//
//   const c = new SimCluster({ nodes: 3, seed: 7 });
//   c.start();
//   await c.runUntil(() => c.leader() !== 0, 5_000);
//   c.propose(c.leader(), "x");  c.crash(2);  c.partition([[1], [2, 3]]);  c.heal();  c.restart(2);
//   c.violations   // safety violations found so far (the first one stops every run* call)
//
// Every node runs FileStorage on its own simulated disk (SimNode), which is asynchronous code:
// runFor and runUntil are async, and between two events that left promise callbacks behind
// (sched.microtasks) they yield one turn so that those run first (docs/architecture.md,
// "Asynchronous production code under virtual time"). A node's restart takes its recovery's
// disk time; it is up (node(id).up) once FileStorage.open and load returned.

import type { PersistedState, RaftConfig, RawNodeApi, Ready, TimerFired } from "../raft/api.js";
import type { Entry, NodeId } from "../raft/types.js";
import { InvariantChecker, type InvariantName, type Violation } from "./invariants.js";
import { type NetworkFaults, RELIABLE, SimNetwork } from "./network.js";
import { Rng } from "./rng.js";
import { Scheduler } from "./scheduler.js";
import {
  type CrashPoint,
  type DiskFaultKind,
  type NodeObserver,
  SimNode,
  type SimNodeTiming,
} from "./sim-node.js";
import { encodeCommand } from "./state-machine.js";
import type { Trace, TraceRecord } from "./trace.js";
import { TRACE_VERSION } from "./trace-schema.js";

/**
 * Lab-like timing: 20 ms ticks, heartbeats every 100 ms (10 per second, the 6.5840 lab's limit),
 * election timeouts drawn from [300, 600) ms, fsync 1–4 ms.
 */
export const DEFAULT_TIMING: SimNodeTiming = {
  tickMs: 20,
  electionTick: 15,
  heartbeatTick: 5,
  fsyncMinMs: 1,
  fsyncMaxMs: 4,
  snapshotEvery: 0,
};

export interface ClusterOptions {
  nodes: number;
  seed: number | string;
  /** Builds each node's Raft core. */
  createRawNode: (config: RaftConfig) => RawNodeApi;
  faults?: NetworkFaults;
  timing?: Partial<SimNodeTiming>;
  raftOptions?: Partial<RaftConfig>;
  trace?: Trace;
  /** Sees every trace record as it is made (the demo narrates from it). */
  listener?: (rec: TraceRecord) => void;
}

/** What the simulated clients need to hear from the nodes (client.ts). */
export interface ClusterClients {
  /** `node` applied `entry`; `first` if no node had applied that index before. */
  onApply(node: SimNode, entry: Entry, command: string | null, first: boolean): void;
  /** Read `ctx` at `node` is confirmed and applied up to `index`: serve it now. */
  onRead(node: SimNode, ctx: number, index: number): void;
}

export class SimCluster implements NodeObserver {
  readonly sched = new Scheduler();
  readonly rng: Rng;
  readonly net: SimNetwork;
  readonly ids: NodeId[];
  readonly checker: InvariantChecker;
  /** Command text of every committed index (null for no-ops), as first applied. */
  readonly committed: (string | null)[] = [null];
  /** Client commands committed (applied by some node). */
  commits = 0;
  /** The simulated clients, if any (the runner's). */
  clients: ClusterClients | null = null;
  private readonly nodes = new Map<NodeId, SimNode>();
  /** Per node, its log's last index, commit and term as written to its disk (trace records). */
  private readonly written = new Map<NodeId, { last: number; commit: number; term: number }>();
  /** Per node, the last index and term known durable (its last fsync), for crash records. */
  private readonly synced = new Map<NodeId, { last: number; term: number }>();
  /** Armed crash points: what to do once the node crashed there (the nemesis's restart). */
  private readonly afterArmedCrash = new Map<NodeId, () => void>();
  /** Violations already in the trace. */
  private violationsTraced = 0;
  private readonly trace: Trace | null;
  private readonly listener: ((rec: TraceRecord) => void) | null;

  constructor(opts: ClusterOptions) {
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1) throw new Error("nodes must be >= 1");
    this.rng = new Rng(opts.seed);
    this.trace = opts.trace ?? null;
    this.listener = opts.listener ?? null;
    this.net = new SimNetwork(this.sched, this.rng.fork("network"), {
      faults: opts.faults ?? RELIABLE,
      ...(this.trace ? { trace: this.trace } : {}),
    });
    this.ids = Array.from({ length: opts.nodes }, (_, i) => i + 1);
    this.checker = new InvariantChecker(this.ids, () => this.sched.executed);
    const timing = { ...DEFAULT_TIMING, ...opts.timing };
    this.record({ t: 0, ev: "trace", v: TRACE_VERSION, nodes: this.ids, seed: opts.seed });
    for (const id of this.ids) {
      const node = new SimNode({
        id,
        peers: this.ids,
        sched: this.sched,
        rng: this.rng.fork(`node/${id}`),
        send: (m) => {
          if (m.type === "vote-resp" && m.granted) {
            this.checker.onVoteGranted(m.from, m.term, m.to);
            this.traceViolations();
          }
          this.net.send(m);
        },
        timing,
        createRawNode: opts.createRawNode,
        observer: this,
        ...(opts.raftOptions ? { raftOptions: opts.raftOptions } : {}),
      });
      this.nodes.set(id, node);
    }
  }

  get violations(): Violation[] {
    return this.checker.violations;
  }

  get ok(): boolean {
    return this.checker.ok;
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Boot every node (brand-new disks). */
  start(): void {
    for (const id of this.ids) this.restart(id);
  }

  crash(id: NodeId, point?: CrashPoint): void {
    const n = this.node(id);
    if (!n.up) return;
    this.net.detach(id);
    n.crash(point);
  }

  /** Crash `id` when it next reaches `point` in its Ready loop, then call `then`. */
  armCrash(id: NodeId, point: CrashPoint, then: () => void): void {
    const n = this.node(id);
    if (!n.up) return;
    n.armCrash(point);
    this.afterArmedCrash.set(id, then);
  }

  /** `id` stops processing for `ms` (then resumes by itself unless healed earlier). */
  pause(id: NodeId, ms: number): void {
    const n = this.node(id);
    if (!n.up || n.paused) return;
    n.pause();
    this.record({ t: this.sched.now, ev: "pause", node: id, ms });
    this.sched.after(ms, () => this.resume(id));
  }

  resume(id: NodeId): void {
    const n = this.node(id);
    if (!n.paused) return;
    this.record({ t: this.sched.now, ev: "resume", node: id });
    n.resume();
  }

  /** From now on `id`'s clock runs at `rate` times virtual time. */
  skew(id: NodeId, rate: number): void {
    const n = this.node(id);
    if (n.clockRate === rate) return;
    n.setClockRate(rate);
    this.record({ t: this.sched.now, ev: "skew", node: id, rate });
  }

  /** Ask leader `id` to hand over to `to`. */
  transfer(id: NodeId, to: NodeId): boolean {
    const ok = this.node(id).transferLeader(to);
    this.record({ t: this.sched.now, ev: "transfer", node: id, to, ok });
    return ok;
  }

  /**
   * The `disk` fault at `id`: "eio" (its next fsync fails: it fail-stops), "stall" (every fsync
   * takes `ms` longer until the heal), "full" (no free space until the heal).
   */
  diskFault(id: NodeId, kind: DiskFaultKind, ms?: number): void {
    const n = this.node(id);
    n.diskFault(kind, ms);
    this.record({ t: this.sched.now, ev: "disk", node: id, fault: kind, ...(ms ? { ms } : {}) });
  }

  /** Ends `id`'s stalled fsyncs and full disk. */
  diskHeal(id: NodeId): void {
    const n = this.node(id);
    const stalled = n.diskStalled;
    const full = n.diskFull;
    n.diskHeal();
    if (stalled) this.record({ t: this.sched.now, ev: "disk", node: id, fault: "stall-end" });
    if (full) this.record({ t: this.sched.now, ev: "disk", node: id, fault: "space" });
  }

  /**
   * What `id`'s disk holds, as FileStorage recovers it (a down node's disk is opened and closed
   * again). The simulation runs meanwhile: the disk's operations take virtual time.
   */
  async durableState(id: NodeId): Promise<PersistedState> {
    let settled = false;
    const state = this.node(id).durableState();
    state.then(
      () => (settled = true),
      () => (settled = true),
    );
    this.sched.microtasks = true;
    await this.runUntil(() => settled, 60_000);
    return state;
  }

  /**
   * The end of the fault phase: every link restored, pauses, clock skew, stalled and full disks
   * ended, armed crashes disarmed, every crashed (or disk-stopped) node restarted.
   */
  healAll(): void {
    this.heal();
    for (const id of this.ids) {
      const n = this.node(id);
      n.armCrash(null);
      this.resume(id);
      this.skew(id, 1);
      this.diskHeal(id);
      n.calm = true;
    }
    this.afterArmedCrash.clear();
    for (const id of this.ids) this.restart(id);
  }

  restart(id: NodeId): void {
    const n = this.node(id);
    if (n.up) return;
    n.start();
    this.net.attach(
      id,
      (m) => {
        n.receive(m);
        if (m.type === "app-resp") {
          this.checker.onAppendReply(id, m, () => n.raw?.status().progress?.[m.from]?.match);
          this.traceViolations();
        }
      },
      (peer) => n.peerLost(peer),
    );
  }

  disconnect(id: NodeId): void {
    this.net.disconnect(id);
  }

  connect(id: NodeId): void {
    this.net.connect(id);
  }

  partition(groups: NodeId[][]): void {
    this.net.partition(groups);
  }

  heal(): void {
    this.net.heal();
  }

  /** The up node that believes it leads the highest term, or 0. */
  leader(): NodeId {
    let best: NodeId = 0;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (n.role !== "leader" || !n.raw) continue;
      const term = n.raw.status().term;
      if (term > bestTerm) {
        best = n.id;
        bestTerm = term;
      }
    }
    return best;
  }

  /** Propose a client command at `id`. Returns the index it got, or null if `id` is not leader. */
  propose(id: NodeId, command: string | number): number | null {
    const r = this.node(id).propose(encodeCommand(command));
    return r?.ok ? r.index : null;
  }

  /** Run virtual time forward by `ms`. False if a violation stopped it. */
  async runFor(ms: number): Promise<boolean> {
    const until = this.sched.now + ms;
    for (;;) {
      if (this.sched.microtasks) await this.drain();
      if (!this.checker.ok) return false;
      if (this.sched.peekTime() > until) break;
      this.sched.step();
    }
    this.sched.now = Math.max(this.sched.now, until);
    return true;
  }

  /** Run until `done()` holds (true), `ms` pass or a violation happens (false). */
  async runUntil(done: () => boolean, ms: number): Promise<boolean> {
    const deadline = this.sched.now + ms;
    if (this.sched.microtasks) await this.drain();
    if (done()) return this.checker.ok;
    for (;;) {
      if (this.sched.microtasks) {
        await this.drain();
        if (done()) return this.checker.ok;
      }
      if (!this.checker.ok || this.sched.peekTime() > deadline) break;
      this.sched.step();
      if (!this.sched.microtasks && done()) return this.checker.ok;
    }
    if (this.checker.ok) this.sched.now = Math.max(this.sched.now, deadline);
    return false;
  }

  /**
   * One turn of the event loop: every promise callback queued (and queued by those) runs, up to
   * the next file operation that takes virtual time (a scheduler event). Nothing real runs
   * meanwhile that touches the simulation, so the order stays a function of the seed.
   */
  private drain(): Promise<void> {
    this.sched.microtasks = false;
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Report a violation found outside the cluster's own checks (the runner's liveness check). */
  fail(invariant: InvariantName, message: string): void {
    this.checker.fail(invariant, message);
    this.traceViolations();
  }

  /** Record an event in the trace (and tell the listener). */
  record(rec: TraceRecord): void {
    this.trace?.record(rec);
    this.listener?.(rec);
  }

  // NodeObserver ------------------------------------------------------------------------------

  onReady(node: SimNode, rd: Ready): void {
    const term = rd.hardState?.term ?? (rd.softState && node.raw ? node.raw.status().term : 0);
    this.checker.onReady(node.id, rd, term);
    const w = this.writtenState(node.id);
    const soft = rd.softState ?? { role: node.role, leader: node.leader };
    if (soft.role !== node.role || soft.leader !== node.leader || (rd.hardState && term !== w.term))
      this.record({
        t: this.sched.now,
        ev: "role",
        node: node.id,
        role: soft.role,
        term,
        leader: soft.leader,
      });
    // A Ready's entries are the whole unstable suffix of the core's log, so the last of them is
    // the log's last index (after any conflict truncation); a snapshot alone may keep the log.
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry) w.last = lastEntry.index;
    else if (rd.snapshot && node.raw) w.last = node.raw.status().lastIndex;
    if (rd.hardState) {
      w.commit = rd.hardState.commit;
      w.term = rd.hardState.term;
    }
    this.traceViolations();
  }

  onApply(node: SimNode, e: Entry, command: string | null): void {
    const first = e.index >= this.committed.length;
    this.checker.onApply(node.id, e, node.sm.state.hash);
    if (first && this.checker.ok) {
      this.committed[e.index] = command;
      if (command !== null) this.commits++;
      this.record({ t: this.sched.now, ev: "commit", index: e.index, term: e.term, cmd: command });
    }
    this.record({ t: this.sched.now, ev: "apply", node: node.id, index: e.index });
    this.traceViolations();
    this.clients?.onApply(node, e, command, first);
  }

  onRead(node: SimNode, ctx: number, index: number): void {
    this.clients?.onRead(node, ctx, index);
  }

  onRestore(node: SimNode, index: number, term: number, hash: number): void {
    this.checker.onRestore(node.id, index, term, hash);
    this.record({ t: this.sched.now, ev: "restore", node: node.id, index, term });
    this.traceViolations();
  }

  onCompact(node: SimNode, index: number): void {
    this.checker.onCompact(node.id, index);
    this.record({ t: this.sched.now, ev: "compact", node: node.id, index });
    this.traceViolations();
  }

  onSync(node: SimNode, last: number): void {
    this.checker.onSync(node.id, last);
    const w = this.writtenState(node.id);
    this.synced.set(node.id, { last: Math.min(last, w.last), term: w.term });
    this.record({ t: this.sched.now, ev: "sync", node: node.id, last: w.last, commit: w.commit });
  }

  onTimer(node: SimNode, timer: TimerFired): void {
    this.record({ t: this.sched.now, ev: "timer", node: node.id, timer });
  }

  onCrashPoint(node: SimNode, point: CrashPoint): void {
    this.crash(node.id, point);
    const then = this.afterArmedCrash.get(node.id);
    this.afterArmedCrash.delete(node.id);
    then?.();
  }

  /**
   * The crash record names what the node's last fsync covered; what the disk really kept (maybe
   * more of the unsynced tail) is what FileStorage recovers at the next start, where the checker
   * takes it as the node's durable state (onStart).
   */
  onCrash(node: SimNode, point?: CrashPoint, reason?: "disk"): void {
    this.net.detach(node.id);
    const s = this.synced.get(node.id) ?? { last: 0, term: 0 };
    this.record({
      t: this.sched.now,
      ev: "crash",
      node: node.id,
      durableLast: s.last,
      term: s.term,
      ...(point ? { point } : {}),
      ...(reason ? { reason } : {}),
    });
    this.traceViolations();
  }

  onStart(node: SimNode, persisted: PersistedState, afterCrash: boolean): void {
    const { term, commit } = persisted.hardState;
    const last = lastIndex(persisted);
    this.written.set(node.id, { last, commit, term });
    this.synced.set(node.id, { last, term });
    this.record({ t: this.sched.now, ev: "start", node: node.id, last, term, commit });
    this.checker.onDurableState(node.id, persisted, afterCrash);
    this.traceViolations();
  }

  onError(node: SimNode, message: string): void {
    this.fail("node-error", `node ${node.id}: ${message}`);
  }

  private writtenState(id: NodeId): { last: number; commit: number; term: number } {
    let w = this.written.get(id);
    if (!w) {
      w = { last: 0, commit: 0, term: 0 };
      this.written.set(id, w);
    }
    return w;
  }

  /**
   * Put the checker's new violations in the trace (schema: `violation`), after the records of
   * the event that broke the invariant.
   */
  private traceViolations(): void {
    const found = this.checker.violations;
    while (this.violationsTraced < found.length) {
      const v = found[this.violationsTraced++] as Violation;
      this.record({
        t: this.sched.now,
        ev: "violation",
        invariant: v.invariant,
        event: v.event,
        message: v.message,
      });
    }
  }
}

function lastIndex(p: PersistedState): number {
  const last = p.entries[p.entries.length - 1];
  return last ? last.index : (p.snapshot?.metadata.index ?? 0);
}
