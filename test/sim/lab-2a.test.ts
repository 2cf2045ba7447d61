// 6.5840 Raft lab, part 2A (leader election), in our own words, on virtual time.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ELECTION_TIMEOUT_MS, Lab } from "./lab-harness.js";

describe("lab 2A: leader election", () => {
  it("initial election: one leader, and the term stays put without failures", async (t) => {
    const lab = new Lab(3, { seed: 2101 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.checkOneLeader();
    await lab.sleep(50);
    const term1 = lab.checkTerms();
    assert.ok(term1 >= 1, `term is ${term1}, but an election should have advanced it`);
    await lab.sleep(2 * ELECTION_TIMEOUT_MS);
    assert.equal(lab.checkTerms(), term1, "term changed even though there were no failures");
    await lab.checkOneLeader();
    lab.end();
  });

  it("re-election: a new leader when the old one is cut off, none without a majority", async (t) => {
    const lab = new Lab(3, { seed: 2102 });
    t.diagnostic(`seed ${lab.seed}`);
    const leader1 = await lab.checkOneLeader();
    lab.disconnect(leader1);
    await lab.checkOneLeader();
    // The old leader rejoins; that must not disturb the new leader.
    lab.connect(leader1);
    const leader2 = await lab.checkOneLeader();
    // No quorum: no leader may be elected.
    lab.disconnect(leader2);
    lab.disconnect(lab.peer(leader2, 1));
    await lab.sleep(2 * ELECTION_TIMEOUT_MS);
    lab.checkNoLeader();
    lab.connect(lab.peer(leader2, 1));
    await lab.checkOneLeader();
    lab.connect(leader2);
    await lab.checkOneLeader();
    lab.end();
  });

  it("many elections: 7 servers, 3 random ones cut off again and again", async (t) => {
    const lab = new Lab(7, { seed: 2103 });
    t.diagnostic(`seed ${lab.seed}`);
    await lab.checkOneLeader();
    for (let iter = 0; iter < 10; iter++) {
      const cut = lab.rng.shuffle(lab.ids).slice(0, 3);
      for (const id of cut) lab.disconnect(id);
      // Either the current leader survives or a new one is elected among the remaining 4.
      await lab.checkOneLeader();
      for (const id of cut) lab.connect(id);
    }
    await lab.checkOneLeader();
    lab.end();
  });
});
