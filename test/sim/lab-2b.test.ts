// 6.5840 Raft lab, part 2B (log replication), in our own words, on virtual time.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ELECTION_TIMEOUT_MS, Lab } from "./lab-harness.js";

describe("lab 2B: log replication", () => {
  it("basic agreement: commands commit at consecutive indexes on every server", async (t) => {
    const lab = new Lab(3, { seed: 2201 });
    t.diagnostic(`seed ${lab.seed}`);
    let last = lab.maxApplied();
    for (let i = 1; i <= 3; i++) {
      assert.equal(lab.nCommitted(last + 1).count, 0, "some server committed before start()");
      const index = await lab.one(i * 100, 3, false);
      // The first command may follow the new leader's no-op; after that, strictly next.
      if (i === 1) assert.ok(index === last + 1 || index === last + 2, `got index ${index}`);
      else assert.equal(index, last + 1);
      last = index;
    }
    lab.end();
  });

  it("RPC bytes: each command's payload goes to each peer about once", async (t) => {
    const lab = new Lab(3, { seed: 2202 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(99, 3, false);
    const before = lab.bytesTotal();
    let sent = 0;
    for (let i = 0; i < 10; i++) {
      const cmd = "x".repeat(4990) + String(lab.rng.int(1_000_000_000, 9_999_999_999));
      await lab.one(cmd, 3, false);
      sent += cmd.length;
    }
    const got = lab.bytesTotal() - before;
    assert.ok(got >= 2 * sent, `peers got ${got} bytes, less than the ${2 * sent} sent to them`);
    assert.ok(
      got <= 2 * sent * 1.1,
      `${got} payload bytes for ${sent} bytes of commands to 2 peers`,
    );
    lab.end();
  });

  it("follower failure: progress with one follower down, none with two", async (t) => {
    const lab = new Lab(3, { seed: 2203 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(101, 3, false);
    const leader1 = await lab.checkOneLeader();
    lab.disconnect(lab.peer(leader1, 1));
    await lab.one(102, 2, false);
    await lab.sleep(ELECTION_TIMEOUT_MS);
    await lab.one(103, 2, false);
    const leader2 = await lab.checkOneLeader();
    lab.disconnect(lab.peer(leader2, 1));
    lab.disconnect(lab.peer(leader2, 2));
    const index = lab.start(leader2, 104);
    assert.notEqual(index, null, "leader rejected start()");
    await lab.sleep(2 * ELECTION_TIMEOUT_MS);
    assert.equal(lab.nCommitted(index as number).count, 0, "committed without a majority");
    lab.end();
  });

  it("leader failure: a new leader takes over; with everyone cut off nothing commits", async (t) => {
    const lab = new Lab(3, { seed: 2204 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(101, 3, false);
    const leader1 = await lab.checkOneLeader();
    lab.disconnect(leader1);
    await lab.one(102, 2, false);
    await lab.sleep(ELECTION_TIMEOUT_MS);
    await lab.one(103, 2, false);
    const leader2 = await lab.checkOneLeader();
    lab.disconnect(leader2);
    const next = lab.maxApplied() + 1;
    for (const id of lab.ids) lab.start(id, 104);
    await lab.sleep(2 * ELECTION_TIMEOUT_MS);
    assert.equal(lab.nCommitted(next).count, 0, "committed with only one server connected");
    lab.end();
  });

  it("agreement despite a disconnected follower, which catches up on rejoining", async (t) => {
    const lab = new Lab(3, { seed: 2205 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(101, 3, false);
    const leader = await lab.checkOneLeader();
    lab.disconnect(lab.peer(leader, 1));
    await lab.one(102, 2, false);
    await lab.one(103, 2, false);
    await lab.sleep(ELECTION_TIMEOUT_MS);
    await lab.one(104, 2, false);
    await lab.one(105, 2, false);
    lab.connect(lab.peer(leader, 1));
    await lab.one(106, 3, true);
    await lab.sleep(ELECTION_TIMEOUT_MS);
    await lab.one(107, 3, true);
    lab.end();
  });

  it("no agreement without a majority, and the log repairs after reconnecting", async (t) => {
    const lab = new Lab(5, { seed: 2206 });
    t.diagnostic(`seed ${lab.seed}`);
    const first = await lab.one(10, 5, false);
    const leader = await lab.checkOneLeader();
    for (let k = 1; k <= 3; k++) lab.disconnect(lab.peer(leader, k));
    const index = lab.start(leader, 20);
    assert.equal(index, first + 1, "leader rejected start() or used an unexpected index");
    await lab.sleep(2 * ELECTION_TIMEOUT_MS);
    assert.equal(lab.nCommitted(first + 1).count, 0, "committed without a majority");
    for (let k = 1; k <= 3; k++) lab.connect(lab.peer(leader, k));
    // The disconnected majority may have elected a leader of its own, which can overwrite 20.
    const leader2 = await lab.checkOneLeader();
    const index2 = lab.start(leader2, 30);
    assert.notEqual(index2, null, "leader2 rejected start()");
    assert.ok(
      (index2 as number) >= first + 1 && (index2 as number) <= first + 4,
      `index ${index2}`,
    );
    await lab.one(1000, 5, true);
    lab.end();
  });

  it("concurrent starts: several commands proposed at once all commit", async (t) => {
    const lab = new Lab(3, { seed: 2207 });
    t.diagnostic(`seed ${lab.seed}`);
    let ok = false;
    for (let attempt = 0; attempt < 5 && !ok; attempt++) {
      if (attempt > 0) await lab.sleep(3000);
      const leader = await lab.checkOneLeader();
      const term = (lab.state(leader) as { term: number }).term;
      if (lab.start(leader, 1) === null) continue;
      const indexes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const index = lab.start(leader, 100 + i);
        if (index !== null) indexes.push(index);
      }
      if (indexes.length < 5) continue;
      const cmds: (string | null)[] = [];
      for (const index of indexes) cmds.push(await lab.wait(index, 3, term));
      if (cmds.includes(null)) continue; // the term moved on: try again
      for (let i = 0; i < 5; i++)
        assert.ok(cmds.includes(String(100 + i)), `cmd ${100 + i} missing`);
      ok = true;
    }
    assert.ok(ok, "term changed too often");
    lab.end();
  });

  it("rejoin of a partitioned leader: its stale entries are replaced", async (t) => {
    const lab = new Lab(3, { seed: 2208 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(101, 3, true);
    const leader1 = await lab.checkOneLeader();
    lab.disconnect(leader1);
    // The old leader takes commands it can never commit.
    lab.start(leader1, 102);
    lab.start(leader1, 103);
    lab.start(leader1, 104);
    await lab.one(103, 2, true);
    const leader2 = await lab.checkOneLeader();
    lab.disconnect(leader2);
    lab.connect(leader1);
    await lab.one(104, 2, true);
    lab.connect(leader2);
    await lab.one(105, 3, true);
    lab.end();
  });

  it("backup: a leader quickly overwrites long incorrect follower logs", async (t) => {
    const lab = new Lab(5, { seed: 2209 });
    t.diagnostic(`seed ${lab.seed}`);
    const startedAt = lab.c.sched.now;
    await lab.one(lab.randomCmd(), 5, true);
    // Put the leader and one follower in a partition; they take 50 uncommittable commands.
    const leader1 = await lab.checkOneLeader();
    for (const k of [2, 3, 4]) lab.disconnect(lab.peer(leader1, k));
    for (let i = 0; i < 50; i++) lab.start(leader1, lab.randomCmd());
    await lab.sleep(ELECTION_TIMEOUT_MS / 2);
    lab.disconnect(leader1);
    lab.disconnect(lab.peer(leader1, 1));
    // The other three elect a leader and commit 50 commands.
    for (const k of [2, 3, 4]) lab.connect(lab.peer(leader1, k));
    for (let i = 0; i < 50; i++) await lab.one(lab.randomCmd(), 3, true);
    // The new leader and one follower take 50 more uncommittable commands.
    const leader2 = await lab.checkOneLeader();
    let other = lab.peer(leader1, 2);
    if (other === leader2) other = lab.peer(leader2, 1);
    lab.disconnect(other);
    for (let i = 0; i < 50; i++) lab.start(leader2, lab.randomCmd());
    await lab.sleep(ELECTION_TIMEOUT_MS / 2);
    // The original pair plus `other` form a majority and must commit over their stale logs.
    for (const id of lab.ids) lab.disconnect(id);
    lab.connect(leader1);
    lab.connect(lab.peer(leader1, 1));
    lab.connect(other);
    for (let i = 0; i < 50; i++) await lab.one(lab.randomCmd(), 3, true);
    for (const id of lab.ids) lab.connect(id);
    await lab.one(lab.randomCmd(), 5, true);
    const took = lab.c.sched.now - startedAt;
    t.diagnostic(`virtual time ${took} ms`);
    assert.ok(took < 30_000, `backup took ${took} ms of virtual time`);
    lab.end();
  });

  it("RPC counts: few requests for an election, for agreement, and while idle", async (t) => {
    const lab = new Lab(3, { seed: 2210 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.checkOneLeader();
    const election = lab.rpcTotal();
    t.diagnostic(`election: ${election} requests`);
    assert.ok(election >= 1 && election <= 30, `${election} requests to elect a leader`);
    let agreement = -1;
    for (let attempt = 0; attempt < 5 && agreement < 0; attempt++) {
      if (attempt > 0) await lab.sleep(3000);
      const leader = await lab.checkOneLeader();
      const before = lab.rpcTotal();
      const term = (lab.state(leader) as { term: number }).term;
      const start = lab.start(leader, 1);
      if (start === null) continue;
      const cmds: string[] = [];
      let moved = false;
      for (let i = 1; i <= 10 && !moved; i++) {
        const cmd = lab.randomCmd();
        cmds.push(cmd);
        const index = lab.start(leader, cmd);
        moved = index === null || (lab.state(leader)?.term ?? -1) !== term;
        if (!moved) assert.equal(index, start + i, "start() failed");
      }
      if (moved) continue;
      for (let i = 1; i <= 10 && !moved; i++) {
        const got = await lab.wait(start + i, 3, term);
        if (got === null) moved = true;
        else assert.equal(got, cmds[i - 1], `wrong value at index ${start + i}`);
      }
      if (moved) continue;
      agreement = lab.rpcTotal() - before;
    }
    t.diagnostic(`12 agreements: ${agreement} requests`);
    assert.ok(agreement >= 0, "term changed too often");
    assert.ok(agreement <= 42, `${agreement} requests for 11 entries`);
    const idleStart = lab.rpcTotal();
    await lab.sleep(ELECTION_TIMEOUT_MS);
    const idle = lab.rpcTotal() - idleStart;
    t.diagnostic(`idle second: ${idle} requests`);
    assert.ok(idle <= 60, `${idle} requests in one idle second`);
    lab.end();
  });
});
