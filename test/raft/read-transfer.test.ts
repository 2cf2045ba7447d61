import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawNode } from "../../src/raft/raw-node.js";
import { bytes, Cluster } from "./harness.js";

describe("ReadIndex (thesis §6.4)", () => {
  it("ReadIndex needs a quorum heartbeat round", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.propose(1, "x");
    c.stabilize();
    assert.ok(l.readIndex(42));
    c.process(1);
    const hbs = c.take((m) => m.type === "heartbeat" && m.ctx > 0);
    assert.equal(hbs.length, 2);
    assert.deepEqual(c.readStates.get(1), [], "no read state before any acknowledgement");
    // Followers answer, but the answers are lost: still nothing.
    c.drop = (m) => m.type === "heartbeat-resp";
    c.deliver(hbs);
    c.stabilize();
    assert.deepEqual(c.readStates.get(1), []);
    c.drop = null;
    // The next regular heartbeat carries the pending round; one ack + the leader = a quorum.
    c.tickAll(1);
    assert.deepEqual(c.readStates.get(1), [{ index: 2, ctx: 42 }]);
  });

  it("ReadIndex is refused until the leader commits an entry of its term", () => {
    const c = new Cluster({ n: 3 });
    const l = c.node(1);
    l.campaign();
    c.process(1);
    // Deliver only the election, not the no-op's replication.
    for (let i = 0; i < 50 && l.status().role !== "leader"; i++) {
      const k = c.queue.findIndex((m) => m.type !== "app");
      c.deliverAt(k);
    }
    assert.equal(l.status().role, "leader");
    assert.equal(l.readIndex(1), false);
    c.stabilize();
    assert.equal(l.readIndex(1), true);
  });

  it("a follower refuses ReadIndex, and a deposed leader never confirms its pending reads", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.tickAll(1);
    assert.equal(c.node(2).readIndex(1), false);
    c.isolate(1);
    assert.ok(l.readIndex(7));
    c.tickAll(30);
    assert.notEqual(l.status().role, "leader");
    assert.deepEqual(c.readStates.get(1), []);
  });

  it("reads are confirmed in order, each at the commit index it was asked at", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.stabilize();
    l.readIndex(1);
    c.propose(1, "a");
    c.stabilize();
    l.readIndex(2);
    c.stabilize();
    assert.deepEqual(c.readStates.get(1), [
      { index: 1, ctx: 1 },
      { index: 2, ctx: 2 },
    ]);
  });

  it("a single-node leader answers ReadIndex at once", () => {
    const c = new Cluster({ n: 1 });
    c.elect(1);
    assert.ok(c.node(1).readIndex(5));
    c.process(1);
    assert.deepEqual(c.readStates.get(1), [{ index: 1, ctx: 5 }]);
  });
});

describe("leader transfer (thesis §3.10)", () => {
  it("hands leadership to an up-to-date follower with TimeoutNow", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.propose(1, "x");
    c.stabilize();
    assert.ok(l.transferLeader(2));
    c.stabilize();
    assert.equal(c.node(2).status().role, "leader");
    assert.equal(c.node(2).status().term, 2);
    assert.equal(l.status().role, "follower");
    assert.ok(c.sent.some((m) => m.type === "timeout-now" && m.to === 2));
  });

  it("catches a lagging target up first, and refuses proposals meanwhile", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    c.stabilize();
    c.heal();
    assert.ok(l.transferLeader(3));
    const r = l.propose(bytes("blocked"));
    assert.deepEqual(r, { ok: false, reason: "transferring", leader: 1 });
    c.stabilize();
    assert.equal(c.node(3).status().role, "leader");
    assert.equal(c.node(3).status().lastIndex, 7, "5 entries + two no-ops");
  });

  it("a transfer aborts after an election timeout", () => {
    const c = new Cluster({ n: 3, electionTick: 10 });
    const l = c.elect(1);
    c.cutLink(1, 3);
    assert.ok(l.transferLeader(3));
    assert.equal(l.propose(bytes("x")).ok, false);
    c.tickAll(10);
    assert.equal(l.status().role, "leader");
    assert.equal(l.propose(bytes("x")).ok, true);
  });

  it("a lost TimeoutNow is sent again with the next heartbeat", () => {
    const c = new Cluster({ n: 3, electionTick: 10, heartbeatTick: 2 });
    const l = c.elect(1);
    c.stabilize();
    assert.ok(l.transferLeader(2));
    c.process(1);
    assert.equal(c.take((m) => m.type === "timeout-now").length, 1, "the first one is lost");
    c.stabilize();
    assert.equal(l.status().role, "leader");
    c.tickAll(2);
    assert.equal(c.node(2).status().role, "leader", "within one heartbeat interval");
  });

  it("a late TimeoutNow of an abandoned transfer does not depose the healthy leader", () => {
    const c = new Cluster({ n: 3, electionTick: 10, heartbeatTick: 2 });
    const l = c.elect(1);
    c.stabilize();
    assert.ok(l.transferLeader(3));
    c.process(1);
    const late = c.take((m) => m.type === "timeout-now");
    // Every resend is lost too, until the transfer is abandoned.
    c.drop = (m) => m.type === "timeout-now";
    c.tickAll(10);
    c.drop = null;
    assert.equal(l.status().role, "leader");
    assert.equal(l.propose(bytes("after")).ok, true, "proposals accepted again");
    c.stabilize();
    const term = l.status().term;
    c.deliver(late);
    c.stabilize();
    c.tickAll(3);
    assert.equal(l.status().role, "leader");
    assert.equal(l.status().term, term, "nobody campaigned");
    assert.equal(c.node(3).status().role, "follower");
  });

  it("a TimeoutNow counts only from the current leader in its term", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.stabilize();
    const index = l.status().lastIndex;
    const term = l.status().term;
    c.deliver([{ type: "timeout-now", from: 2, to: 3, term, index }]);
    c.deliver([{ type: "timeout-now", from: 1, to: 3, term: term + 1, index }]);
    c.stabilize();
    assert.equal(c.node(3).status().role, "follower");
    assert.equal(c.node(3).status().term, term);
    c.deliver([{ type: "timeout-now", from: 1, to: 3, term, index }]);
    c.stabilize();
    assert.equal(c.node(3).status().role, "leader", "the real one is obeyed");
  });

  it("rejects transfers to itself, unknown nodes, or from a follower", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    assert.equal(l.transferLeader(1), false);
    assert.equal(l.transferLeader(9), false);
    assert.equal(c.node(2).transferLeader(3), false);
  });
});

describe("restart from persisted state", () => {
  it("keeps term, vote and log; does not vote twice in a term", () => {
    const c = new Cluster({ n: 3, preVote: false });
    c.elect(1);
    c.propose(1, "x");
    c.stabilize();
    c.tickAll(1);
    const before = c.node(2).status();
    const n2 = c.restart(2);
    const after = n2.status();
    assert.equal(after.term, before.term);
    assert.equal(after.vote, 1);
    assert.equal(after.lastIndex, before.lastIndex);
    assert.equal(after.commit, before.commit);
    n2.step({
      type: "vote",
      from: 3,
      to: 2,
      term: before.term,
      lastLogIndex: 99,
      lastLogTerm: before.term,
    });
    const resp = n2.ready().messages.find((m) => m.type === "vote-resp");
    assert.ok(resp?.type === "vote-resp" && !resp.granted);
    assert.deepEqual(c.applied.get(2), ["x"], "committed entries re-applied after restart");
  });

  it("the `applied` option skips entries the state machine already holds", () => {
    const c = new Cluster({ n: 1 });
    c.elect(1);
    c.propose(1, "a");
    c.propose(1, "b");
    const state = structuredClone(c.disks.get(1)?.state);
    assert.ok(state);
    const n = new RawNode({
      id: 1,
      peers: [1],
      electionTick: 10,
      heartbeatTick: 1,
      random: () => 0,
      restore: state,
      applied: 2,
    });
    assert.deepEqual(
      n.ready().committed.map((e) => e.index),
      [3],
    );
    assert.equal(n.status().applied, 2);
  });

  it("a whole cluster restarted at once recovers and keeps its data", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    for (let i = 0; i < 3; i++) c.propose(1, `v${i}`);
    c.stabilize();
    c.tickAll(1);
    for (const id of c.ids) c.restart(id);
    c.tickAll(40);
    assert.equal(c.leaders().length, 1);
    for (const id of c.ids) assert.deepEqual(c.applied.get(id), ["v0", "v1", "v2"]);
  });
});
