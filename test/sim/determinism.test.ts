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

  it("the same seed and options give the same trace hash and counts", async () => {
    const a = await runSimulation({ ...opts, seed: 42 });
    const b = await runSimulation({ ...opts, seed: 42 });
    assert.match(a.traceHash, /^[0-9a-f]{64}$/);
    assert.deepEqual(a, b);
  });

  it("another seed, or other options, give another trace", async () => {
    const a = await runSimulation({ ...opts, seed: 42 });
    assert.notEqual((await runSimulation({ ...opts, seed: 43 })).traceHash, a.traceHash);
    assert.notEqual(
      (await runSimulation({ ...opts, seed: 42, faults: ["drop"] })).traceHash,
      a.traceHash,
    );
  });

  it("FileStorage on simulated disks: crashes, disk faults and WAL recovery replay exactly", async () => {
    const run = (traceFile?: string) =>
      runSimulation({
        nodes: 3,
        seed: 1,
        timeMs: 20_000,
        faults: ["crash", "disk", "drop"],
        ...(traceFile ? { traceFile } : {}),
      });
    const file = join(dir, "disk.jsonl");
    const a = await run(file);
    const b = await run();
    assert.equal(a.traceHash, b.traceHash);
    assert.deepEqual(a.violations, []);
    const recs = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { ev: string; last?: number; reason?: string; fault?: string });
    // Restarts after a crash read a non-empty log back: FileStorage's recovery ran.
    assert.ok(recs.some((r) => r.ev === "start" && (r.last ?? 0) > 0));
    assert.ok(recs.some((r) => r.ev === "crash"));
    assert.ok(recs.some((r) => r.ev === "disk"));
  });

  it("the trace file is the JSONL whose sha256 is the trace hash", async () => {
    const file = join(dir, "trace.jsonl");
    const r = await runSimulation({ ...opts, seed: 7, traceFile: file });
    const text = readFileSync(file, "utf8");
    assert.equal(createHash("sha256").update(text).digest("hex"), r.traceHash);
    const lines = text.trimEnd().split("\n");
    const kinds = new Set(lines.map((l) => (JSON.parse(l) as { ev: string }).ev));
    for (const ev of ["deliver", "drop", "timer", "role", "commit", "apply"])
      assert.ok(kinds.has(ev), `trace has no "${ev}" records`);
    // Writing the file does not change the run.
    assert.equal((await runSimulation({ ...opts, seed: 7 })).traceHash, r.traceHash);
  });
});

describe("what the trace tells", () => {
  it("the drawn configuration, which timer fired, client proposals and reads", async () => {
    const file = join(dir, "content.jsonl");
    const r = await runSimulation({
      nodes: 3,
      seed: 5,
      timeMs: 10_000,
      faults: FAULTS,
      traceFile: file,
    });
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
