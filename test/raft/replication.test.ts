import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AppendRequest, AppendResponse } from "../../src/raft/types.js";
import { bytes, Cluster, ents, run, stateWith } from "./harness.js";

const appReq = (
  term: number,
  prevIndex: number,
  prevTerm: number,
  terms: number[],
  commit = 0,
): AppendRequest => ({
  type: "app",
  from: 2,
  to: 1,
  term,
  prevIndex,
  prevTerm,
  entries: ents(prevIndex + 1, terms),
  commit,
});

describe("log replication (§5.3)", () => {
  it("§5.3 an entry commits once a majority stores it, and every node applies it", () => {
    const c = new Cluster({ n: 5 });
    c.elect(1);
    c.isolate(4);
    c.isolate(5);
    const idx = c.propose(1, "x");
    c.stabilize();
    assert.equal(c.node(1).status().commit, idx);
    assert.deepEqual(c.applied.get(1), ["x"]);
    c.heal();
    c.tickAll(3);
    for (const id of c.ids) assert.deepEqual(c.applied.get(id), ["x"], `node ${id}`);
  });

  it("§5.3 nothing commits without a majority", () => {
    const c = new Cluster({ n: 5, checkQuorum: false });
    c.elect(1);
    c.partition([1, 2], [3, 4, 5]);
    c.propose(1, "x");
    c.tickAll(5);
    assert.equal(c.node(1).status().commit, 1);
    assert.deepEqual(c.applied.get(1), []);
  });

  it("§5.3 a stale AppendEntries does not truncate", () => {
    const c = new Cluster({ n: 3 });
    const n = c.node(1);
    n.step(appReq(1, 0, 0, [1, 1, 1, 1, 1]));
    // A reordered, older request carrying a prefix of what we hold.
    n.step(appReq(1, 0, 0, [1, 1, 1]));
    assert.equal(n.status().lastIndex, 5);
    const replies = n.ready().messages as AppendResponse[];
    assert.deepEqual(
      replies.map((r) => [r.success, r.matchIndex]),
      [
        [true, 5],
        [true, 3],
      ],
    );
  });

  it("§5.3 a real conflict truncates the follower's log from the conflicting entry", () => {
    const c = new Cluster({ n: 3 });
    const n = c.setState(1, stateWith([1, 1, 2, 2, 2], 2, 2));
    n.step(appReq(3, 2, 1, [3, 3]));
    const st = n.status();
    assert.equal(st.lastIndex, 4);
    const rd = n.ready();
    assert.deepEqual(
      rd.entries.map((e) => [e.index, e.term]),
      [
        [3, 3],
        [4, 3],
      ],
      "storage is told to rewrite from index 3",
    );
  });

  it("§5.3 a follower rejects when prevIndex/prevTerm do not match", () => {
    const c = new Cluster({ n: 3 });
    const n = c.setState(1, stateWith([1, 1], 1));
    n.step(appReq(2, 5, 2, [2]));
    const r = n.ready().messages[0] as AppendResponse;
    assert.equal(r.success, false);
    assert.equal(r.rejectIndex, 5);
    assert.equal(n.status().lastIndex, 2);
  });

  it("fast backup skips a conflicting term in one round trip", () => {
    // Nodes 1 and 2 hold 1..5@1 then 6..30@3; node 3 holds 1..5@1 then 6..55@2 (an old
    // leader's uncommitted tail). A leader walking back one index per rejection would need 26
    // round trips to find index 5.
    const c = new Cluster({ n: 3 });
    const good = [...run(1, 5), ...run(3, 25)];
    c.setState(1, stateWith(good, 3, 5));
    c.setState(2, stateWith(good, 3, 5));
    c.setState(3, stateWith([...run(1, 5), ...run(2, 50)], 2, 5));
    c.elect(1);
    c.tickAll(3);
    const rejects = c.sent.filter((m) => m.type === "app-resp" && m.from === 3 && !m.success);
    assert.ok(rejects.length <= 1, `${rejects.length} rejections`);
    const st3 = c.node(3).status();
    assert.equal(st3.lastIndex, 31);
    assert.equal(st3.commit, 31);
  });

  it("fast backup also handles a follower with a shorter log", () => {
    const c = new Cluster({ n: 3 });
    c.setState(1, stateWith(run(1, 40), 1, 5));
    c.setState(2, stateWith(run(1, 40), 1, 5));
    c.setState(3, stateWith(run(1, 5), 1, 5));
    c.elect(1);
    c.tickAll(3);
    const rejects = c.sent.filter((m) => m.type === "app-resp" && m.from === 3 && !m.success);
    assert.ok(rejects.length <= 1, `${rejects.length} rejections`);
    assert.equal(c.node(3).status().lastIndex, 41);
  });

  it("Figure 8: a leader never commits a previous-term entry by counting replicas", () => {
    // Node 1 holds [1@1, 2@2]; 2 and 3 hold [1@1]. Node 1 wins term 3 and appends its no-op
    // 3@3. With one entry per message, followers learn entry 2 before entry 3: at that moment
    // a majority stores 2@2, but it must not commit until a majority stores 3@3.
    const c = new Cluster({ n: 3, maxEntriesPerMsg: 1 });
    c.setState(1, stateWith([1, 2], 2, 1));
    c.setState(2, stateWith([1], 2, 1));
    c.setState(3, stateWith([1], 2, 1));
    c.node(1).campaign();
    c.process(1);
    const holders = (idx: number, term: number) =>
      c.ids.filter((id) => {
        const d = c.disks.get(id)?.state.entries.find((e) => e.index === idx);
        return d?.term === term;
      }).length;
    let sawMajorityOfOldEntry = false;
    for (let i = 0; c.queue.length > 0 && i < 1000; i++) {
      c.deliverAt(0);
      if (holders(2, 2) >= 2 && holders(3, 3) < 2) sawMajorityOfOldEntry = true;
      const commit = c.node(1).status().commit;
      if (commit >= 2)
        assert.ok(holders(3, 3) >= 2, `committed ${commit} by counting term-2 replicas`);
    }
    assert.ok(sawMajorityOfOldEntry, "scenario did not reach the dangerous state");
    c.tickAll(2);
    assert.equal(c.node(1).status().commit, 3);
  });

  it("a burst of 1000 proposals goes out in few AppendEntries", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.tickAll(1);
    const before = c.sent.length;
    for (let i = 0; i < 1000; i++) assert.ok(l.propose(bytes(`p${i}`)).ok);
    c.stabilize();
    const apps = c.sent.slice(before).filter((m) => m.type === "app" && m.to === 2);
    const withEntries = apps.filter((m) => m.type === "app" && m.entries.length > 0);
    // 1000 / maxEntriesPerMsg (256) = 4 carrying entries, plus a few carrying only the commit.
    assert.ok(withEntries.length <= 4, `${withEntries.length} AppendEntries with entries`);
    assert.ok(apps.length <= 10, `${apps.length} AppendEntries to one follower`);
    c.tickAll(2);
    for (const id of c.ids) assert.equal(c.applied.get(id)?.length, 1000, `node ${id}`);
  });

  it("maxBytesPerMsg caps an AppendEntries (at least one entry always goes)", () => {
    const c = new Cluster({ n: 3, maxBytesPerMsg: 100 });
    const l = c.elect(1);
    c.tickAll(1);
    const before = c.sent.length;
    for (let i = 0; i < 20; i++) l.propose(new Uint8Array(30));
    l.propose(new Uint8Array(500));
    c.stabilize();
    for (const m of c.sent.slice(before)) {
      if (m.type !== "app" || m.entries.length < 2) continue;
      const size = m.entries.reduce((s, e) => s + e.data.length, 0);
      assert.ok(size <= 100, `message of ${size} bytes`);
    }
    c.tickAll(2);
    assert.equal(c.node(3).status().commit, 22);
  });

  it("maxInflight bounds unacknowledged AppendEntries to a follower", () => {
    const c = new Cluster({ n: 3, maxEntriesPerMsg: 1, maxInflight: 3 });
    const l = c.elect(1);
    c.tickAll(1);
    c.isolate(3);
    c.heal();
    const before = c.sent.length;
    for (let i = 0; i < 10; i++) l.propose(bytes(`${i}`));
    c.process(1);
    const apps = c.sent.slice(before).filter((m) => m.type === "app" && m.to === 2);
    assert.equal(apps.length, 3);
    c.stabilize();
    c.tickAll(1);
    assert.equal(c.node(2).status().commit, 11);
  });

  it("stale replies are ignored: old term, and a rejection below the match index", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    for (let i = 0; i < 5; i++) c.propose(1, `${i}`);
    c.stabilize();
    const before = l.status().progress?.[2];
    const stale: AppendResponse = {
      type: "app-resp",
      from: 2,
      to: 1,
      term: 1,
      success: false,
      matchIndex: 0,
      rejectIndex: 2,
      conflictTerm: 0,
      conflictIndex: 0,
    };
    l.step(stale);
    l.step({ ...stale, term: 0, success: true, matchIndex: 1 });
    assert.deepEqual(l.status().progress?.[2], before);
  });

  it("the leader commits only what it has itself persisted (advance) or a majority holds", () => {
    const c = new Cluster({ n: 1 });
    const l = c.node(1);
    l.campaign();
    assert.equal(l.status().role, "leader");
    const r = l.propose(bytes("a"));
    assert.ok(r.ok);
    const rd = l.ready();
    assert.equal(l.status().commit, 0, "not committed before advance()");
    assert.deepEqual(rd.committed, []);
    l.advance(rd);
    assert.equal(l.status().commit, 2);
    assert.deepEqual(
      l.ready().committed.map((e) => e.index),
      [1, 2],
    );
  });

  it("the leader counts its own log toward commit only after advance()", () => {
    // 3 nodes: the leader's unpersisted entry plus one follower's copy is not a durable majority.
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.tickAll(1);
    assert.ok(l.propose(bytes("x")).ok);
    const rd = l.ready(); // handed out, not yet acknowledged as persisted
    const toTwo = rd.messages.filter((m) => m.to === 2);
    c.deliver(toTwo);
    c.deliver(c.take((m) => m.from === 2 && m.to === 1));
    assert.equal(l.status().commit, 1, "committed before the leader's own fsync");
    l.advance(rd);
    assert.equal(l.status().commit, 2);
  });

  it("committed entries in a Ready are already durable on the follower", () => {
    const c = new Cluster({ n: 3 });
    const n = c.node(1);
    // Entries and a commit index covering them arrive together.
    n.step(appReq(1, 0, 0, [1, 1], 2));
    const rd1 = n.ready();
    assert.equal(rd1.entries.length, 2);
    assert.deepEqual(rd1.committed, [], "not yet persisted, not yet applicable");
    n.advance(rd1);
    assert.deepEqual(
      n.ready().committed.map((e) => e.index),
      [1, 2],
    );
  });

  it("pipelined Readys: a second Ready before advance() hands out only new things", () => {
    const c = new Cluster({ n: 3 });
    const n = c.node(1);
    n.step(appReq(1, 0, 0, [1, 1], 0));
    const rd1 = n.ready();
    n.step(appReq(1, 2, 1, [1], 3));
    const rd2 = n.ready();
    assert.deepEqual(
      rd2.entries.map((e) => e.index),
      [3],
    );
    assert.deepEqual(rd2.committed, []);
    n.advance(rd1);
    n.advance(rd2);
    assert.deepEqual(
      n.ready().committed.map((e) => e.index),
      [1, 2, 3],
    );
  });
});
