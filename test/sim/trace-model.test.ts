// The trace model: lanes, spans, state lookups, messages, links, client operations and the
// violation, checked on a hand-made trace where every number is known, and against what the
// simulator itself counted on real runs.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { FAULTS, runSimulation } from "../../src/sim/runner.js";
import { loadTraceFile } from "../../src/sim/trace-file.js";
import { bucketCounts, lowerBound, upperBound } from "../../src/sim/view/lookup.js";
import {
  FATE_DROPPED,
  FLAG_DUP,
  FLAG_LATE,
  messageTypeName,
  modelFromText,
  type TraceModel,
} from "../../src/sim/view/model.js";
import { KNOWN_RECORDS, knownTraceText, writePlantedBugTrace } from "./trace-fixture.js";

const dir = mkdtempSync(join(tmpdir(), "raftwork-trace-model-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Index of the first fixture record matching `pred`. */
function seqOf(pred: (r: Record<string, unknown>) => boolean): number {
  const i = KNOWN_RECORDS.findIndex(pred);
  assert.ok(i >= 0);
  return i;
}

describe("trace model, on a known trace", () => {
  const m = modelFromText(knownTraceText());

  it("has the header's members, seed and version, every record and the end time", async () => {
    assert.deepEqual(m.nodes, [1, 2, 3]);
    assert.equal(m.seed, 7);
    assert.equal(m.version, 1);
    assert.equal(m.records.length, KNOWN_RECORDS.length);
    assert.equal(m.events.count, KNOWN_RECORDS.length);
    assert.equal(m.end, 1600);
    assert.deepEqual(m.unknownKinds, ["future-thing"]);
    assert.ok(m.warnings.some((w) => w.includes("future-thing")));
  });

  it("role spans follow role records, restarts and crashes", async () => {
    const spans = (n: number) =>
      m.lanes.get(n)?.roles.map((s) => [s.start, s.end, s.role, s.term, s.leader]);
    assert.deepEqual(spans(1), [
      [0, 300, "follower", 0, 0],
      [300, 320, "candidate", 1, 0],
      [320, 1600, "leader", 1, 1],
    ]);
    assert.deepEqual(spans(2), [
      [0, 310, "follower", 0, 0],
      [310, 330, "follower", 1, 0],
      [330, 1300, "follower", 1, 1],
      [1500, 1600, "follower", 1, 0],
    ]);
    assert.deepEqual(
      m.lanes.get(2)?.down.map((s) => [s.start, s.end]),
      [[1300, 1500]],
    );
  });

  it("answers each node's state after any record and at any time", async () => {
    const afterApply2 = m.statesAfter(seqOf((r) => r.ev === "apply" && r.index === 2));
    assert.deepEqual(afterApply2.get(1), {
      up: true,
      paused: false,
      role: "leader",
      term: 1,
      leader: 1,
      last: 1,
      commit: 2,
      applied: 2,
      rate: 1,
    });
    const lane2 = m.lanes.get(2)?.state;
    assert.equal(lane2?.atTime(1400).up, false);
    assert.equal(lane2?.atTime(1400).last, 1, "a crash leaves what the disk kept");
    assert.equal(lane2?.atTime(1500).up, true);
    assert.equal(lane2?.atTime(-1).up, false, "before anything: not started");
    assert.equal(m.statesAfter(0).get(1)?.up, false, "the header starts nobody");
    assert.equal(m.statesAfter(1).get(1)?.up, true);
  });

  it("turns every deliver and drop into an arrow with its send time, fate and flags", async () => {
    const msgs = m.messages;
    assert.equal(msgs.count, 10);
    assert.equal(msgs.maxFlight, 900 - 321);
    const rows = Array.from({ length: msgs.count }, (_, i) => [
      msgs.id[i],
      msgs.sent[i],
      msgs.t[i],
      messageTypeName(msgs.type[i] as number),
      msgs.fate[i] === FATE_DROPPED ? "drop" : "deliver",
      ((msgs.flags[i] as number) & FLAG_LATE ? "late " : "") +
        ((msgs.flags[i] as number) & FLAG_DUP ? "dup" : ""),
    ]);
    assert.deepEqual(rows, [
      [1, 302, 302, "vote", "drop", ""],
      [2, 302, 310, "vote", "deliver", ""],
      [3, 312, 320, "vote-resp", "deliver", ""],
      [4, 321, 330, "app", "deliver", ""],
      [5, 321, 330, "app", "deliver", ""],
      [6, 333, 340, "app-resp", "deliver", ""],
      [4, 321, 900, "app", "deliver", "late dup"],
      [7, 1001, 1001, "heartbeat", "drop", ""],
      [8, 1140, 1150, "heartbeat", "drop", ""],
      [9, 1305, 1310, "heartbeat", "drop", ""],
    ]);
    // Lanes: a drop at send time is the sender's event, a drop on arrival the receiver's.
    const laneOf = (id: number, ev: string) =>
      m.events.node[seqOf((r) => r.ev === ev && r.id === id)];
    assert.equal(laneOf(1, "drop"), 1);
    assert.equal(laneOf(7, "drop"), 1);
    assert.equal(laneOf(8, "drop"), 2);
    assert.equal(laneOf(9, "drop"), 2);
    assert.equal(laneOf(2, "deliver"), 2);
    assert.equal(laneOf(4, "dup"), 1);
  });

  it("keeps per-node sorted send and drop times for aggregated drawing", async () => {
    assert.deepEqual([...(m.sendTimes.get(1) ?? [])], [302, 302, 321, 321, 321, 1001, 1140, 1305]);
    assert.deepEqual([...(m.dropTimes.get(1) ?? [])], [302, 1001, 1150, 1310]);
    assert.deepEqual([...m.timesOf("apply", 1)], [340, 450]);
    assert.deepEqual([...m.timesOf("apply", 3)], []);
    assert.deepEqual([...bucketCounts(m.sendTimes.get(1) ?? [], 0, 1600, 4)], [5, 0, 2, 1]);
  });

  it("replays partitions and one-way cuts into link spans with each node's side", async () => {
    assert.deepEqual(
      m.links.map((l) => [l.start, l.end, l.label, l.groups]),
      [
        [1000, 1100, "partition 1,2|3", 2],
        [1100, 1200, "partition 1,2|3; cut 1→2", 3],
      ],
    );
    const [p, c] = m.links;
    assert.deepEqual(p?.nodes, [
      { group: 1, noSend: [3], noHear: [3] },
      { group: 1, noSend: [3], noHear: [3] },
      { group: 2, noSend: [1, 2], noHear: [1, 2] },
    ]);
    assert.deepEqual(c?.nodes[0], { group: 1, noSend: [2, 3], noHear: [3] });
    assert.deepEqual(c?.nodes[1], { group: 2, noSend: [3], noHear: [1, 3] });
    assert.equal(m.linksAfter(seqOf((r) => r.ev === "drop" && r.id === 8)), c);
    assert.equal(m.linksAfter(seqOf((r) => r.ev === "heal")), null);
    assert.equal(m.linksAfter(3), null);
  });

  it("pairs client calls with returns and keeps commits and the violation", async () => {
    assert.deepEqual(
      m.ops.map((o) => [o.op, o.kind, o.node, o.call, o.ret, o.outcome, o.index]),
      [
        [1, "put", 1, 400, 451, "ok", 2],
        [2, "get", 2, 460, 470, "fail", undefined],
      ],
    );
    assert.deepEqual(
      m.commits.map((c) => [c.t, c.index, c.cmd]),
      [
        [340, 1, null],
        [450, 2, "x=1"],
      ],
    );
    assert.deepEqual(m.violation, {
      seq: KNOWN_RECORDS.length - 1,
      t: 1600,
      invariant: "election-safety",
      event: 321,
      message: "two leaders in term 1",
    });
  });

  it("opens a bridge partition: the bridge reaches both sides, the sides not each other", async () => {
    const text = [
      { t: 0, ev: "trace", v: 1, nodes: [1, 2, 3, 4, 5], seed: 1 },
      { t: 5, ev: "partition", groups: "1,2,3|3,4,5" },
    ]
      .map((r) => JSON.stringify(r))
      .join("\n");
    const span = modelFromText(text).links[0];
    assert.deepEqual(span?.nodes[2], { group: 0, noSend: [], noHear: [] });
    assert.deepEqual(span?.nodes[0]?.noSend, [4, 5]);
    assert.notEqual(span?.nodes[0]?.group, span?.nodes[4]?.group);
  });
});

describe("trace model, on simulator runs", () => {
  async function run(seed: number) {
    const file = join(dir, `t-${seed}.jsonl`);
    const result = await runSimulation({
      nodes: 5,
      seed,
      timeMs: 10_000,
      faults: FAULTS,
      traceFile: file,
    });
    return { result, file };
  }

  it("agrees with the simulator's own counts: leaders, commands, messages", async () => {
    for (const seed of [3, 4]) {
      const { result, file } = await run(seed);
      const m: TraceModel = await loadTraceFile(file);
      const leaders = m.records.filter((r) => r.ev === "role" && r.role === "leader");
      assert.equal(new Set(leaders.map((r) => r.term)).size, result.leaderChanges, `seed ${seed}`);
      assert.equal(m.commits.filter((c) => c.cmd !== null).length, result.commits);
      assert.equal(m.end, result.simulatedMs);
      // Every send has exactly one first-copy fate (a message still in flight at the end has none).
      const firstFates = new Set<number>();
      for (let i = 0; i < m.messages.count; i++) {
        assert.ok((m.messages.sent[i] as number) <= (m.messages.t[i] as number));
        if (((m.messages.flags[i] as number) & FLAG_DUP) !== 0) continue;
        const id = m.messages.id[i] as number;
        assert.ok(!firstFates.has(id), `seed ${seed}: message ${id} has two fates`);
        firstFates.add(id);
      }
      const inFlight = Math.max(...firstFates) - firstFates.size;
      assert.ok(
        // Slow links (the delay fault) hold messages back for up to 3 s, so a few hundred may
        // still be on their way when the healed cluster has committed.
        inFlight >= 0 && inFlight < 300,
        `seed ${seed}: ${inFlight} messages without a fate`,
      );
      assert.equal(m.violation, null);
    }
  });

  it("a planted bug's violation is the trace's last record, as the simulator reported it", async () => {
    const file = join(dir, "bug.jsonl");
    const result = await writePlantedBugTrace(file);
    const v = result.violations[0];
    assert.ok(v, "the planted bug was caught");
    const m = await loadTraceFile(file);
    assert.deepEqual(
      {
        invariant: m.violation?.invariant,
        event: m.violation?.event,
        message: m.violation?.message,
      },
      { invariant: v.invariant, event: v.event, message: v.message },
    );
    assert.equal(m.violation?.seq, m.records.length - 1);
  });
});

describe("lookups", () => {
  it("bounds and buckets agree with a linear scan", async () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 60 }),
        fc.integer({ min: -5, max: 105 }),
        fc.integer({ min: 1, max: 40 }),
        (values, x, n) => {
          const a = Float64Array.from(values).sort();
          assert.equal(
            lowerBound(a, x),
            a.findIndex((v) => v >= x) < 0 ? a.length : a.findIndex((v) => v >= x),
          );
          assert.equal(
            upperBound(a, x),
            a.findIndex((v) => v > x) < 0 ? a.length : a.findIndex((v) => v > x),
          );
          const t0 = Math.min(x, 50);
          const t1 = t0 + 50;
          const counts = bucketCounts(a, t0, t1, n);
          const width = (t1 - t0) / n;
          for (let k = 0; k < n; k++) {
            const lo = t0 + k * width;
            const hi = k === n - 1 ? t1 : t0 + (k + 1) * width;
            assert.equal(counts[k], [...a].filter((v) => v >= lo && v < hi).length);
          }
        },
      ),
    );
  });
});

describe("browser safety", () => {
  it("src/sim/view imports nothing at run time but itself, the schema and util/errors", async () => {
    // The viewer page loads these modules as they are compiled (served from dist/): a Node
    // import, or any other module, would break the page.
    const root = new URL("../../src/sim/view/", import.meta.url);
    const allowed = /^(\.\/[a-z-]+\.js|\.\.\/trace-schema\.js|\.\.\/\.\.\/util\/errors\.js)$/;
    for (const name of readdirSync(root)) {
      const text = readFileSync(new URL(name, root), "utf8");
      for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
        if (m[1]) continue;
        assert.match(m[2] as string, allowed, `${name} imports ${m[2]}`);
      }
    }
  });
});
