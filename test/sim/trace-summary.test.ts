// `raftwork sim summary`'s numbers, on the hand-made trace where each is known, and against the
// simulator's own counts on a real run.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { FAULTS, runSimulation } from "../../src/sim/runner.js";
import { formatSummary, summarizeTrace } from "../../src/sim/summary.js";
import { loadTraceFile } from "../../src/sim/trace-file.js";
import { modelFromText } from "../../src/sim/view/model.js";
import { KNOWN_RECORDS, knownTraceText } from "./trace-fixture.js";

const dir = mkdtempSync(join(tmpdir(), "raftwork-trace-summary-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("trace summary", () => {
  const s = summarizeTrace(modelFromText(knownTraceText()));

  it("counts elections and leader tenure", async () => {
    assert.deepEqual(s.elections, { leaders: 1, campaigns: 1, preCampaigns: 0, highestTerm: 1 });
    assert.deepEqual(s.tenures, [{ node: 1, term: 1, start: 320, end: 1600, ended: "trace-end" }]);
    assert.deepEqual(s.tenureMs, { min: 1280, median: 1280, max: 1280 });
    assert.equal(s.noLeaderMs, 320);
  });

  it("counts messages by type and fate, and drops by reason", async () => {
    const m = s.messages;
    assert.deepEqual(
      { sent: m.sent, requests: m.requests, delivered: m.delivered, dropped: m.dropped },
      { sent: 9, requests: 7, delivered: 6, dropped: 4 },
    );
    assert.equal(m.duplicated, 1);
    assert.equal(m.late, 1);
    assert.deepEqual(m.byType.app, { sent: 2, delivered: 3, dropped: 0, duplicated: 1, late: 1 });
    assert.deepEqual(m.byType.heartbeat, {
      sent: 3,
      delivered: 0,
      dropped: 3,
      duplicated: 0,
      late: 0,
    });
    assert.deepEqual(Object.keys(m.byType), ["vote", "vote-resp", "app", "app-resp", "heartbeat"]);
    assert.deepEqual(m.dropReasons, { loss: 1, cut: 2, down: 1 });
  });

  it("counts faults, the log, client operations, and keeps the violation", async () => {
    assert.deepEqual(s.faults, { crash: 1, partition: 1, cut: 1, heal: 1, restart: 1 });
    assert.deepEqual(s.log, { commits: 2, commands: 1, lastIndex: 2, snapshots: 0, installs: 0 });
    assert.deepEqual(s.client, {
      ops: 2,
      reads: 1,
      writes: 1,
      ok: 1,
      fail: 1,
      timeout: 0,
      pending: 0,
    });
    assert.deepEqual(s.violation, {
      t: 1600,
      line: KNOWN_RECORDS.length,
      invariant: "election-safety",
      message: "two leaders in term 1",
    });
  });

  it("reads as text", async () => {
    const text = formatSummary(s, "known.jsonl");
    for (const line of [
      /^known\.jsonl: 3 nodes \(1, 2, 3\), seed 7, format v1, \d+ records, 1\.600 s simulated$/m,
      /^elections: 1 leader elected, highest term 1; 1 vote campaign, 0 pre-vote$/m,
      /^ {2}term {3}1: node 1 from 320 ms to 1\.600 s \(1\.280 s, trace end\)$/m,
      /^messages: 9 sent \(7 requests\), 6 delivered, 4 dropped, 1 duplicated, 1 held back$/m,
      /^ {2}heartbeat +3 +0 +3 +0 +0$/m,
      /^ {2}drops by reason: loss 1, cut 2, down 1$/m,
      /^faults: crash 1, partition 1, cut 1, heal 1, restart 1$/m,
      /^client: 2 operations \(1 writes, 1 reads\): 1 ok, 1 failed, 0 timed out, 0 pending$/m,
      /^violation: election-safety at 1\.600 s \(line \d+\): two leaders in term 1$/m,
      /^warning: record kinds this viewer does not know .*future-thing/m,
    ])
      assert.match(text, line);
  });

  it("agrees with the simulator: leaders elected, commands committed, requests sent", async () => {
    const file = join(dir, "t.jsonl");
    const r = await runSimulation({
      nodes: 5,
      seed: 9,
      timeMs: 10_000,
      faults: FAULTS,
      traceFile: file,
    });
    const sum = summarizeTrace(await loadTraceFile(file));
    assert.equal(sum.elections.leaders, r.leaderChanges);
    assert.equal(sum.log.commands, r.commits);
    // The trace has a fate for every request but those still in flight when the run ended.
    assert.ok(sum.messages.requests <= r.messages, `${sum.messages.requests} > ${r.messages}`);
    assert.ok(
      r.messages - sum.messages.requests < 30,
      `${r.messages - sum.messages.requests} unaccounted`,
    );
    assert.equal(sum.violation, null);
    assert.ok(sum.noLeaderMs >= 0 && sum.noLeaderMs <= sum.simulatedMs);
  });
});
