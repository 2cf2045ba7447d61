// The simulator's nodes run FileStorage on a simulated disk (SimDisk), and the `disk` fault
// acts on that disk: an fsync EIO fail-stops the node (it counts as crashed and comes back at
// the heal), a stall delays its fsyncs, a full disk holds its syncs until space returns.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawNode } from "../../src/raft/raw-node.js";
import type { NodeId } from "../../src/raft/types.js";
import { SimCluster } from "../../src/sim/cluster.js";
import type { TraceRecord } from "../../src/sim/trace.js";

async function cluster(seed: number, records?: TraceRecord[]): Promise<SimCluster> {
  const c = new SimCluster({
    nodes: 3,
    seed,
    createRawNode: (config) => new RawNode(config),
    ...(records ? { listener: (r: TraceRecord) => records.push(r) } : {}),
  });
  c.start();
  assert.ok(await c.runUntil(() => c.leader() !== 0, 10_000), `seed ${seed}: no leader`);
  await c.runFor(500);
  return c;
}

function follower(c: SimCluster): NodeId {
  return c.ids.find((id) => id !== c.leader()) as NodeId;
}

async function commit(c: SimCluster, command: string, on: NodeId[]): Promise<number> {
  const index = c.propose(c.leader(), command);
  assert.notEqual(index, null, "the leader took the proposal");
  const ok = await c.runUntil(
    () => on.every((id) => c.node(id).sm.state.applied >= (index as number)),
    5_000,
  );
  assert.ok(ok, `${command} applied on ${on.join(",")}`);
  return index as number;
}

describe("simulated disks", () => {
  it("nodes run FileStorage: the WAL is on the node's disk and a restart recovers from it", async () => {
    const c = await cluster(31);
    const f = follower(c);
    const index = await commit(c, "a=1", c.ids);
    const wal = await c.node(f).disk.fs.readdir("/data/wal");
    assert.ok(
      wal.some((n) => n.endsWith(".wal")),
      `WAL segments on the disk: ${wal.join(" ")}`,
    );
    c.crash(f);
    const kept = await c.durableState(f);
    assert.ok(
      kept.entries.some((e) => e.index === index),
      "the applied (so fsynced) entry survived the power loss",
    );
    c.restart(f);
    assert.ok(await c.runUntil(() => c.node(f).up, 1_000), "the restart's recovery finished");
    await commit(c, "b=2", c.ids);
    assert.deepEqual(c.violations, []);
  });

  it("an fsync EIO fail-stops the node: it counts as crashed and comes back only at the heal", async () => {
    const records: TraceRecord[] = [];
    const c = await cluster(32, records);
    const f = follower(c);
    c.diskFault(f, "eio");
    const others = c.ids.filter((id) => id !== f);
    await commit(c, "x=1", others);
    assert.ok(await c.runUntil(() => !c.node(f).up, 2_000), "the node stopped");
    const crash = records.find((r) => r.ev === "crash" && r.node === f);
    assert.equal(crash?.ev === "crash" && crash.reason, "disk");
    await c.runFor(5_000);
    assert.equal(c.node(f).up, false, "not restarted before the heal");
    await commit(c, "x=2", others);
    c.healAll();
    await commit(c, "x=3", c.ids);
    assert.deepEqual(c.violations, []);
  });

  it("a stalled disk delays that node's fsyncs, and so its acknowledgements", async () => {
    const c = await cluster(33);
    const f = follower(c);
    const other = c.ids.find((id) => id !== f && id !== c.leader()) as NodeId;
    c.diskFault(f, "stall", 1_500);
    const index = c.propose(c.leader(), "s=1") as number;
    const start = c.sched.now;
    assert.ok(await c.runUntil(() => c.node(other).sm.state.applied >= index, 2_000));
    assert.ok(c.node(f).sm.state.applied < index, "the stalled follower is behind");
    c.diskHeal(f);
    assert.ok(await c.runUntil(() => c.node(f).sm.state.applied >= index, 5_000));
    // Its fsync started with the stall, so it still took the stall's time.
    assert.ok(c.sched.now - start >= 1_400, `applied after ${c.sched.now - start} ms`);
    assert.deepEqual(c.violations, []);
  });

  it("a full disk holds the node's syncs (it does not stop) until space returns", async () => {
    const c = await cluster(34);
    const f = follower(c);
    const others = c.ids.filter((id) => id !== f);
    c.diskFault(f, "full");
    let index = 0;
    for (let i = 0; i < 5; i++) index = await commit(c, `f=${i}`, others);
    await c.runFor(1_000);
    assert.equal(c.node(f).up, true, "a full disk is retryable: the node waits");
    assert.ok(c.node(f).sm.state.applied < index, "nothing new is durable there, so not applied");
    c.diskHeal(f);
    assert.ok(await c.runUntil(() => c.node(f).sm.state.applied >= index, 5_000), "caught up");
    assert.deepEqual(c.violations, []);
  });
});
