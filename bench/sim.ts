// Simulator speed: simulated seconds per real second for 3- and 5-node clusters, with and
// without faults, with seeded or default configurations, with and without the linearizability
// check, and proposals committed per real second in a fault-free 3-node cluster.
// The design target: 10,000 simulated seconds of a 5-node cluster under every fault in under
// 30 s of real time (bench/RESULTS.md, "Simulator: simulated seconds per real second").
//
//   node --import tsx bench/sim.ts [simulatedSecondsPerCase=2000] [seeds=10]
import { RawNode } from "../src/raft/raw-node.js";
import { SimCluster } from "../src/sim/cluster.js";
import type { ConfigMode } from "../src/sim/config.js";
import { FAULTS, runSimulation } from "../src/sim/runner.js";

const perCase = Number(process.argv[2] ?? 2000);
const seeds = Number(process.argv[3] ?? 10);

async function speed(
  nodes: number,
  faulty: boolean,
  config: ConfigMode = "random",
  check = true,
): Promise<void> {
  const timeMs = (perCase * 1000) / seeds;
  let simulatedMs = 0;
  let commits = 0;
  let messages = 0;
  let reads = 0;
  const started = performance.now();
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await runSimulation({
      nodes,
      seed,
      timeMs,
      faults: faulty ? FAULTS : [],
      config,
      linearizability: check,
    });
    if (r.violations.length > 0) throw new Error(`seed ${seed}: ${JSON.stringify(r.violations)}`);
    simulatedMs += r.simulatedMs;
    commits += r.commits;
    messages += r.messages;
    reads += r.reads;
  }
  const realS = (performance.now() - started) / 1000;
  const simS = simulatedMs / 1000;
  console.log(
    `${nodes} nodes, ${faulty ? "all faults" : "no faults "}, config ${config}` +
      `${check ? "" : ", no linearizability check"}: ${simS.toFixed(0)} simulated s in ` +
      `${realS.toFixed(2)} s real = ${(simS / realS).toFixed(0)} simulated s/s ` +
      `(${commits} commits, ${reads} reads, ${messages} requests; 10,000 simulated s would take ${((10_000 * realS) / simS).toFixed(1)} s)`,
  );
}

/** A client that keeps 64 proposals in flight at the leader of a fault-free 3-node cluster. */
async function proposalThroughput(): Promise<void> {
  const c = new SimCluster({ nodes: 3, seed: 1, createRawNode: (cfg) => new RawNode(cfg) });
  c.start();
  await c.runUntil(() => c.leader() !== 0, 5000);
  const virtualMs = 60_000;
  const end = c.sched.now + virtualMs;
  const committedBefore = c.commits;
  let next = 0;
  const started = performance.now();
  while (c.sched.now < end) {
    const leader = c.leader();
    const inFlight = next - (c.commits - committedBefore);
    for (let i = inFlight; leader !== 0 && i < 64; i++)
      if (c.propose(leader, `p${next}`) !== null) next++;
    await c.runFor(1);
  }
  const realS = (performance.now() - started) / 1000;
  const done = c.commits - committedBefore;
  console.log(
    `3 nodes, no faults, 64 proposals in flight: ${done} commits in ${realS.toFixed(2)} s real = ` +
      `${(done / realS).toFixed(0)} commits/s real (${(done / (virtualMs / 1000)).toFixed(0)} per simulated s)`,
  );
  if (!c.ok) throw new Error(JSON.stringify(c.violations));
}

console.log(`node ${process.version}, ${perCase} simulated s per case over ${seeds} seeds`);
await speed(5, true); // the design's target
await speed(5, true, "random", false);
await speed(5, true, "default");
await speed(5, false);
await speed(3, true);
await speed(3, false);
await proposalThroughput();
