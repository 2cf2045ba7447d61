// 6.5840 Raft lab, part 2C (persistence), in our own words, on virtual time. Crashes here are
// power losses: the disk keeps what was fsynced (MemoryStorage crash semantics).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeId } from "../../src/raft/types.js";
import { ELECTION_TIMEOUT_MS, Lab } from "./lab-harness.js";

function restartAll(lab: Lab): void {
  for (const id of lab.ids) lab.start1(id);
  for (const id of lab.ids) lab.connect(id);
}

/**
 * The churn tests' clients: `clients` loops that each propose a fresh value to a random live
 * server, wait a little and record what they saw committed. Returns the values seen committed.
 */
function startClients(lab: Lab, clients: number): { stop: () => void; seen: Set<string> } {
  const seen = new Set<string>();
  let stopped = false;
  for (let c = 0; c < clients; c++) {
    let pending: { index: number; cmd: string; since: number } | null = null;
    let n = 0;
    const loop = (): void => {
      if (stopped) return;
      if (pending) {
        const { count, cmd } = lab.nCommitted(pending.index);
        if (count > 0) {
          if (cmd === pending.cmd) seen.add(cmd);
          pending = null;
        } else if (lab.c.sched.now - pending.since > 2000) pending = null;
      }
      if (!pending) {
        const id = lab.rng.pick(lab.ids);
        const cmd = `client${c}-${n++}`;
        const index = lab.connected(id) ? lab.start(id, cmd) : null;
        if (index !== null) pending = { index, cmd, since: lab.c.sched.now };
      }
      lab.c.sched.after(lab.rng.int(1, 20), loop);
    };
    lab.c.sched.after(1, loop);
  }
  return { stop: () => (stopped = true), seen };
}

async function churn(lab: Lab, unreliable: boolean): Promise<void> {
  if (unreliable) lab.setUnreliable(true);
  const clients = startClients(lab, 3);
  for (let iter = 0; iter < 20; iter++) {
    if (lab.rng.chance(0.2)) lab.disconnect(lab.rng.pick(lab.ids));
    if (lab.rng.chance(0.5)) {
      const id = lab.rng.pick(lab.ids);
      if (!lab.c.node(id).up) lab.start1(id);
      lab.connect(id);
    }
    if (lab.rng.chance(0.2)) {
      const id = lab.rng.pick(lab.ids);
      if (lab.c.node(id).up) lab.crash1(id);
    }
    // Long enough that a majority is often reachable, short enough to catch it mid-election.
    await lab.sleep((ELECTION_TIMEOUT_MS * 7) / 10);
  }
  await lab.sleep(ELECTION_TIMEOUT_MS);
  lab.setUnreliable(false);
  for (const id of lab.ids) {
    if (!lab.c.node(id).up) lab.start1(id);
    lab.connect(id);
  }
  await lab.sleep(ELECTION_TIMEOUT_MS);
  clients.stop();
  const last = await lab.one(lab.randomCmd(), lab.n, true);
  const really = new Set<string>();
  for (let i = 1; i <= last; i++) {
    const { cmd } = lab.nCommitted(i);
    if (cmd !== null) really.add(cmd);
  }
  for (const v of clients.seen)
    assert.ok(really.has(v), `client saw ${v} committed, the log lacks it`);
  assert.ok(clients.seen.size > 0, "clients saw nothing commit during churn");
  lab.end();
}

describe("lab 2C: persistence", () => {
  it("persist 1: state survives crashes of everyone, of the leader, of followers", async (t) => {
    const lab = new Lab(3, { seed: 2301 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(11, 3, true);
    restartAll(lab);
    await lab.one(12, 3, true);
    const leader1 = await lab.checkOneLeader();
    lab.start1(leader1);
    lab.connect(leader1);
    await lab.one(13, 3, true);
    const leader2 = await lab.checkOneLeader();
    lab.disconnect(leader2);
    const index = await lab.one(14, 2, true);
    lab.start1(leader2);
    lab.connect(leader2);
    await lab.wait(index, 3, -1);
    const i3 = lab.peer(await lab.checkOneLeader(), 1);
    lab.disconnect(i3);
    await lab.one(15, 2, true);
    lab.start1(i3);
    lab.connect(i3);
    await lab.one(16, 3, true);
    lab.end();
  });

  it("persist 2: rounds of partial crashes and partitions among 5 servers", async (t) => {
    const lab = new Lab(5, { seed: 2302 });
    t.diagnostic(`seed ${lab.seed}`);
    let index = 1;
    for (let iter = 0; iter < 5; iter++) {
      await lab.one(10 + index++, 5, true);
      const leader1 = await lab.checkOneLeader();
      lab.disconnect(lab.peer(leader1, 1));
      lab.disconnect(lab.peer(leader1, 2));
      await lab.one(10 + index++, 3, true);
      lab.disconnect(leader1);
      lab.disconnect(lab.peer(leader1, 3));
      lab.disconnect(lab.peer(leader1, 4));
      lab.start1(lab.peer(leader1, 1));
      lab.start1(lab.peer(leader1, 2));
      lab.connect(lab.peer(leader1, 1));
      lab.connect(lab.peer(leader1, 2));
      await lab.sleep(ELECTION_TIMEOUT_MS);
      lab.start1(lab.peer(leader1, 3));
      lab.connect(lab.peer(leader1, 3));
      await lab.one(10 + index++, 3, true);
      lab.connect(lab.peer(leader1, 4));
      lab.connect(leader1);
    }
    await lab.one(1000, 5, true);
    lab.end();
  });

  it("persist 3: a partitioned leader and a follower crash; the log survives", async (t) => {
    const lab = new Lab(3, { seed: 2303 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(101, 3, true);
    const leader = await lab.checkOneLeader();
    lab.disconnect(lab.peer(leader, 2));
    await lab.one(102, 2, true);
    lab.crash1(leader);
    lab.crash1(lab.peer(leader, 1));
    lab.connect(lab.peer(leader, 2));
    lab.start1(leader);
    lab.connect(leader);
    await lab.one(103, 2, true);
    lab.start1(lab.peer(leader, 1));
    lab.connect(lab.peer(leader, 1));
    await lab.one(104, 3, true);
    lab.end();
  });

  it("Figure 8: leaders crash right after appending; only current-term counting commits", async (t) => {
    const lab = new Lab(5, { seed: 2304 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(lab.randomCmd(), 1, true);
    let nup = 5;
    for (let iter = 0; iter < 1000; iter++) {
      let leader: NodeId = 0;
      for (const id of lab.ids)
        if (lab.c.node(id).up && lab.start(id, lab.randomCmd()) !== null) leader = id;
      await lab.sleep(
        lab.rng.chance(0.1) ? lab.rng.int(0, ELECTION_TIMEOUT_MS / 2) : lab.rng.int(0, 13),
      );
      if (leader !== 0) {
        lab.crash1(leader);
        nup--;
      }
      if (nup < 3) {
        const s = lab.rng.pick(lab.ids);
        if (!lab.c.node(s).up) {
          lab.start1(s);
          lab.connect(s);
          nup++;
        }
      }
    }
    for (const id of lab.ids) {
      if (!lab.c.node(id).up) {
        lab.start1(id);
        lab.connect(id);
      }
    }
    await lab.one(lab.randomCmd(), 5, true);
    lab.end();
  });

  it("unreliable agreement: bursts of commands over a lossy network", async (t) => {
    const lab = new Lab(5, { seed: 2305, unreliable: true });
    t.diagnostic(`seed ${lab.seed}`);
    for (let iter = 1; iter < 50; iter++) {
      // The lab's concurrent one() calls: proposals to whoever leads, without waiting.
      for (let j = 0; j < 4; j++) {
        const leader = lab.c.leader();
        if (leader !== 0) lab.start(leader, 100 * iter + j);
      }
      await lab.one(iter, 1, true);
    }
    lab.setUnreliable(false);
    await lab.one(100, 5, true);
    lab.end();
  });

  it("Figure 8 unreliable: leaders cut off at random, long reordering", async (t) => {
    const lab = new Lab(5, { seed: 2306, unreliable: true });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(lab.rng.int(0, 9999), 1, true);
    let nup = 5;
    for (let iter = 0; iter < 1000; iter++) {
      if (iter === 200) lab.setLongReordering(true);
      let leader: NodeId = 0;
      for (const id of lab.ids)
        if (lab.start(id, lab.rng.int(0, 9999)) !== null && lab.connected(id)) leader = id;
      await lab.sleep(
        lab.rng.chance(0.1) ? lab.rng.int(0, ELECTION_TIMEOUT_MS / 2) : lab.rng.int(0, 13),
      );
      if (leader !== 0 && lab.rng.chance(0.5)) {
        lab.disconnect(leader);
        nup--;
      }
      if (nup < 3) {
        const s = lab.rng.pick(lab.ids);
        if (!lab.connected(s)) {
          lab.connect(s);
          nup++;
        }
      }
    }
    for (const id of lab.ids) lab.connect(id);
    await lab.one(lab.rng.int(0, 9999), 5, true);
    lab.end();
  });

  it("reliable churn: crashes, restarts and cuts while clients write", async (t) => {
    const lab = new Lab(5, { seed: 2307 });
    t.diagnostic(`seed ${lab.seed}`);
    await churn(lab, false);
  });

  it("unreliable churn: the same over a lossy network", async (t) => {
    const lab = new Lab(5, { seed: 2308 });
    t.diagnostic(`seed ${lab.seed}`);
    await churn(lab, true);
  });
});
