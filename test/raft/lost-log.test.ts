// A follower whose log lost entries it had acknowledged (restored from an older copy of its
// data, or a disk that dropped fsynced writes): the core must say so with a typed error before
// changing any state, and the leader must not spin on it (design.md, "Disk faults").
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PersistedState } from "../../src/raft/api.js";
import { LogInconsistencyError } from "../../src/raft/errors.js";
import { Cluster } from "./harness.js";

/** A 3-node cluster where node 3 acknowledged 6 entries, then restarted with only the first 2. */
function clusterWithShortFollower(): { c: Cluster; old: PersistedState } {
  const c = new Cluster({ n: 3, electionTick: 10, heartbeatTick: 2 });
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
  return { c, old };
}

describe("a follower's log lost acknowledged entries", () => {
  it("the heartbeat that reveals it throws LogInconsistencyError with the indexes, changing nothing", () => {
    const { c } = clusterWithShortFollower();
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
