// A crashed node's connections close at once, and the simulated network says so (peer-lost, as
// TCP would): the followers of a crashed leader campaign early instead of waiting out their
// election timeouts (RawNodeApi.forgetLeader). A leader that is only cut off gives no such
// sign, so its followers wait. Virtual time, fixed seeds.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawNode } from "../../src/raft/raw-node.js";
import type { NodeId } from "../../src/raft/types.js";
import { DEFAULT_TIMING, SimCluster } from "../../src/sim/cluster.js";

const ELECTION_MS = DEFAULT_TIMING.tickMs * DEFAULT_TIMING.electionTick; // 300

/** Virtual ms from losing the leader (crash, or cut off and then crashed) to a new one. */
async function failover(seed: number, silently: boolean): Promise<number> {
  const c = new SimCluster({ nodes: 3, seed, createRawNode: (config) => new RawNode(config) });
  c.start();
  assert.ok(await c.runUntil(() => c.leader() !== 0, 10_000), `seed ${seed}: no first leader`);
  await c.runFor(1_000);
  const old: NodeId = c.leader();
  const lostAt = c.sched.now;
  if (silently) c.disconnect(old); // no FIN ever reaches anyone
  c.crash(old);
  assert.ok(
    await c.runUntil(() => c.leader() !== 0 && c.leader() !== old, 10_000),
    `seed ${seed}: no new leader`,
  );
  assert.deepEqual(c.violations, [], `seed ${seed}: invariants`);
  return c.sched.now - lostAt;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
}

describe("simulator: a crashed leader's followers hear of it", () => {
  it("a crashed leader is replaced well within an election timeout; a silent one is not", async () => {
    const seeds = Array.from({ length: 20 }, (_, i) => 7100 + i);
    const told: number[] = [];
    const silent: number[] = [];
    for (const s of seeds) told.push(await failover(s, false));
    for (const s of seeds) silent.push(await failover(s, true));
    assert.ok(median(told) < ELECTION_MS / 2, `told: ${told.join(" ")} ms`);
    assert.ok(Math.min(...silent) >= ELECTION_MS - 100, `silent: ${silent.join(" ")} ms`);
    assert.ok(
      median(told) * 2 < median(silent),
      `told ${median(told)} vs silent ${median(silent)}`,
    );
  });
});
