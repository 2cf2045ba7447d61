import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AppendResponse, type Snapshot, simpleConf } from "../../src/raft/types.js";
import { bytes, Cluster, ents } from "./harness.js";

function snap(index: number, term: number, state: string[]): Snapshot {
  return {
    metadata: { index, term, conf: simpleConf([1, 2, 3]) },
    data: bytes(JSON.stringify(state)),
  };
}

describe("snapshots and compaction (§7)", () => {
  it("§7 compaction keeps absolute indexes", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    for (let i = 0; i < 9; i++) c.propose(1, `v${i}`);
    c.stabilize();
    c.compact(1);
    const st = c.node(1).status();
    assert.equal(st.snapshotIndex, 10);
    assert.equal(st.firstIndex, 11);
    assert.equal(st.lastIndex, 10);
    assert.equal(c.propose(1, "after"), 11);
    c.stabilize();
    c.tickAll(1);
    for (const id of c.ids) assert.equal(c.applied.get(id)?.at(-1), "after");
    // Compacting at or below the current snapshot is ignored.
    assert.equal(c.node(1).compact(5, bytes("[]")), null);
    assert.equal(c.node(1).status().snapshotIndex, 10);
  });

  it("compacting beyond the applied index is a caller bug and throws", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    assert.throws(() => c.node(1).compact(50, bytes("[]")), /beyond applied/);
  });

  it("a follower whose next entries were compacted gets InstallSnapshot and catches up", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 20; i++) c.propose(1, `v${i}`);
    c.stabilize();
    c.compact(1);
    c.heal();
    c.tickAll(3);
    const snaps = c.sent.filter((m) => m.type === "snap" && m.to === 3);
    assert.equal(snaps.length, 1);
    assert.deepEqual(c.applied.get(3), c.applied.get(1));
    assert.equal(c.node(3).status().snapshotIndex, 21);
    c.propose(1, "next");
    c.stabilize();
    c.tickAll(1);
    assert.equal(c.applied.get(3)?.at(-1), "next");
  });

  it("a lost snapshot is sent again", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    c.stabilize();
    c.compact(1);
    c.heal();
    c.drop = (m) => m.type === "snap";
    c.tickAll(5);
    c.drop = null;
    c.tickAll(30);
    assert.ok(c.sent.filter((m) => m.type === "snap").length >= 2);
    assert.deepEqual(c.applied.get(3), c.applied.get(1));
  });

  it("InstallSnapshot of an older snapshot is ignored", () => {
    const c = new Cluster({ n: 3 });
    const n = c.node(1);
    n.step({
      type: "app",
      from: 2,
      to: 1,
      term: 1,
      prevIndex: 0,
      prevTerm: 0,
      entries: ents(1, [1, 1, 1, 1]),
      commit: 4,
    });
    c.process(1);
    c.queue = [];
    n.step({ type: "snap", from: 2, to: 1, term: 1, snapshot: snap(2, 1, ["old"]) });
    const rd = n.ready();
    assert.equal(rd.snapshot, undefined);
    assert.equal(n.status().snapshotIndex, 0);
    assert.equal(n.status().lastIndex, 4);
    const r = rd.messages[0] as AppendResponse;
    assert.equal(r.success, true);
    assert.equal(r.matchIndex, 4);
  });

  it("a follower installs a newer snapshot: persist, apply, then entries after it", () => {
    const c = new Cluster({ n: 3 });
    const n = c.node(1);
    n.step({
      type: "app",
      from: 2,
      to: 1,
      term: 2,
      prevIndex: 0,
      prevTerm: 0,
      entries: ents(1, [1, 1]),
      commit: 1,
    });
    c.process(1);
    n.step({ type: "snap", from: 2, to: 1, term: 2, snapshot: snap(10, 2, ["a", "b"]) });
    n.step({
      type: "app",
      from: 2,
      to: 1,
      term: 2,
      prevIndex: 10,
      prevTerm: 2,
      entries: ents(11, [2]),
      commit: 11,
    });
    const rd = n.ready();
    assert.equal(rd.snapshot?.metadata.index, 10);
    assert.deepEqual(rd.committed, [], "entries after a pending snapshot wait for it");
    const replies = rd.messages as AppendResponse[];
    assert.deepEqual(
      replies.map((r) => r.matchIndex),
      [10, 11],
    );
    n.advance(rd);
    assert.deepEqual(
      n.ready().committed.map((e) => e.index),
      [11],
    );
    const st = n.status();
    assert.equal(st.snapshotIndex, 10);
    assert.equal(st.applied, 10);
  });

  it("a snapshot covering entries we already hold only advances the commit index", () => {
    const c = new Cluster({ n: 3 });
    const n = c.node(1);
    n.step({
      type: "app",
      from: 2,
      to: 1,
      term: 1,
      prevIndex: 0,
      prevTerm: 0,
      entries: ents(1, [1, 1, 1, 1]),
      commit: 0,
    });
    c.process(1);
    n.step({ type: "snap", from: 2, to: 1, term: 1, snapshot: snap(3, 1, ["x"]) });
    assert.equal(n.status().commit, 3);
    assert.equal(n.status().lastIndex, 4);
    assert.equal(n.status().snapshotIndex, 0);
  });

  it("restart from snapshot + entries: applied defaults to the snapshot index", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    c.stabilize();
    c.tickAll(1);
    c.compact(2);
    c.propose(1, "tail");
    c.stabilize();
    c.tickAll(1);
    const before = c.applied.get(2);
    c.restart(2);
    assert.deepEqual(c.applied.get(2), before, "state = snapshot + re-applied committed entries");
    const st = c.node(2).status();
    assert.equal(st.snapshotIndex, 6);
    assert.equal(st.lastIndex, 7);
  });
});
