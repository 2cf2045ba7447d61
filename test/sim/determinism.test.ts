import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { FAULTS, runSimulation } from "../../src/sim/runner.js";

const dir = mkdtempSync(join(tmpdir(), "raftwork-sim-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("determinism", () => {
  const opts = { nodes: 5, timeMs: 15_000, faults: FAULTS };

  it("the same seed and options give the same trace hash and counts", () => {
    const a = runSimulation({ ...opts, seed: 42 });
    const b = runSimulation({ ...opts, seed: 42 });
    assert.match(a.traceHash, /^[0-9a-f]{64}$/);
    assert.deepEqual(a, b);
  });

  it("another seed, or other options, give another trace", () => {
    const a = runSimulation({ ...opts, seed: 42 });
    assert.notEqual(runSimulation({ ...opts, seed: 43 }).traceHash, a.traceHash);
    assert.notEqual(runSimulation({ ...opts, seed: 42, faults: ["drop"] }).traceHash, a.traceHash);
  });

  it("the trace file is the JSONL whose sha256 is the trace hash", () => {
    const file = join(dir, "trace.jsonl");
    const r = runSimulation({ ...opts, seed: 7, traceFile: file });
    const text = readFileSync(file, "utf8");
    assert.equal(createHash("sha256").update(text).digest("hex"), r.traceHash);
    const lines = text.trimEnd().split("\n");
    const kinds = new Set(lines.map((l) => (JSON.parse(l) as { ev: string }).ev));
    for (const ev of ["deliver", "drop", "timer", "role", "commit", "apply"])
      assert.ok(kinds.has(ev), `trace has no "${ev}" records`);
    // Writing the file does not change the run.
    assert.equal(runSimulation({ ...opts, seed: 7 }).traceHash, r.traceHash);
  });
});

describe("what the trace tells", () => {
  it("the drawn configuration, which timer fired, client proposals and reads", () => {
    const file = join(dir, "content.jsonl");
    const r = runSimulation({ nodes: 3, seed: 5, timeMs: 10_000, faults: FAULTS, traceFile: file });
    const recs = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const config = recs.find((x) => x.ev === "config");
    assert.ok(config, "no config record");
    const { t: _t, ev: _ev, ...drawn } = config;
    assert.deepEqual(drawn, r.config, "the config record is the configuration the run used");
    const timers = new Set(recs.filter((x) => x.ev === "timer").map((x) => x.timer));
    for (const name of ["election", "heartbeat"])
      assert.ok(timers.has(name), `no ${name} timer (saw ${[...timers].join(", ")})`);
    assert.ok(!timers.has(undefined), "every timer record names its timer");
    for (const ev of ["call", "return", "propose", "read-index"])
      assert.ok(
        recs.some((x) => x.ev === ev),
        `trace has no "${ev}" records`,
      );
    assert.ok(
      recs.some((x) => x.ev === "call" && x.kind === "get"),
      "no client read in the trace",
    );
  });
});
