// A follower whose log lost entries it had acknowledged (restored from an older copy of its
// data, or a disk that dropped fsynced writes): the core must say so with a typed error before
// changing any state, and the leader must not spin on it (docs/architecture.md, "Disk faults").
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PersistedState } from "../../src/raft/api.js";
import { LogInconsistencyError } from "../../src/raft/errors.js";
import { Cluster, type ClusterOptions } from "./harness.js";

/** A 3-node cluster where node 3 acknowledged 6 entries, then restarted with only the first 2. */
function clusterWithShortFollower(opts: ClusterOptions = {}): Cluster {
  const c = new Cluster({ n: 3, electionTick: 10, heartbeatTick: 2, ...opts });
  c.elect(1);
  c.propose(1, "a");
  c.stabilize();
  const old = structuredClone(c.disks.get(3)?.state) as PersistedState;
  for (const v of ["b", "c", "d", "e"]) c.propose(1, v);
  c.stabilize();
  c.tickAll(2);
  assert.equal(c.node(1).status().progress?.[3]?.match, 6);
  c.setState(3, old);
  assert.equal(c.node(3).status().lastIndex, 2);
  return c;
}

describe("a follower's log lost acknowledged entries", () => {
  it("the heartbeat that reveals it throws LogInconsistencyError with the indexes, changing nothing", () => {
    const c = clusterWithShortFollower();
    c.tick(1, 2);
    const k = c.queue.findIndex((m) => m.type === "heartbeat" && m.to === 3);
    assert.ok(k >= 0, "a heartbeat to node 3");
    const before = c.node(3).status();
    const hb = c.queue[k];
    assert.ok(hb !== undefined);
    c.queue.splice(k, 1);
    assert.throws(
      () => c.node(3).step(hb),
      (e: unknown) => {
        assert.ok(e instanceof LogInconsistencyError);
        assert.equal(e.code, "raft-log-inconsistent");
        assert.equal(e.node, 3);
        assert.equal(e.leader, 1);
        assert.equal(e.acknowledged, 6);
        assert.equal(e.lastIndex, 2);
        return true;
      },
    );
    assert.deepEqual(c.node(3).status(), before, "no state changed");
    assert.equal(c.node(3).hasReady(), false, "nothing to send or persist");
  });
});

describe("the leader's probe never loops without progress", () => {
  it("a probe rejected at match is retried once per heartbeat interval, not at once", () => {
    const c = clusterWithShortFollower({ maxEntriesPerMsg: 1 });
    // Node 3 answers every heartbeat (as a live node would) but would throw on it: the test
    // answers for it, so only the leader's behaviour is under test.
    c.drop = (m) => {
      if (m.type !== "heartbeat" || m.to !== 3) return false;
      c.queue.push({ type: "heartbeat-resp", from: 3, to: 1, term: m.term, ctx: m.ctx });
      return true;
    };
    // Two appends in flight beyond match: the second's rejection moves the leader to probe.
    c.propose(1, "f");
    c.propose(1, "g");
    const ticks = 40;
    let steps = 0;
    const before = c.sent.length;
    for (let t = 0; t < ticks; t++) {
      for (const id of c.ids) c.tick(id);
      for (; c.queue.length > 0 && steps < 10_000; steps++) c.deliverAt(0);
    }
    assert.ok(steps < 10_000, `the network settles (${steps} deliveries)`);
    const to3 = c.sent.slice(before).filter((m) => m.type === "app" && m.to === 3).length;
    const rejects = c.sent
      .slice(before)
      .filter((m) => m.type === "app-resp" && m.from === 3 && !m.success).length;
    // One probe per heartbeat interval, plus the first tick's burst (the two appends, two
    // commit updates and the first probe).
    assert.ok(to3 <= ticks / 2 + 6, `${to3} appends to node 3 in ${ticks} ticks`);
    assert.ok(rejects <= ticks / 2 + 6, `${rejects} rejections in ${ticks} ticks`);
    assert.equal(c.node(1).status().role, "leader", "the healthy majority keeps its leader");
    assert.equal(c.node(2).status().commit, c.node(1).status().commit);
  });
});
