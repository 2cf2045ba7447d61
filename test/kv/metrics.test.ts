// /metrics shows the configuration and, on the leader, each follower's progress
// (src/kv/metrics.ts watchConfiguration), read from the node's status at every scrape.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createKvMetrics } from "../../src/kv/metrics.js";
import type { ServiceStatus } from "../../src/node/api.js";

describe("kv metrics: the configuration", () => {
  it("exports each member's role, and the leader's view of each follower", async () => {
    const m = createKvMetrics({ nodeId: 1, defaultMetrics: false });
    let status: ServiceStatus = {
      id: 1,
      role: "leader",
      term: 3,
      leader: 1,
      commitIndex: 10,
      appliedIndex: 10,
      members: [1, 2, 4],
      conf: {
        voters: [1, 2, 4],
        learners: [5],
        votersOutgoing: [1, 2, 3],
        learnersNext: [],
        autoLeave: true,
      },
      progress: [
        { id: 2, match: 10, next: 11, state: "replicate", lag: 0 },
        { id: 5, match: 4, next: 5, state: "probe", lag: 6 },
      ],
    };
    m.watchConfiguration(() => status);
    const text = await m.registry.metrics();
    for (const line of [
      'raftwork_raft_member{member="1",role="voter",node="1"} 1',
      'raftwork_raft_member{member="3",role="outgoing",node="1"} 1',
      'raftwork_raft_member{member="5",role="learner",node="1"} 1',
      'raftwork_raft_follower_match_index{member="5",node="1"} 4',
      'raftwork_raft_follower_lag_entries{member="5",node="1"} 6',
      'raftwork_raft_follower_lag_entries{member="2",node="1"} 0',
    ]) {
      assert.ok(text.includes(line), `${line} in\n${text}`);
    }
    // A follower has no progress, and a member that left is no longer listed.
    const conf = status.conf;
    assert.ok(conf);
    status = {
      ...status,
      role: "follower",
      conf: { ...conf, votersOutgoing: [], autoLeave: false },
    };
    delete status.progress;
    const later = await m.registry.metrics();
    assert.ok(!later.includes('member="3"'), later);
    assert.ok(!later.includes("raftwork_raft_follower_match_index{"), later);
  });
});
