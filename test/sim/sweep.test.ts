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
