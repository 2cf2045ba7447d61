#!/usr/bin/env node
// The simulator's release sweeps (issue 11, "Done when"): SEEDS seeds each with 3, 5 and 7
// nodes, every fault, configurations drawn from each seed, TIME of faults per seed. Runs
// `raftwork sim --seeds A..B --json` in chunks, JOBS at a time (the simulator is
// single-threaded), prints progress to stderr as chunks finish, then a summary per cluster
// size and the replay command of every seed with a violation. Exit 1 if any seed had one.
// Not part of `npm test` (about 10 minutes of CPU at the defaults); the result is in
// bench/RESULTS.md, "Simulator: sweeps".
//
//   node scripts/sim-sweeps.mjs                       500 seeds x 3,5,7 nodes, 60s, JOBS=1
//   JOBS=2 SEEDS=100 NODES=5 TIME=30s node scripts/sim-sweeps.mjs
//   FROM=501 node scripts/sim-sweeps.mjs              the next 500 seeds
//
// Uses dist/ when built (npm run build), else the TypeScript sources through tsx.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;
const SEEDS = positive("SEEDS", env.SEEDS ?? "500");
const FROM = positive("FROM", env.FROM ?? "1");
const JOBS = positive("JOBS", env.JOBS ?? "1");
const CHUNK = positive("CHUNK", env.CHUNK ?? "25");
const TIME = env.TIME ?? "60s";
const FAULTS = env.FAULTS ?? "";
const SIZES = (env.NODES ?? "3,5,7").split(",").map((n) => positive("NODES", n));

function positive(name, text) {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`sim-sweeps: ${name} must be a positive integer, got "${text}"`);
    process.exit(2);
  }
  return n;
}

const cli = existsSync(join(root, "dist/cli/main.js"))
  ? ["node", [join(root, "dist/cli/main.js")]]
  : ["node", ["--import", "tsx", join(root, "src/cli/main.ts")]];
const faultArgs = FAULTS ? ["--faults", FAULTS] : [];

/** The command that reproduces one seed (as `raftwork sim` prints it for a violation). */
function replay(seed, nodes) {
  const faults = FAULTS ? ` --faults ${FAULTS}` : "";
  return `raftwork sim --seed ${seed} --nodes ${nodes} --time ${TIME}${faults} --config random --trace trace.jsonl`;
}

const tasks = [];
for (const nodes of SIZES)
  for (let from = FROM; from < FROM + SEEDS; from += CHUNK)
    tasks.push({ nodes, from, to: Math.min(from + CHUNK - 1, FROM + SEEDS - 1) });

const stats = new Map(
  SIZES.map((n) => [
    n,
    { seeds: 0, bad: [], commits: 0, reads: 0, simMs: 0, messages: 0, started: 0, ended: 0 },
  ]),
);
const started = performance.now();

/** Runs one chunk; resolves when its process exits (its results are in `stats`). */
function run(task) {
  return new Promise((resolve) => {
    const s = stats.get(task.nodes);
    if (!s.started) s.started = performance.now();
    const args = [
      ...cli[1],
      "sim",
      "--seeds",
      `${task.from}..${task.to}`,
      "--nodes",
      String(task.nodes),
      "--time",
      TIME,
      ...faultArgs,
      "--json",
    ];
    const child = spawn(cli[0], args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("close", (code) => {
      const lines = out.split("\n").filter(Boolean);
      for (const line of lines) {
        const r = JSON.parse(line);
        s.seeds++;
        s.commits += r.commits;
        s.reads += r.reads;
        s.simMs += r.simulatedMs;
        s.messages += r.messages;
        if (r.violations.length > 0)
          s.bad.push({ seed: r.seed, v: r.violations[0], config: r.config });
      }
      const expected = task.to - task.from + 1;
      if (lines.length !== expected || (code !== 0 && code !== 1))
        s.bad.push({
          seed: task.from,
          v: {
            invariant: "crash",
            message: `chunk ${task.from}..${task.to} exited ${code}: ${err.trim().slice(0, 500)}`,
          },
        });
      s.ended = performance.now();
      const done = [...stats.values()].reduce((a, x) => a + x.seeds, 0);
      const bad = [...stats.values()].reduce((a, x) => a + x.bad.length, 0);
      const secs = ((performance.now() - started) / 1000).toFixed(0);
      process.stderr.write(
        `${task.nodes} nodes ${task.from}..${task.to}: ${s.seeds}/${SEEDS} of this size; ` +
          `${done}/${SEEDS * SIZES.length} in all, ${bad} with violations, ${secs}s\n`,
      );
      resolve();
    });
  });
}

const queue = tasks.slice();
await Promise.all(
  Array.from({ length: Math.min(JOBS, queue.length) }, async () => {
    for (let t = queue.shift(); t; t = queue.shift()) await run(t);
  }),
);

const total = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `sim sweeps: seeds ${FROM}..${FROM + SEEDS - 1}, ${TIME} of ${FAULTS || "every fault"} each, ` +
    `configurations drawn from the seed, ${JOBS} job(s), ${total}s real time`,
);
let failed = false;
for (const [nodes, s] of stats) {
  const realS = ((s.ended - s.started) / 1000).toFixed(0);
  console.log(
    `  ${nodes} nodes: ${s.seeds} seeds, ${s.bad.length} with violations; ${s.commits} commits, ` +
      `${s.reads} reads, ${s.messages} requests, ${(s.simMs / 1000).toFixed(0)} simulated s ` +
      `(${realS}s real)`,
  );
  for (const b of s.bad) {
    failed = true;
    console.log(`    seed ${b.seed}: ${b.v.invariant}: ${b.v.message}`);
    console.log(`      replay: ${replay(b.seed, nodes)}`);
  }
}
process.exit(failed ? 1 : 0);
