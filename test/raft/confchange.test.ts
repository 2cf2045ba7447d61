// The membership math (src/raft/confchange.ts) as interaction scripts, after etcd-io/raft's
// confchange/testdata: each command line is followed by the configuration it leads to (or the
// error), so the rules read as text. Commands:
//   simple v1 l2 r3          a simple change: add voter 1, add learner 2, remove 3
//   enter-joint [auto] ...   enter a joint configuration (auto: leave it automatically)
//   leave-joint
//   change ...               the ConfChange a caller proposes (transition auto)
// Configurations print as etcd's do: voters=(incoming)&&(outgoing) learners=(..)
// learners_next=(..) autoleave.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  applyConfChange,
  confProblem,
  enterJoint,
  leaveJoint,
  simpleChange,
} from "../../src/raft/confchange.js";
import { decodeConfChangeEntry, encodeConfChangeEntry } from "../../src/raft/confchange-codec.js";
import {
  type ConfChangeEntry,
  type ConfChangeSingle,
  type ConfState,
  simpleConf,
} from "../../src/raft/types.js";

function fmt(c: ConfState): string {
  const ids = (l: number[]) => `(${l.join(" ")})`;
  let s = `voters=${ids(c.voters)}`;
  if (c.votersOutgoing.length > 0) s += `&&${ids(c.votersOutgoing)}`;
  if (c.learners.length > 0) s += ` learners=${ids(c.learners)}`;
  if (c.learnersNext.length > 0) s += ` learners_next=${ids(c.learnersNext)}`;
  if (c.autoLeave) s += " autoleave";
  return s;
}

function parseChanges(words: string[]): ConfChangeSingle[] {
  return words.map((w) => {
    const node = Number(w.slice(1));
    const type = { v: "add-voter", l: "add-learner", r: "remove" }[w[0] as "v" | "l" | "r"];
    if (type === undefined) throw new Error(`bad change ${w}`);
    return { type: type as ConfChangeSingle["type"], node };
  });
}

/** Runs a script from an empty-but-for-voter-1 start; returns the transcript it produced. */
function run(script: string, start: ConfState): string {
  let c = start;
  const out: string[] = [];
  for (const line of script.trim().split("\n")) {
    const cmd = line.trim();
    if (cmd.startsWith(">")) continue;
    const [verb, ...rest] = cmd.split(/\s+/);
    const auto = rest[0] === "auto";
    const words = auto ? rest.slice(1) : rest;
    const r =
      verb === "simple"
        ? simpleChange(c, parseChanges(words))
        : verb === "enter-joint"
          ? enterJoint(c, auto, parseChanges(words))
          : verb === "leave-joint"
            ? leaveJoint(c)
            : applyConfChange(c, { changes: parseChanges(words) });
    out.push(cmd);
    if (r.ok) {
      assert.equal(confProblem(r.value), null);
      c = r.value;
      out.push(`> ${fmt(c)}`);
    } else {
      out.push(`> error: ${r.error}`);
    }
  }
  return out.join("\n");
}

function check(script: string, start: ConfState = simpleConf([1])): void {
  const expected = script
    .trim()
    .split("\n")
    .map((l) => l.trim())
    .join("\n");
  assert.equal(run(script, start), expected);
}

describe("confchange (thesis §4.3, etcd confchange/testdata)", () => {
  it("simple_safety: one voter at a time; learners any number", () => {
    check(`
      simple v2
      > voters=(1 2)
      simple v3 v4
      > error: more than one voter changed (2) without a joint configuration
      simple l3 l4 l5
      > voters=(1 2) learners=(3 4 5)
      simple r1 v3
      > error: more than one voter changed (2) without a joint configuration
      simple r2
      > voters=(1) learners=(3 4 5)
      simple r1
      > error: the change would leave no voter
    `);
  });

  it("simple_promote_demote: promoting a learner and demoting a voter are changes", () => {
    check(`
      simple l2
      > voters=(1) learners=(2)
      simple v2
      > voters=(1 2)
      simple l2
      > voters=(1) learners=(2)
      simple v2 l2
      > voters=(1) learners=(2)
    `);
  });

  it("simple_idempotency: repeating a change changes nothing", () => {
    check(`
      simple v1
      > voters=(1)
      simple v2 v2
      > voters=(1 2)
      simple l3 l3
      > voters=(1 2) learners=(3)
    `);
  });

  it("joint_autoleave: enter and leave a joint configuration", () => {
    check(`
      enter-joint auto v2 v3
      > voters=(1 2 3)&&(1) autoleave
      enter-joint v4
      > error: the configuration is already joint; leave it first
      simple v4
      > error: a simple change cannot be made in a joint configuration; leave it first
      leave-joint
      > voters=(1 2 3)
      leave-joint
      > error: the configuration is not joint: there is nothing to leave
    `);
  });

  it("joint_learners_next: a voter demoted in a joint change becomes a learner when it is left", () => {
    check(
      `
      enter-joint l3 v4
      > voters=(1 2 4)&&(1 2 3) learners_next=(3)
      leave-joint
      > voters=(1 2 4) learners=(3)
    `,
      simpleConf([1, 2, 3]),
    );
  });

  it("joint_safety: replacing every voter, removing all voters, removing strangers", () => {
    check(
      `
      enter-joint auto r1 r2 r3 v4 v5 v6
      > voters=(4 5 6)&&(1 2 3) autoleave
      leave-joint
      > voters=(4 5 6)
      enter-joint r4 r5 r6
      > error: the change would leave no voter
      simple r9
      > error: node 9 is not a member
      enter-joint v0
      > error: bad node id 0
    `,
      simpleConf([1, 2, 3]),
    );
  });

  it("a proposed change is simple when it can be, else joint with auto-leave", () => {
    check(
      `
      change v4
      > voters=(1 2 3 4)
      change r1 v5
      > voters=(2 3 4 5)&&(1 2 3 4) autoleave
      change
      > voters=(2 3 4 5)
      change
      > error: the configuration is not joint: there is nothing to leave
    `,
      simpleConf([1, 2, 3]),
    );
  });
});

describe("conf entry encoding (confchange-codec.ts)", () => {
  const ids = fc.uniqueArray(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), {
    maxLength: 6,
  });
  const validConf = fc
    .record({ voters: ids, learners: ids, outgoing: ids, auto: fc.boolean() })
    .map(({ voters, learners, outgoing, auto }): ConfState => {
      const v = voters.length > 0 ? voters : [1];
      const l = learners.filter((id) => !v.includes(id) && !outgoing.includes(id));
      const asc = (a: number[]) => [...a].sort((x, y) => x - y);
      return {
        voters: asc(v),
        learners: asc(l),
        votersOutgoing: asc(outgoing),
        learnersNext: [],
        autoLeave: outgoing.length > 0 && auto,
      };
    });
  const entry = fc.record({
    changes: fc.array(
      fc.record({
        type: fc.constantFrom("add-voter" as const, "add-learner" as const, "remove" as const),
        node: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      }),
      { maxLength: 5 },
    ),
    transition: fc.constantFrom("auto" as const, "joint" as const, "joint-explicit" as const),
    context: fc.uint8Array({ maxLength: 40 }),
    conf: validConf,
  });

  it("round-trips every entry exactly (property)", () => {
    fc.assert(
      fc.property(entry, (e: ConfChangeEntry) => {
        const d = decodeConfChangeEntry(encodeConfChangeEntry(e));
        assert.ok(d.ok, d.ok ? "" : d.error);
        assert.deepStrictEqual(d.value, structuredClone(e));
      }),
    );
  });

  it("refuses every truncation and anything appended, never throwing (property)", () => {
    fc.assert(
      fc.property(entry, fc.nat(), (e, cut) => {
        const bytes = encodeConfChangeEntry(e);
        const short = bytes.slice(0, cut % bytes.length);
        assert.equal(decodeConfChangeEntry(short).ok, false);
        const long = new Uint8Array([...bytes, 0]);
        assert.equal(decodeConfChangeEntry(long).ok, false);
      }),
    );
  });

  it("refuses a configuration that breaks ConfState's invariants, saying which", () => {
    const bad = encodeConfChangeEntry({
      changes: [],
      transition: "auto",
      context: new Uint8Array(),
      conf: { ...simpleConf([1, 2]), learners: [2] },
    });
    const d = decodeConfChangeEntry(bad);
    assert.deepEqual(d, {
      ok: false,
      error: "conf.learners: node 2 is both a learner and a voter",
    });
    assert.deepEqual(decodeConfChangeEntry(new Uint8Array([9])), {
      ok: false,
      error: "unknown conf entry version 9",
    });
  });
});
