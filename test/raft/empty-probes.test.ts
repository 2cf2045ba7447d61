// RaftConfig.emptyProbes: a leader asks a follower whose match it does not know only whether it
// holds (prevIndex, prevTerm), and streams entries once it says yes. The follower's side of it:
// a matching request that ends before the follower's divergent tail commits no further than the
// request's end (Figure 2: min(leaderCommit, index of last new entry)).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawNode } from "../../src/raft/raw-node.js";
import type { AppendRequest, Message } from "../../src/raft/types.js";
import { stateWith } from "./harness.js";

function leader(emptyProbes: boolean): { node: RawNode; sent: Message[] } {
  const node = new RawNode({
    id: 1,
    peers: [1, 2, 3],
    electionTick: 10,
    heartbeatTick: 1,
    random: () => 0,
    preVote: false,
    emptyProbes,
    restore: stateWith([1, 1, 2], 2, 2),
  });
  node.campaign();
  node.advance(node.ready());
  node.step({ type: "vote-resp", from: 2, to: 1, term: 3, granted: true });
  const sent: Message[] = [];
  while (node.hasReady()) {
    const rd = node.ready();
    sent.push(...rd.messages);
    node.advance(rd);
  }
  return { node, sent };
}

const appendsTo = (sent: Message[], to: number) =>
  sent.filter((m): m is AppendRequest => m.type === "app" && m.to === to);

describe("empty probes", () => {
  it("a new leader probes with no entries, and streams them once the follower matches", () => {
    const { node, sent } = leader(true);
    assert.equal(node.status().role, "leader");
    const [probe] = appendsTo(sent, 2);
    assert.ok(probe, "no probe to node 2");
    assert.deepEqual(
      { prev: probe.prevIndex, prevTerm: probe.prevTerm, n: probe.entries.length },
      { prev: 3, prevTerm: 2, n: 0 },
    );
    node.step({
      type: "app-resp",
      from: 2,
      to: 1,
      term: 3,
      success: true,
      matchIndex: 3,
      rejectIndex: 0,
      conflictTerm: 0,
      conflictIndex: 0,
    });
    const next = appendsTo(node.ready().messages, 2);
    assert.deepEqual(
      next.map((m) => m.entries.map((e) => e.index)),
      [[4]],
      "the no-op follows the matching probe",
    );
  });

  it("without the option the probe carries the entries", () => {
    const [probe] = appendsTo(leader(false).sent, 2);
    assert.deepEqual(
      probe?.entries.map((e) => e.index),
      [4],
    );
  });

  it("a follower caps its commit at the end of a matching request, before its stale tail", () => {
    // Entries 3..5 of term 2 never committed; the leader of term 3 has a different index 3.
    const f = new RawNode({
      id: 2,
      peers: [1, 2, 3],
      electionTick: 10,
      heartbeatTick: 1,
      random: () => 0,
      restore: stateWith([1, 1, 2, 2, 2], 2, 1),
    });
    f.step({
      type: "app",
      from: 1,
      to: 2,
      term: 3,
      prevIndex: 2,
      prevTerm: 1,
      entries: [],
      commit: 4,
    });
    assert.equal(f.status().commit, 2, "committed only what the request covers");
    assert.equal(f.status().lastIndex, 5, "the stale tail stays until a real conflict");
  });
});
