import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { committedIndex, voteResult } from "../../src/raft/quorum.js";
import { RawNode } from "../../src/raft/raw-node.js";
import { isWellFormed } from "../../src/raft/validate.js";
import { Cluster, mulberry32 } from "./harness.js";

const SEED = Number(process.env.RAFT_SEED ?? Date.now() % 1_000_000);

describe("quorum math", () => {
  it("committedIndex is the largest index a majority holds", () => {
    console.log(`quorum property seed ${SEED}`);
    fc.assert(
      fc.property(fc.array(fc.nat(100), { minLength: 1, maxLength: 7 }), (matches) => {
        const voters = matches.map((_, i) => i + 1);
        const ci = committedIndex(voters, (id) => matches[id - 1] as number);
        const atLeast = (x: number) => matches.filter((m) => m >= x).length;
        const q = Math.floor(voters.length / 2) + 1;
        assert.ok(atLeast(ci) >= q);
        assert.ok(atLeast(ci + 1) < q);
      }),
      { seed: SEED },
    );
  });

  it("voteResult: won on a majority of grants, lost once a majority is impossible", () => {
    const voters = [1, 2, 3, 4, 5];
    const tally = (g: number[], r: number[]) =>
      voteResult(
        voters,
        new Map([...g.map((id) => [id, true] as const), ...r.map((id) => [id, false] as const)]),
      );
    assert.equal(tally([1, 2], []), "pending");
    assert.equal(tally([1, 2, 3], [4, 5]), "won");
    assert.equal(tally([1, 2], [3, 4]), "pending");
    assert.equal(tally([1], [2, 3, 4]), "lost");
    assert.equal(voteResult([1, 2], new Map([[1, true]])), "pending", "two nodes need both");
  });
});

describe("election safety under arbitrary delivery orders", () => {
  it("random delivery orders of a 3-node exchange never yield two leaders in a term", () => {
    // Each step: tick a node, or deliver / drop / duplicate the k-th queued message.
    const step = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat(1000));
    console.log(`election safety property seed ${SEED}`);
    fc.assert(
      fc.property(fc.nat(1000), fc.array(step, { maxLength: 400 }), (seed, steps) => {
        const c = new Cluster({ n: 3, seed, electionTick: 4, heartbeatTick: 1 });
        const leaderOf = new Map<number, number>();
        for (const [kind, k] of steps) {
          if (kind === 0) c.tick(c.ids[k % 3] as number);
          else if (c.queue.length > 0) {
            const i = k % c.queue.length;
            if (kind === 2) c.queue.splice(i, 1);
            else {
              if (kind === 3) c.queue.push(c.queue[i] as (typeof c.queue)[number]);
              c.deliverAt(i);
            }
          }
          for (const id of c.ids) {
            const st = c.node(id).status();
            if (st.role !== "leader") continue;
            const other = leaderOf.get(st.term);
            assert.ok(other === undefined || other === id, `term ${st.term}: ${other} and ${id}`);
            leaderOf.set(st.term, id);
          }
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe("untrusted input", () => {
  it("malformed messages are ignored, never thrown on", () => {
    const n = new RawNode({
      id: 1,
      peers: [1, 2, 3],
      electionTick: 10,
      heartbeatTick: 1,
      random: mulberry32(1),
    });
    const types = [
      "vote",
      "prevote",
      "vote-resp",
      "app",
      "app-resp",
      "heartbeat",
      "snap",
      "timeout-now",
      "bogus",
    ];
    const anyValue = fc.oneof(
      fc.integer({ min: -5, max: 5 }),
      fc.double(),
      fc.string(),
      fc.constant(null),
      fc.boolean(),
    );
    const msg = fc.record({
      type: fc.constantFrom(...types),
      from: fc.oneof(fc.constantFrom(1, 2, 3), anyValue),
      to: fc.oneof(fc.constant(1), anyValue),
      term: fc.oneof(fc.nat(5), anyValue),
      prevIndex: anyValue,
      prevTerm: anyValue,
      commit: anyValue,
      entries: fc.oneof(
        fc.constant([]),
        fc.array(
          fc.record({
            index: anyValue,
            term: anyValue,
            type: fc.constant("normal"),
            data: fc.constant(new Uint8Array()),
          }),
        ),
      ),
      lastLogIndex: anyValue,
      lastLogTerm: anyValue,
      snapshot: fc.oneof(
        fc.constant(undefined),
        fc.record({
          metadata: fc.record({
            index: anyValue,
            term: anyValue,
            conf: fc.constant({ voters: [] }),
          }),
          data: fc.constant(new Uint8Array()),
        }),
      ),
    });
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 20 }), (msgs) => {
        for (const m of msgs) {
          const before = n.status();
          if (!isWellFormed(m)) {
            n.step(m as never);
            assert.deepEqual(n.status(), before);
          }
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
    // Concrete cases: entries not following prevIndex, negative index, a message to someone else
    // or from the node itself.
    const bad = [
      {
        type: "app",
        from: 2,
        to: 1,
        term: 1,
        prevIndex: 0,
        prevTerm: 0,
        commit: 0,
        entries: [{ index: 5, term: 1, type: "normal", data: new Uint8Array() }],
      },
      { type: "heartbeat", from: 2, to: 1, term: 1, commit: -1, ctx: 0 },
      { type: "heartbeat", from: 2, to: 3, term: 1, commit: 0, ctx: 0 },
      // (A vote request from a node outside the configuration is not malformed: it is answered,
      // since our configuration may be older than the candidate's; membership.test.ts.)
      { type: "vote", from: 1, to: 1, term: 1, lastLogIndex: 0, lastLogTerm: 0 },
    ];
    for (const m of bad) {
      n.step(m as never);
      assert.equal(n.status().term, 0, JSON.stringify(m));
    }
  });
});
