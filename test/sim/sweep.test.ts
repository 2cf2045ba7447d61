// The seed sweep that `npm test` runs: a few hundred short simulations of a 5-node cluster under
// every fault. Longer sweeps: scripts/sweep.sh. A seed that once failed
// becomes a named regression below.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FAULTS, runSimulation } from "../../src/sim/runner.js";

const FIRST_SEED = 1;
const SEEDS = 300;
const TIME_MS = 30_000;

/** Seeds that once exposed a bug, with what it was. */
const REGRESSIONS = [
  {
    seed: 106,
    nodes: 3,
    timeMs: 30_000,
    why:
      "node 3 won term 2 with votes it handled only after a 2 s pause, when term 3 had committed " +
      "more; the checker wrongly called that a leader-completeness violation",
  },
  {
    seed: 178,
    nodes: 5,
    timeMs: 60_000,
    why:
      "a follower cut off before index 181 committed took index 181 from a stale term-5 leader; " +
      "the checker wrongly called that overwriting a committed entry (it never held it)",
  },
  {
    seed: 75,
    nodes: 5,
    timeMs: 30_000,
    why:
      "an EIO drawn for an fsync issued during a stall struck after the heal and kept the node " +
      "down through the liveness check (the heal now cancels it)",
  },
  {
    seed: 372,
    nodes: 3,
    timeMs: 60_000,
    why:
      "a node catching up after the heal met the fsync profile's tail stalls of several election " +
      "timeouts (the heal now ends those too)",
  },
  {
    seed: 81,
    nodes: 7,
    timeMs: 60_000,
    why:
      "a paused node still in term 14 took a term-14 leader's entry over one it held that term 16 " +
      "had committed without it; the checker wrongly called that overwriting a committed entry",
  },
];

/**
 * Found by the release sweeps (scripts/sim-sweeps.mjs: 500 seeds each of 3, 5, 7 nodes, 60 s)
 * after the production driver and FileStorage came to the simulator; not fixed yet, so todo.
 * Each: one node far behind at the heal, catching up one entry per message with one in flight
 * over the lossy network, does not apply a new proposal within 10 s (liveness).
 */
const OPEN: { seed: number; nodes: number; invariant: string }[] = [
  { seed: 499, nodes: 3, invariant: "liveness" },
  { seed: 75, nodes: 5, invariant: "liveness" },
  { seed: 246, nodes: 5, invariant: "liveness" },
  { seed: 257, nodes: 5, invariant: "liveness" },
  { seed: 299, nodes: 5, invariant: "liveness" },
  { seed: 307, nodes: 5, invariant: "liveness" },
  { seed: 389, nodes: 5, invariant: "liveness" },
  { seed: 61, nodes: 7, invariant: "liveness" },
  { seed: 220, nodes: 7, invariant: "liveness" },
  { seed: 246, nodes: 7, invariant: "liveness" },
  { seed: 257, nodes: 7, invariant: "liveness" },
  { seed: 299, nodes: 7, invariant: "liveness" },
  { seed: 405, nodes: 7, invariant: "liveness" },
];

describe("seed sweep", () => {
  it(`${SEEDS} seeds x ${TIME_MS / 1000} s, 5 nodes, all faults: safe and live`, async (t) => {
    const failures: string[] = [];
    let commits = 0;
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
      const r = await runSimulation({ nodes: 5, seed, timeMs: TIME_MS, faults: FAULTS });
      commits += r.commits;
      for (const v of r.violations)
        failures.push(`seed ${seed}: ${v.invariant} at event ${v.event}: ${v.message}`);
    }
    t.diagnostic(`seeds ${FIRST_SEED}..${FIRST_SEED + SEEDS - 1}: ${commits} commits`);
    for (const f of failures) t.diagnostic(f);
    assert.deepEqual(failures, [], `replay with: raftwork sim --seed N --time ${TIME_MS}ms`);
    assert.ok(commits > SEEDS * 100, `only ${commits} commits in ${SEEDS} runs`);
  });

  for (const o of OPEN) {
    it(`open: seed ${o.seed}, ${o.nodes} nodes, 60 s (${o.invariant})`, {
      todo: "found by the release sweeps, not fixed yet",
    }, async (t) => {
      const result = await runSimulation({
        nodes: o.nodes,
        seed: o.seed,
        timeMs: 60_000,
        faults: FAULTS,
      });
      t.diagnostic(result.violations.map((v) => `${v.invariant}: ${v.message}`).join("; "));
      assert.deepEqual(result.violations, []);
    });
  }

  for (const r of REGRESSIONS) {
    it(`regression: seed ${r.seed} (${r.why})`, async (t) => {
      t.diagnostic(`seed ${r.seed}`);
      const result = await runSimulation({
        nodes: r.nodes,
        seed: r.seed,
        timeMs: r.timeMs,
        faults: FAULTS,
      });
      assert.deepEqual(result.violations, []);
    });
  }
});
