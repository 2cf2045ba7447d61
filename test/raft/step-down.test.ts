// RawNode.stepDown: what a node whose disk holds the cluster up calls (docs/architecture.md,
// "Disk faults: full and slow disks").
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NONE } from "../../src/raft/types.js";
import { Cluster } from "./harness.js";

describe("stepDown", () => {
  it("a leader becomes a follower of nobody in the same term and keeps its vote", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    const before = l.status();
    assert.equal(l.stepDown(), true);
    const after = l.status();
    assert.equal(after.role, "follower");
    assert.equal(after.leader, NONE);
    assert.equal(after.term, before.term);
    assert.equal(after.vote, before.vote);
    assert.equal(l.propose(new Uint8Array([1])).ok, false, "no proposals once stepped down");
  });

  it("is refused by a non-leader, which changes nothing", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    const f = c.node(2);
    const before = f.status();
    assert.equal(f.stepDown(), false);
    assert.deepEqual(f.status(), before);
  });

  it("the other voters elect a new leader, and the old one sends nothing meanwhile", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.propose(1, "x");
    c.stabilize();
    const term = l.status().term;
    l.stepDown();
    c.process(1);
    assert.deepEqual(
      c.take((m) => m.from === 1),
      [],
      "a stepped-down leader sends no heartbeat",
    );
    // The stalled node takes part in nothing (its disk would hold every reply): cut it off.
    c.isolate(1);
    for (let i = 0; i < 100 && c.leaders().length === 0; i++) c.tickAll(1);
    const [next] = c.leaders();
    assert.ok(next === 2 || next === 3, `a new leader among 2 and 3, got ${next}`);
    assert.ok(c.node(next as number).status().term > term);
  });
});
