// Every seed draws its configuration (README, "Simulator": `config`).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEFAULT_CONFIG, drawConfig, FSYNC_PROFILES } from "../../src/sim/config.js";
import { runSimulation } from "../../src/sim/runner.js";

const dir = mkdtempSync(join(tmpdir(), "raftwork-sim-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("seeded configurations", () => {
  it("cover each key's corners over a few hundred seeds", async () => {
    const drawn = Array.from({ length: 300 }, (_, i) => drawConfig(i + 1));
    const values = (k: keyof typeof DEFAULT_CONFIG) => new Set(drawn.map((c) => c[k]));
    assert.ok(values("maxEntriesPerMsg").has(1), "never one entry per message");
    assert.ok(values("maxInflight").has(1), "never one message in flight");
    assert.deepEqual([...values("preVote")].sort(), [false, true]);
    assert.deepEqual([...values("checkQuorum")].sort(), [false, true]);
    assert.deepEqual([...values("fsync")].sort(), [...FSYNC_PROFILES].sort());
    for (const c of drawn) {
      assert.ok(c.heartbeatTick >= 1 && c.heartbeatTick < c.electionTick, JSON.stringify(c));
      assert.ok(c.snapshotEvery > 0);
    }
    // The draw is a function of the seed alone.
    assert.deepEqual(drawConfig(7), drawConfig(7));
  });

  it("the run reports the configuration it used, and the trace carries it after the header", async () => {
    const file = join(dir, "t.jsonl");
    const r = await runSimulation({
      nodes: 3,
      seed: 9,
      timeMs: 2_000,
      faults: [],
      traceFile: file,
    });
    assert.deepEqual(r.config, drawConfig(9));
    const [header, config] = readFileSync(file, "utf8")
      .split("\n", 2)
      .map((l) => JSON.parse(l));
    assert.equal(header.ev, "trace");
    assert.deepEqual(config, { t: 0, ev: "config", ...drawConfig(9) });
    assert.deepEqual(Object.keys(config).slice(2), Object.keys(DEFAULT_CONFIG));
    const pinned = await runSimulation({
      nodes: 3,
      seed: 9,
      timeMs: 2_000,
      faults: [],
      config: "default",
    });
    assert.deepEqual(pinned.config, DEFAULT_CONFIG);
    assert.notEqual(pinned.traceHash, r.traceHash);
  });
});
