// The nemesis's faults, one at a time on a small cluster (README, "Simulator":
// pause, skew, transfer, corrupt, alarm, bridge partitions, crashes at Ready boundaries), and all
// of them together in the trace. Virtual time, fixed seeds.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { RawNode } from "../../src/raft/raw-node.js";
import type { Message, NodeId } from "../../src/raft/types.js";
import { SimCluster } from "../../src/sim/cluster.js";
import { RELIABLE, SimNetwork } from "../../src/sim/network.js";
import { Rng } from "../../src/sim/rng.js";
import { FAULTS, runSimulation } from "../../src/sim/runner.js";
import { Scheduler } from "../../src/sim/scheduler.js";
import { Trace } from "../../src/sim/trace.js";

const dir = mkdtempSync(join(tmpdir(), "raftwork-sim-faults-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const hb = (from: NodeId, to: NodeId): Message => ({
  type: "heartbeat",
  from,
  to,
  term: 1,
  commit: 0,
  ctx: 0,
});

async function cluster(seed = 1): Promise<SimCluster> {
  const c = new SimCluster({ nodes: 3, seed, createRawNode: (config) => new RawNode(config) });
  c.start();
  assert.ok(await c.runUntil(() => c.leader() !== 0, 10_000), `seed ${seed}: no leader`);
  await c.runFor(1_000); // the new leader's no-op is everywhere: nothing in flight
  return c;
}

describe("faults", () => {
  it("a bridge partition: the bridge reaches both sides, the sides not each other", async () => {
    const network = new SimNetwork(new Scheduler(), new Rng(1));
    for (const id of [1, 2, 3, 4, 5]) network.attach(id, () => {});
    network.partition([
      [1, 2, 3],
      [3, 4, 5],
    ]);
    for (const [a, b, reach] of [
      [1, 3, true],
      [3, 5, true],
      [5, 3, true],
      [1, 2, true],
      [1, 5, false],
      [4, 2, false],
    ] as const)
      assert.equal(network.canReach(a, b), reach, `${a} -> ${b}`);
  });

  it("corrupt: a flipped bit is caught by the transport's frame checksum, never delivered", async () => {
    const file = join(dir, "corrupt.jsonl");
    const sched = new Scheduler();
    const trace = new Trace({ file });
    const network = new SimNetwork(sched, new Rng(2), {
      faults: { ...RELIABLE, corruptRate: 1 },
      trace,
    });
    let delivered = 0;
    for (const id of [1, 2]) network.attach(id, () => delivered++);
    for (let i = 0; i < 200; i++) network.send(hb(1, 2));
    sched.runUntilIdle();
    trace.finish();
    assert.equal(delivered, 0);
    assert.equal(network.stats.corrupted, 200);
    const drops = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(drops.length, 200);
    for (const d of drops) assert.equal(d.reason, "corrupt");
  });

  it("alarm: a false peer-lost report reaches the node's core and is traced as one", async () => {
    const network = new SimNetwork(new Scheduler(), new Rng(3));
    const lost: NodeId[] = [];
    network.attach(1, () => {});
    network.attach(
      2,
      () => {},
      (peer) => lost.push(peer),
    );
    network.falseAlarm(2, 1);
    assert.deepEqual(lost, [1]);
  });

  it("pause: a paused leader handles nothing until it resumes, then everything in order", async () => {
    const c = await cluster(4);
    const leader = c.leader();
    const term = c.node(leader).raw?.status().term ?? 0;
    const before = c.node(leader).sm.state.applied;
    c.pause(leader, 5_000);
    assert.equal(c.propose(leader, "x=1"), null, "a paused node takes no proposals");
    // The others elect a new leader meanwhile; the paused one still believes it leads.
    assert.ok(await c.runUntil(() => c.leader() !== 0 && c.leader() !== leader, 4_000));
    assert.equal(c.node(leader).role, "leader");
    assert.equal(c.node(leader).sm.state.applied, before);
    assert.ok(await c.runUntil(() => !c.node(leader).paused, 5_000));
    await c.runFor(1_000);
    assert.notEqual(c.node(leader).role, "leader");
    assert.ok((c.node(leader).raw?.status().term ?? 0) > term);
    assert.deepEqual(c.violations, []);
  });

  it("skew: a node whose clock runs 4x fast campaigns before the others", async () => {
    const c = new SimCluster({ nodes: 3, seed: 5, createRawNode: (config) => new RawNode(config) });
    c.skew(3, 4);
    c.start();
    assert.ok(await c.runUntil(() => c.leader() !== 0, 5_000));
    assert.equal(c.leader(), 3);
  });

  it("crash at a Ready boundary: after-send loses the unsynced batch, after-fsync keeps it", async () => {
    for (const point of ["after-send", "after-fsync"] as const) {
      const c = await cluster(6);
      const leader = c.leader();
      const follower = c.ids.find((id) => id !== leader) as NodeId;
      let crashedAt = -1;
      c.armCrash(follower, point, () => (crashedAt = c.sched.now));
      const index = c.propose(leader, "k=v") as number;
      assert.ok(await c.runUntil(() => crashedAt >= 0, 1_000), `${point}: never reached`);
      assert.equal(c.node(follower).up, false);
      // FileStorage's recovery of the follower's disk (the batch of an after-send crash never
      // left the process: write() only encodes it, the flush comes with the sync).
      const kept = (await c.durableState(follower)).entries.some((e) => e.index === index);
      assert.equal(kept, point === "after-fsync", point);
      c.restart(follower);
      assert.ok(await c.runUntil(() => c.node(follower).sm.state.applied >= index, 5_000));
      assert.deepEqual(c.violations, [], point);
    }
  });

  it("transfer: the leader hands over to the peer it was asked to", async () => {
    const c = await cluster(7);
    const leader = c.leader();
    const to = c.ids.find((id) => id !== leader) as NodeId;
    assert.equal(c.transfer(leader, to), true);
    assert.ok(await c.runUntil(() => c.leader() === to, 2_000));
  });

  it("the heal ends pauses and clock skew and restarts every crashed node", async () => {
    const c = await cluster(8);
    c.pause(1, 60_000);
    c.skew(2, 2);
    c.crash(3);
    c.healAll();
    // A restart is FileStorage's recovery on the node's disk: up once it returned.
    assert.ok(await c.runUntil(() => c.node(3).up, 1_000), "node 3 back");
    for (const id of c.ids) {
      const n = c.node(id);
      assert.deepEqual([n.up, n.paused, n.clockRate], [true, false, 1], `node ${id}`);
    }
  });

  it("every fault appears in the trace of a run with all of them", async () => {
    const file = join(dir, "all.jsonl");
    const r = await runSimulation({
      nodes: 5,
      seed: 1,
      timeMs: 60_000,
      faults: FAULTS,
      traceFile: file,
    });
    assert.deepEqual(r.violations, []);
    const recs = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const has = (what: string, f: (r: Record<string, unknown>) => boolean) =>
      assert.ok(recs.some(f), `no ${what} in the trace`);
    for (const ev of ["pause", "resume", "skew", "transfer", "partition", "cut", "slow", "heal"])
      has(ev, (r) => r.ev === ev);
    has("false alarm", (r) => r.ev === "peer-lost" && r.alarm === true);
    has("corrupted message", (r) => r.ev === "drop" && r.reason === "corrupt");
    has("crash at a Ready boundary", (r) => r.ev === "crash" && typeof r.point === "string");
    has("bridge partition", (r) => {
      if (r.ev !== "partition") return false;
      const ids = String(r.groups).split(/[|,]/);
      return new Set(ids).size < ids.length;
    });
    has("liveness phase", (r) => r.ev === "phase" && r.phase === "liveness");
    for (const fault of ["eio", "stall", "stall-end", "full", "space"])
      has(`disk ${fault}`, (r) => r.ev === "disk" && r.fault === fault);
    has("a node stopped by its disk", (r) => r.ev === "crash" && r.reason === "disk");
  });
});
