// runSimulation: one seeded run of a cluster under random faults (design.md, "The simulator
// contract"). Three actors share the virtual clock:
//   - clients that put and read (client.ts), their history checked for linearizability at the end;
//   - a nemesis that partitions, heals, crashes and restarts nodes until `timeMs`;
//   - the network's own faults (drop, delay, reorder, dup), on for the whole run.
// At `timeMs` the nemesis stops, every partition heals and every crashed node restarts; then a
// new proposal must commit on every node within `livenessMs` (10 s), or the run reports a
// liveness violation. Safety invariants are checked throughout (invariants.ts); the first
// violation ends the run.

import type { RaftConfig, RawNodeApi } from "../raft/api.js";
import { RawNode } from "../raft/raw-node.js";
import type { NodeId } from "../raft/types.js";
import { describeIllegal, SimClients } from "./client.js";
import { SimCluster } from "./cluster.js";
import {
  type ConfigMode,
  raftOptionsOf,
  resolveConfig,
  type SimConfig,
  timingOf,
} from "./config.js";
import type { Violation } from "./invariants.js";
import type { NetworkFaults } from "./network.js";
import type { Rng } from "./rng.js";
import type { SimNodeTiming } from "./sim-node.js";
import { Trace } from "./trace.js";

export const FAULTS = ["drop", "delay", "reorder", "dup", "partition", "crash"] as const;
export type FaultName = (typeof FAULTS)[number];

export interface SimOptions {
  nodes: number;
  seed: number;
  /** Virtual milliseconds of faults before the liveness check. */
  timeMs: number;
  faults: readonly FaultName[];
  /** Write the JSONL trace here. */
  traceFile?: string;
  /** Time the healed cluster gets to commit a new proposal on every node. Default 10 s. */
  livenessMs?: number;
  /** The core and timing configuration: drawn from the seed (default), today's, or given. */
  config?: ConfigMode | SimConfig;
  /** Overrides of the configuration's node timing. */
  timing?: Partial<SimNodeTiming>;
  createRawNode?: (config: RaftConfig) => RawNodeApi;
}

export interface SimResult {
  seed: number;
  nodes: number;
  /** The configuration the run used. */
  config: SimConfig;
  simulatedMs: number;
  /** Client commands committed. */
  commits: number;
  /** Linearizable reads the clients completed. */
  reads: number;
  leaderChanges: number;
  /** Requests sent (pre-vote, vote, append, heartbeat, snapshot, timeout-now). */
  messages: number;
  violations: Violation[];
  traceHash: string;
  /** The trace's last lines (for violation reports). */
  traceTail: string[];
}

const DEFAULT_LIVENESS_MS = 10_000;

/** The network faults that the enabled fault names switch on. */
export function networkFaults(faults: readonly FaultName[]): NetworkFaults {
  const on = new Set(faults);
  return {
    dropRate: on.has("drop") ? 0.1 : 0,
    dupRate: on.has("dup") ? 0.02 : 0,
    minDelayMs: on.has("delay") ? 0 : 1,
    maxDelayMs: on.has("delay") ? 27 : 1,
    // Now and then a message is stuck for up to seconds (a stalled route, a GC pause).
    longDelayRate: on.has("delay") ? 0.005 : on.has("reorder") ? 0.02 : 0,
    longDelayMaxMs: on.has("delay") ? 3000 : 200,
    reorder: on.has("reorder"),
  };
}

export function runSimulation(opts: SimOptions): SimResult {
  const trace = new Trace(opts.traceFile ? { file: opts.traceFile } : {});
  const config = resolveConfig(opts.config ?? "random", opts.seed);
  const cluster = new SimCluster({
    nodes: opts.nodes,
    seed: opts.seed,
    createRawNode: opts.createRawNode ?? ((c) => new RawNode(c)),
    faults: networkFaults(opts.faults),
    timing: { ...timingOf(config), ...opts.timing },
    raftOptions: raftOptionsOf(config),
    trace,
  });
  cluster.record({ t: 0, ev: "config", ...config });
  const faults = new Set(opts.faults);
  cluster.start();
  const clients = new SimClients(cluster, cluster.rng.fork("client"));
  clients.start();
  const nemesis = startNemesis(cluster, cluster.rng.fork("nemesis"), faults);

  if (cluster.runFor(opts.timeMs)) {
    clients.stop();
    nemesis.stop();
    checkLiveness(cluster, opts.livenessMs ?? DEFAULT_LIVENESS_MS);
  }
  if (cluster.ok) {
    const r = clients.check();
    if (r.result === "illegal") cluster.fail("linearizability", describeIllegal(r));
  }
  const violations = cluster.violations.slice(0, 1);
  return {
    seed: opts.seed,
    nodes: opts.nodes,
    config,
    simulatedMs: cluster.sched.now,
    commits: cluster.commits,
    reads: clients.reads,
    leaderChanges: cluster.checker.leaderChanges,
    messages: cluster.net.stats.requests,
    violations,
    traceHash: trace.finish(),
    traceTail: violations.length > 0 ? trace.tail() : [],
  };
}

interface Actor {
  stop(): void;
}

/**
 * Every 200–1500 ms: partition the cluster (into 2 or 3 groups of any sizes, or cut a few
 * one-way links), heal it, crash a node (restarted 0.1–3 s later) or do nothing.
 */
function startNemesis(cluster: SimCluster, rng: Rng, faults: ReadonlySet<FaultName>): Actor {
  let stopped = false;
  const ids = cluster.ids;
  const act = (): void => {
    if (stopped) return;
    const roll = rng.float();
    // A single node has no links to cut.
    const partitions = faults.has("partition") && ids.length > 1;
    if (partitions && roll < 0.3) partitionRandomly(cluster, rng);
    else if (partitions && roll < 0.55) cluster.heal();
    else if (faults.has("crash") && roll < 0.8) {
      const up = ids.filter((id) => cluster.node(id).up);
      if (up.length > 0) {
        const victim = rng.pick(up);
        cluster.crash(victim);
        cluster.sched.after(rng.int(100, 3000), () => {
          if (!stopped) cluster.restart(victim);
        });
      }
    }
    cluster.sched.after(rng.int(200, 1500), act);
  };
  cluster.sched.after(rng.int(200, 1500), act);
  return { stop: () => (stopped = true) };
}

function partitionRandomly(cluster: SimCluster, rng: Rng): void {
  const ids = rng.shuffle(cluster.ids);
  if (rng.chance(0.2)) {
    // Asymmetric: a few one-way links fail.
    for (let i = rng.int(1, ids.length); i > 0; i--) {
      const from = rng.pick(ids);
      const to = rng.pick(ids.filter((x) => x !== from));
      cluster.net.cutLink(from, to);
    }
    return;
  }
  const k = ids.length >= 3 && rng.chance(0.3) ? 3 : 2;
  const groups: NodeId[][] = Array.from({ length: k }, () => []);
  ids.forEach((id, i) => {
    // Each group gets at least one node, the rest land anywhere.
    (groups[i < k ? i : rng.int(0, k - 1)] as NodeId[]).push(id);
  });
  cluster.partition(groups.map((g) => g.sort((a, b) => a - b)));
}

/** Heal, restart, then require a new command to be applied on every node in time. */
function checkLiveness(cluster: SimCluster, livenessMs: number): void {
  const healedAt = cluster.sched.now;
  cluster.heal();
  for (const id of cluster.ids) cluster.restart(id);
  const command = `final@${healedAt}`;
  let lastTry = Number.NEGATIVE_INFINITY;
  const done = (): boolean => {
    const index = cluster.committed.indexOf(command);
    if (index < 0) {
      // Retry every 500 ms: an earlier attempt may have died with its leader.
      if (cluster.sched.now - lastTry >= 500) {
        const leader = cluster.leader();
        if (leader !== 0 && cluster.propose(leader, command) !== null) lastTry = cluster.sched.now;
      }
      return false;
    }
    return cluster.ids.every((id) => cluster.node(id).sm.state.applied >= index);
  };
  if (cluster.runUntil(done, livenessMs) || !cluster.ok) return;
  const applied = cluster.ids.map((id) => `${id}:${cluster.node(id).sm.state.applied}`).join(" ");
  const leader = cluster.leader();
  cluster.fail(
    "liveness",
    `no new proposal committed on every node within ${livenessMs} ms after healing at ${healedAt} ms ` +
      `(leader ${leader === 0 ? "none" : leader}, applied ${applied})`,
  );
}
