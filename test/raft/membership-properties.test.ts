// Random sequences of membership changes among every other fault the harness has (drops,
// duplicates, reordering, partitions, restarts, compaction, transfers, pipelined Readys), under
// virtual time.
// Safety is checked at every step: the harness checks State Machine Safety on every apply,
// Election Safety and Leader Completeness on every election (harness.ts); here every node's
// configuration must be a valid one the leader produced. Liveness after a heal: one leader,
// which commits. RAFT_SEED picks the fast-check seed (printed).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { confProblem } from "../../src/raft/confchange.js";
import { decodeConfChangeEntry } from "../../src/raft/confchange-codec.js";
import type { ConfChange, ConfState, NodeId } from "../../src/raft/types.js";
import { bytes, Cluster } from "./harness.js";

const SEED = Number(process.env.RAFT_SEED ?? Date.now() % 1_000_000);
const ALL = [1, 2, 3, 4, 5];

const node = fc.constantFrom(...ALL);
const single = fc.record({
  type: fc.constantFrom("add-voter" as const, "add-learner" as const, "remove" as const),
  node,
});
// Mostly the changes operators make (add a learner, promote it, remove a member, replace one
// through a joint change, leave an explicit joint configuration), plus arbitrary ones.
const change: fc.Arbitrary<ConfChange> = fc.oneof(
  single.map((ch) => ({ changes: [ch] })),
  fc.tuple(node, node).map(([add, rm]) => ({
    changes: [
      { type: "add-voter" as const, node: add },
      { type: "remove" as const, node: rm },
    ],
  })),
  fc.constant<ConfChange>({ changes: [] }),
  fc.record({
    changes: fc.array(single, { maxLength: 4 }),
    transition: fc.constantFrom("auto" as const, "joint" as const, "joint-explicit" as const),
  }),
);

type Step =
  | { kind: "tick" }
  | { kind: "deliver"; k: number; how: number }
  | { kind: "settle" }
  | { kind: "propose" }
  | { kind: "change"; cc: ConfChange }
  | { kind: "cut"; node: NodeId }
  | { kind: "heal" }
  | { kind: "restart"; node: NodeId }
  | { kind: "compact"; node: NodeId }
  | { kind: "transfer"; node: NodeId }
  | { kind: "pipeline"; node: NodeId };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ kind: "tick" as const }) },
  {
    weight: 10,
    arbitrary: fc.record({ kind: fc.constant("deliver" as const), k: fc.nat(), how: fc.nat(19) }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "settle" as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: "propose" as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("change" as const), cc: change }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cut" as const), node }) },
  { weight: 1, arbitrary: fc.constant({ kind: "heal" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact" as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("transfer" as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pipeline" as const), node }) },
);

/** Runs the steps, checking after each that every node's configuration is one a leader produced. */
function runSteps(seed: number, steps: Step[]): Cluster {
  const c = new Cluster({ n: 3, seed, electionTick: 6, heartbeatTick: 1, maxEntriesPerMsg: 4 });
  c.elect(1);
  c.addNode(4);
  c.addNode(5);
  const produced = new Set<string>([JSON.stringify(c.node(1).status().conf)]);
  let n = 0;
  for (const s of steps) {
    switch (s.kind) {
      case "tick":
        for (const id of c.ids) c.tick(id);
        break;
      case "deliver":
        // A few messages from around position k: reordered, one in 20 lost, one duplicated.
        for (let j = 0; j < 6 && c.queue.length > 0; j++) {
          const i = (s.k + j * 7) % c.queue.length;
          if (s.how === j) c.queue.splice(i, 1);
          else {
            if (s.how === j + 6) c.queue.push(c.queue[i] as (typeof c.queue)[number]);
            c.deliverAt(i);
          }
        }
        break;
      case "settle":
        c.stabilize();
        break;
      case "propose":
        for (const id of c.leaders()) {
          c.node(id).propose(bytes(`v${n++}`));
          c.process(id);
        }
        break;
      case "change":
        for (const id of c.leaders()) {
          const r = c.node(id).proposeConfChange(s.cc);
          c.process(id);
          if (r.ok) produced.add(JSON.stringify(lastConf(c, id)));
        }
        break;
      case "cut":
        c.isolate(s.node);
        break;
      case "heal":
        c.heal();
        break;
      case "restart":
        c.restart(s.node);
        break;
      case "compact":
        c.compact(s.node);
        break;
      case "transfer":
        for (const id of c.leaders()) c.node(id).transferLeader(s.node);
        break;
      case "pipeline":
        // Toggles pipelined Readys (persisted at once, advanced later): configurations then
        // take effect well after their entries were handed out.
        c.deferAdvance = !c.deferAdvance;
        c.advanceAll(s.node);
        break;
    }
    // Auto-leave entries are proposed by the core itself: record what every log holds.
    for (const id of c.ids) for (const conf of logConfs(c, id)) produced.add(JSON.stringify(conf));
    for (const id of c.ids) {
      const conf = c.node(id).status().conf;
      const key = JSON.stringify(conf);
      if (conf.voters.length === 0 && (id === 4 || id === 5)) continue; // not joined yet
      assert.equal(confProblem(conf), null, `node ${id} holds an invalid configuration ${key}`);
      assert.ok(produced.has(key), `node ${id} holds a configuration nobody proposed: ${key}`);
    }
  }
  return c;
}

function logConfs(c: Cluster, id: NodeId): ConfState[] {
  const out: ConfState[] = [];
  const disk = c.disks.get(id)?.state;
  if (disk?.snapshot) out.push(disk.snapshot.metadata.conf);
  for (const e of disk?.entries ?? []) {
    if (e.type === "conf") out.push(decodeConf(e.data));
  }
  return out;
}

function lastConf(c: Cluster, id: NodeId): ConfState {
  const confs = logConfs(c, id);
  return confs[confs.length - 1] as ConfState;
}

function decodeConf(data: Uint8Array): ConfState {
  const d = decodeConfChangeEntry(data);
  assert.ok(d.ok);
  return d.value.conf;
}

describe("membership changes under faults (property)", () => {
  it("random change sequences keep every safety property, and the cluster recovers after a heal", () => {
    console.log(`membership property seed ${SEED}`);
    fc.assert(
      fc.property(
        fc.nat(1000),
        fc.array(step, { minLength: 100, maxLength: 500 }),
        (seed, steps) => {
          const c = runSteps(seed, steps);
          c.heal();
          c.deferAdvance = false;
          c.tickAll(60);
          const leaders = c.leaders();
          assert.equal(leaders.length, 1, `one leader after the heal (got ${leaders})`);
          const l = leaders[0] as NodeId;
          const r = c.node(l).propose(bytes("final"));
          assert.ok(r.ok, "the leader accepts a proposal");
          c.process(l);
          c.tickAll(5);
          assert.ok(c.node(l).status().commit >= r.index, "and commits it");
        },
      ),
      { seed: SEED, numRuns: Number(process.env.RAFT_RUNS ?? 100) },
    );
  });
});
