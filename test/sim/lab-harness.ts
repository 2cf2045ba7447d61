// A 6.5840-lab-like test harness over the simulator: the lab's config helpers (one,
// nCommitted, checkOneLeader, checkTerms, checkNoLeader, disconnect/connect, crash1/start1,
// rpcTotal, bytesTotal, setUnreliable, setLongReordering) in our own words, on virtual time.
// "sleep" advances the simulated clock, so the lab's 5 s / 10 s bounds are virtual seconds and a
// whole test takes milliseconds of real time. Every helper fails with a message naming the seed.
//
// Node ids are 1..n. The lab numbers servers 0..n-1 and writes (leader + k) % n; here that is
// lab.peer(leader, k).
//
// Our leaders append a no-op when elected (Raft §8), so the first command lands at index 2, not 1
// as in the lab; tests compare indexes relative to what the log already holds.

import assert from "node:assert/strict";
import { RawNode } from "../../src/raft/raw-node.js";
import type { NodeId } from "../../src/raft/types.js";
import { SimCluster } from "../../src/sim/cluster.js";
import { RELIABLE, UNRELIABLE } from "../../src/sim/network.js";
import type { Rng } from "../../src/sim/rng.js";

/** The lab's RaftElectionTimeout: the longest a healthy cluster may need to elect a leader. */
export const ELECTION_TIMEOUT_MS = 1000;
/** Snapshot every this many applied entries in 2D tests (the lab's SnapShotInterval). */
export const SNAPSHOT_INTERVAL = 10;

export interface LabOptions {
  unreliable?: boolean;
  snapshot?: boolean;
  seed?: number;
}

/** Seeds come from SIM_SEED when set (to replay a failure), else from the test's default. */
export function labSeed(fallback: number): number {
  const env = process.env.SIM_SEED;
  return env !== undefined && /^\d+$/.test(env) ? Number(env) : fallback;
}

export class Lab {
  readonly c: SimCluster;
  readonly rng: Rng;
  readonly seed: number;
  private unreliable: boolean;
  private longReordering = false;

  constructor(
    readonly n: number,
    opts: LabOptions = {},
  ) {
    this.seed = labSeed(opts.seed ?? 1);
    this.unreliable = opts.unreliable ?? false;
    this.c = new SimCluster({
      nodes: n,
      seed: this.seed,
      createRawNode: (config) => new RawNode(config),
      faults: RELIABLE,
      timing: { snapshotEvery: opts.snapshot ? SNAPSHOT_INTERVAL : 0 },
    });
    this.rng = this.c.rng.fork("lab");
    this.applyFaults();
    this.c.start();
  }

  get ids(): NodeId[] {
    return this.c.ids;
  }

  /** The lab's (i + k) % n over ids 1..n. */
  peer(id: NodeId, k: number): NodeId {
    return ((((id - 1 + k) % this.n) + this.n) % this.n) + 1;
  }

  fail(message: string): never {
    assert.fail(`${message} (seed ${this.seed}, virtual time ${this.c.sched.now} ms)`);
  }

  /** Advance virtual time; a safety violation fails the test at once. */
  async sleep(ms: number): Promise<void> {
    await this.c.runFor(ms);
    this.assertSafe();
  }

  assertSafe(): void {
    const v = this.c.violations[0];
    if (v) this.fail(`invariant ${v.invariant} violated at event ${v.event}: ${v.message}`);
  }

  /** Up and reachable: the lab's cfg.connected[i]. */
  connected(id: NodeId): boolean {
    return this.c.node(id).up && this.c.net.isConnected(id);
  }

  disconnect(id: NodeId): void {
    this.c.disconnect(id);
  }

  connect(id: NodeId): void {
    this.c.connect(id);
  }

  /** The lab's crash1: cut the server off and kill it; its disk keeps what was synced. */
  crash1(id: NodeId): void {
    this.c.disconnect(id);
    this.c.crash(id);
  }

  /** The lab's start1: (re)boot from the disk, still disconnected until connect(). */
  start1(id: NodeId): void {
    this.crash1(id);
    this.c.restart(id);
  }

  setUnreliable(on: boolean): void {
    this.unreliable = on;
    this.applyFaults();
  }

  /** Some messages are held back 200-2200 ms (the lab's long reordering). */
  setLongReordering(on: boolean): void {
    this.longReordering = on;
    this.applyFaults();
  }

  private applyFaults(): void {
    const base = this.unreliable ? UNRELIABLE : RELIABLE;
    this.c.net.faults = this.longReordering
      ? { ...base, reorder: true, longDelayRate: 0.3, longDelayMaxMs: 2200 }
      : base;
  }

  /** Requests sent so far (pre-vote, vote, append, heartbeat, snapshot): the lab's RPC count. */
  rpcTotal(): number {
    return this.c.net.stats.requests;
  }

  /** Payload bytes sent in appends and snapshots. */
  bytesTotal(): number {
    return this.c.net.stats.bytes;
  }

  /** Term and role of a live node. */
  state(id: NodeId): { term: number; isLeader: boolean } | null {
    const raw = this.c.node(id).raw;
    if (!raw) return null;
    const s = raw.status();
    return { term: s.term, isLeader: s.role === "leader" };
  }

  /** Propose on one server (the lab's rf.Start): the index it got, or null if not leader. */
  start(id: NodeId, cmd: string | number): number | null {
    const r = this.c.propose(id, cmd);
    this.assertSafe();
    return r;
  }

  /** The one leader among connected servers, waiting up to ~5 s (10 polls) for it. */
  async checkOneLeader(): Promise<NodeId> {
    for (let iter = 0; iter < 10; iter++) {
      await this.sleep(this.rng.int(450, 550));
      const leaders = new Map<number, NodeId[]>();
      for (const id of this.ids) {
        const s = this.state(id);
        if (s?.isLeader && this.connected(id))
          leaders.set(s.term, [...(leaders.get(s.term) ?? []), id]);
      }
      let lastTerm = -1;
      for (const [term, ids] of leaders) {
        if (ids.length > 1) this.fail(`term ${term} has ${ids.length} (>1) leaders`);
        lastTerm = Math.max(lastTerm, term);
      }
      if (lastTerm >= 0) return (leaders.get(lastTerm) as NodeId[])[0] as NodeId;
    }
    return this.fail("expected one leader, got none");
  }

  /** Every connected server agrees on the term; returns it. */
  checkTerms(): number {
    let term = -1;
    for (const id of this.ids) {
      if (!this.connected(id)) continue;
      const t = (this.state(id) as { term: number }).term;
      if (term === -1) term = t;
      else if (t !== term) this.fail(`servers disagree on term (${term} vs ${t})`);
    }
    return term;
  }

  checkNoLeader(): void {
    for (const id of this.ids)
      if (this.connected(id) && this.state(id)?.isLeader)
        this.fail(`expected no leader among connected servers, but ${id} claims to be leader`);
  }

  /** How many servers have applied `index`, and the command committed there. */
  nCommitted(index: number): { count: number; cmd: string | null } {
    let count = 0;
    for (const id of this.ids) if (this.c.node(id).sm.state.applied >= index) count++;
    return { count, cmd: count > 0 ? (this.c.committed[index] ?? null) : null };
  }

  /** Highest index any server has applied. */
  maxApplied(): number {
    return Math.max(...this.ids.map((id) => this.c.node(id).sm.state.applied));
  }

  /**
   * The lab's one(): submit `cmd` to whichever connected server leads, then wait up to 2 s for
   * `expected` servers to apply it; keep trying for 10 s. With retry=false a command that got an
   * index but did not commit fails the test at once. Returns the index.
   */
  async one(cmd: string | number, expected: number, retry: boolean): Promise<number> {
    const deadline = this.c.sched.now + 10_000;
    let starts = 1;
    const want = String(cmd);
    while (this.c.sched.now < deadline) {
      let index: number | null = null;
      for (let k = 0; k < this.n && index === null; k++) {
        starts = this.peer(starts, 1);
        if (this.connected(starts)) index = this.start(starts, cmd);
      }
      if (index !== null) {
        const submitted = this.c.sched.now;
        while (this.c.sched.now - submitted < 2_000) {
          const { count, cmd: got } = this.nCommitted(index);
          if (count > 0 && count >= expected && got === want) return index;
          await this.sleep(20);
        }
        if (!retry) this.fail(`one(${want}) failed to reach agreement on ${expected} servers`);
      } else {
        await this.sleep(50);
      }
    }
    return this.fail(`one(${want}) failed to reach agreement within 10 s`);
  }

  /** Wait for `count` servers to apply `index` (the lab's wait()); null if the term moved on. */
  async wait(index: number, count: number, startTerm: number): Promise<string | null> {
    let to = 10;
    for (let iter = 0; iter < 30; iter++) {
      if (this.nCommitted(index).count >= count) break;
      await this.sleep(to);
      if (to < 1000) to *= 2;
      if (startTerm > -1 && this.ids.some((id) => (this.state(id)?.term ?? 0) > startTerm))
        return null;
    }
    const { count: got, cmd } = this.nCommitted(index);
    if (got < count) this.fail(`only ${got} servers applied index ${index}, wanted ${count}`);
    return cmd;
  }

  /** Entries in a server's durable log (the lab's persisted state size, in entries). */
  logSize(id: NodeId): number {
    // The core's log mirrors the durable one (FileStorage holds the same entries once synced).
    const s = this.c.node(id).raw?.status();
    return s ? s.lastIndex - s.snapshotIndex : 0;
  }

  /** A random command, like the lab's rand.Int(). */
  randomCmd(): string {
    return String(this.rng.int(0, 1_000_000_000));
  }

  /** End of test: no safety violation, and report the virtual time it took. */
  end(): void {
    this.assertSafe();
  }
}
