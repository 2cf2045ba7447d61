// 6.5840 Raft lab, part 2D (log compaction), in our own words, on virtual time. Servers snapshot
// every SNAPSHOT_INTERVAL applied entries; a follower that falls behind the leader's snapshot
// gets it by InstallSnapshot.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Lab, SNAPSHOT_INTERVAL } from "./lab-harness.js";

/** The lab's MAXLOGSIZE, in entries: compaction must keep every durable log short. */
const MAX_LOG_ENTRIES = 4 * SNAPSHOT_INTERVAL;

function checkLogSizes(lab: Lab): void {
  for (const id of lab.ids) {
    if (!lab.c.node(id).up) continue;
    const size = lab.logSize(id);
    assert.ok(size <= MAX_LOG_ENTRIES, `node ${id} keeps ${size} log entries: not compacting`);
  }
}

async function snapCommon(
  seed: number,
  opts: { disconnect: boolean; reliable: boolean; crash: boolean },
  diagnostic: (msg: string) => void,
): Promise<void> {
  const lab = new Lab(3, { seed, snapshot: true, unreliable: !opts.reliable });
  diagnostic(`seed ${lab.seed}`);
  await lab.one(lab.randomCmd(), 3, true);
  let leader1 = await lab.checkOneLeader();
  for (let i = 0; i < 30; i++) {
    let victim = lab.peer(leader1, 1);
    let sender = leader1;
    if (i % 3 === 1) {
      sender = lab.peer(leader1, 1);
      victim = leader1;
    }
    if (opts.disconnect) {
      lab.disconnect(victim);
      await lab.one(lab.randomCmd(), 2, true);
    }
    if (opts.crash) {
      lab.crash1(victim);
      await lab.one(lab.randomCmd(), 2, true);
    }
    // Enough commands to make a snapshot, sent to `sender` (which may not lead: then ignored).
    const nn = SNAPSHOT_INTERVAL / 2 + lab.rng.int(0, SNAPSHOT_INTERVAL - 1);
    for (let j = 0; j < nn; j++) lab.start(sender, lab.randomCmd());
    // Let every applier catch up with those starts.
    await lab.one(lab.randomCmd(), opts.disconnect || opts.crash ? 2 : 3, true);
    checkLogSizes(lab);
    if (opts.disconnect) {
      // The victim is far behind: it can catch up only through the leader's snapshot.
      lab.connect(victim);
      await lab.one(lab.randomCmd(), 3, true);
      leader1 = await lab.checkOneLeader();
    }
    if (opts.crash) {
      lab.start1(victim);
      lab.connect(victim);
      await lab.one(lab.randomCmd(), 3, true);
      leader1 = await lab.checkOneLeader();
    }
  }
  if (opts.disconnect || opts.crash) {
    const snaps = lab.c.net.sentByType.get("snap") ?? 0;
    diagnostic(`${snaps} InstallSnapshot requests`);
    assert.ok(snaps > 0, "no follower ever needed a snapshot: the test did not test install");
  }
  lab.end();
}

describe("lab 2D: log compaction", () => {
  it("snapshots basic: logs stay short while commands commit", async (t) => {
    await snapCommon(2401, { disconnect: false, reliable: true, crash: false }, (m) =>
      t.diagnostic(m),
    );
  });

  it("install snapshots (disconnect): a lagging follower catches up by snapshot", async (t) => {
    await snapCommon(2402, { disconnect: true, reliable: true, crash: false }, (m) =>
      t.diagnostic(m),
    );
  });

  it("install snapshots (disconnect + unreliable)", async (t) => {
    await snapCommon(2403, { disconnect: true, reliable: false, crash: false }, (m) =>
      t.diagnostic(m),
    );
  });

  it("install snapshots (crash): a restarted follower catches up by snapshot", async (t) => {
    await snapCommon(2404, { disconnect: false, reliable: true, crash: true }, (m) =>
      t.diagnostic(m),
    );
  });

  it("install snapshots (unreliable + crash)", async (t) => {
    await snapCommon(2405, { disconnect: false, reliable: false, crash: true }, (m) =>
      t.diagnostic(m),
    );
  });

  it("all crash: every server restarts from its snapshot and the log continues", async (t) => {
    const lab = new Lab(3, { seed: 2406, snapshot: true });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(lab.randomCmd(), 3, true);
    for (let i = 0; i < 5; i++) {
      const nn = SNAPSHOT_INTERVAL / 2 + lab.rng.int(0, SNAPSHOT_INTERVAL - 1);
      for (let j = 0; j < nn; j++) await lab.one(lab.randomCmd(), 3, true);
      const index1 = await lab.one(lab.randomCmd(), 3, true);
      for (const id of lab.ids) lab.crash1(id);
      for (const id of lab.ids) {
        lab.start1(id);
        lab.connect(id);
      }
      const index2 = await lab.one(lab.randomCmd(), 3, true);
      assert.ok(index2 >= index1 + 1, `index decreased from ${index1} to ${index2}`);
    }
    lab.end();
  });

  it("init: a server restarted twice from a snapshot serves correctly", async (t) => {
    const lab = new Lab(3, { seed: 2407, snapshot: true });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.one(lab.randomCmd(), 3, true);
    // Enough ops to make a snapshot everywhere.
    for (let i = 0; i < SNAPSHOT_INTERVAL + 1; i++) await lab.one(lab.randomCmd(), 1, true);
    for (let round = 0; round < 2; round++) {
      for (const id of lab.ids) lab.crash1(id);
      for (const id of lab.ids) {
        lab.start1(id);
        lab.connect(id);
      }
      await lab.one(lab.randomCmd(), 3, true);
    }
    // Every server restored from a snapshot at least once.
    const restored = lab.ids.filter((id) => lab.c.node(id).sm.state.applied > SNAPSHOT_INTERVAL);
    assert.equal(restored.length, 3);
    lab.end();
  });
});
