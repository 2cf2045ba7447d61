import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message, NodeId } from "../../src/raft/types.js";
import { createSimTransports, RELIABLE, SimNetwork } from "../../src/sim/network.js";
import { Rng } from "../../src/sim/rng.js";
import { Scheduler } from "../../src/sim/scheduler.js";

const hb = (from: NodeId, to: NodeId, commit: number): Message => ({
  type: "heartbeat",
  from,
  to,
  term: 1,
  commit,
  ctx: 0,
});

function net(faults = RELIABLE, seed = 1) {
  const sched = new Scheduler();
  const network = new SimNetwork(sched, new Rng(seed), { faults });
  const got = new Map<NodeId, number[]>();
  for (const id of [1, 2, 3]) {
    got.set(id, []);
    network.attach(id, (m) => got.get(id)?.push((m as { commit: number }).commit));
  }
  return { sched, network, got };
}

describe("SimNetwork", () => {
  it("a reliable network delivers everything, in order, per link", () => {
    const { sched, network, got } = net();
    for (let i = 0; i < 50; i++) network.send(hb(1, 2, i));
    sched.runUntilIdle();
    assert.deepEqual(
      got.get(2),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.equal(network.stats.requests, 50);
  });

  it("without reorder, delayed links stay FIFO; with reorder, messages overtake", () => {
    const delayed = { ...RELIABLE, minDelayMs: 0, maxDelayMs: 30 };
    const fifo = net(delayed);
    for (let i = 0; i < 200; i++) fifo.network.send(hb(1, 2, i));
    fifo.sched.runUntilIdle();
    assert.deepEqual(
      fifo.got.get(2),
      Array.from({ length: 200 }, (_, i) => i),
    );
    const shuffled = net({ ...delayed, reorder: true });
    for (let i = 0; i < 200; i++) shuffled.network.send(hb(1, 2, i));
    shuffled.sched.runUntilIdle();
    const order = shuffled.got.get(2) as number[];
    assert.equal(order.length, 200);
    assert.notDeepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
  });

  it("drops about dropRate of messages and duplicates about dupRate", () => {
    const { sched, network, got } = net({ ...RELIABLE, dropRate: 0.1, dupRate: 0.05 }, 9);
    for (let i = 0; i < 5000; i++) network.send(hb(1, 2, i));
    sched.runUntilIdle();
    const n = (got.get(2) as number[]).length;
    // 5000 sends + ~250 copies, ~10% of all copies lost: about 4725.
    assert.ok(n > 4500 && n < 4950, `${n} delivered`);
    assert.ok(network.stats.duplicated > 150 && network.stats.duplicated < 350);
    assert.equal(network.stats.delivered + network.stats.dropped, 5000 + network.stats.duplicated);
  });

  it("partitions cut links between groups, also for messages already in flight; heal restores", () => {
    const { sched, network, got } = net({ ...RELIABLE, minDelayMs: 10, maxDelayMs: 10 });
    network.send(hb(1, 2, 1)); // in flight when the partition starts
    network.partition([[1], [2, 3]]);
    network.send(hb(1, 3, 2));
    network.send(hb(2, 3, 3));
    sched.runUntilIdle();
    assert.deepEqual(got.get(2), []);
    assert.deepEqual(got.get(3), [3]);
    network.heal();
    network.send(hb(1, 2, 4));
    sched.runUntilIdle();
    assert.deepEqual(got.get(2), [4]);
  });

  it("a node in no group is cut off from everyone, even if it was down during partition()", () => {
    const { sched, network, got } = net();
    network.detach(3);
    network.partition([[1, 2]]);
    network.attach(3, (m) => got.get(3)?.push((m as { commit: number }).commit));
    network.send(hb(1, 3, 1));
    network.send(hb(3, 2, 2));
    network.send(hb(1, 2, 3));
    sched.runUntilIdle();
    assert.deepEqual(got.get(3), []);
    assert.deepEqual(got.get(2), [3]);
  });

  it("one-way cuts and disconnect: the lab's disconnect isolates a node both ways", () => {
    const { sched, network, got } = net();
    network.cutLink(1, 2);
    network.send(hb(1, 2, 1));
    network.send(hb(2, 1, 2));
    network.disconnect(3);
    network.send(hb(3, 1, 3));
    network.send(hb(1, 3, 4));
    sched.runUntilIdle();
    assert.deepEqual(got.get(2), []);
    assert.deepEqual(got.get(1), [2]);
    assert.deepEqual(got.get(3), []);
    network.connect(3);
    network.send(hb(1, 3, 5));
    sched.runUntilIdle();
    assert.deepEqual(got.get(3), [5]);
  });

  it("messages to a detached (crashed) node are dropped; responses are not counted as requests", () => {
    const { sched, network, got } = net();
    network.detach(2);
    network.send(hb(1, 2, 1));
    network.send({ type: "heartbeat-resp", from: 3, to: 1, term: 1, ctx: 0 });
    sched.runUntilIdle();
    assert.deepEqual(got.get(2), []);
    assert.equal(network.stats.requests, 1);
    assert.equal(network.stats.dropped, 1);
  });

  it("createSimTransports gives Transport endpoints over one network", async () => {
    const { transports, runUntilIdle } = createSimTransports([1, 2]);
    const got: Message[] = [];
    transports.get(2)?.onMessage((m) => got.push(m));
    transports.get(1)?.send(hb(1, 2, 7));
    assert.equal(runUntilIdle(), true);
    assert.deepEqual(got, [hb(1, 2, 7)]);
    await transports.get(2)?.close();
    transports.get(1)?.send(hb(1, 2, 8));
    runUntilIdle();
    assert.equal(got.length, 1);
  });

  it("holds copies for a crashed node in the sender's queue and delivers them, in order, once it is back", () => {
    const { sched, network, got } = net({ ...RELIABLE, holdRate: 1, holdMaxMs: 500 });
    network.detach(2);
    for (let i = 0; i < 3; i++) network.send(hb(1, 2, i));
    network.send(hb(3, 2, 100));
    sched.runUntil(1000);
    assert.deepEqual(got.get(2), [], "nothing reaches a crashed node");
    network.detach(3); // the sender's queue dies with it
    network.attach(2, (m) => got.get(2)?.push((m as { commit: number }).commit));
    network.send(hb(1, 2, 3)); // sent after the restart: behind the backlog on a FIFO link
    sched.runUntilIdle();
    assert.deepEqual(got.get(2), [0, 1, 2, 3]);
    assert.equal(network.stats.dropped, 1, "node 3's held copy was dropped with it");
  });

  it("without holdRate a copy for a crashed node is dropped", () => {
    const { sched, network, got } = net();
    network.detach(2);
    network.send(hb(1, 2, 0));
    sched.runUntilIdle();
    network.attach(2, (m) => got.get(2)?.push((m as { commit: number }).commit));
    sched.runUntilIdle();
    assert.deepEqual(got.get(2), []);
    assert.equal(network.stats.dropped, 1);
  });

  it("a power loss takes what the sender sent in its last millisecond, not what left before", () => {
    const { sched, network, got } = net({
      ...RELIABLE,
      minDelayMs: 5,
      maxDelayMs: 5,
      crashLossRate: 1,
    });
    network.send(hb(1, 2, 0));
    sched.runUntil(2);
    network.send(hb(1, 2, 1));
    network.send(hb(1, 3, 2));
    network.detach(1);
    sched.runUntilIdle();
    assert.deepEqual(got.get(2), [0]);
    assert.deepEqual(got.get(3), []);
  });
});
