// runSimulation: one seeded run of a cluster under random faults (README,
// "Simulator"). Three actors share the virtual clock:
//   - clients that put and read (client.ts), their history checked for linearizability at the end;
//   - a nemesis that, until `timeMs`, partitions the network (groups, one-way cuts, bridges) and
//     heals it, crashes nodes (anywhere, or at a Ready boundary) and restarts them, pauses them,
//     skews their clocks, transfers leadership and raises false peer-lost alarms;
//   - the network's own faults (drop, delay, reorder, dup, corrupt), on for the whole run.
// At `timeMs` the nemesis stops, every partition heals, pauses and skew end and every crashed
// node restarts; then a new proposal must commit on every node within `livenessMs` (10 s), or
// the run reports a liveness violation. Safety invariants are checked throughout
// (invariants.ts); the first violation ends the run.
//
// Fault names (the contract's; `--faults` defaults to all of them):
//   drop delay reorder dup corrupt     network.ts, the whole run; `delay` also keeps copies for
//                                      a crashed node in their sender's queue until it is back
//   partition                          groups of any sizes, one-way cuts, bridge partitions
//   crash                              power loss anywhere, or at a Ready boundary (sim-node.ts);
//                                      it takes what the node sent in its last millisecond
//   pause skew transfer alarm          a stopped process, clock rates, leader transfers, false
//                                      peer-lost reports (the core's forgetLeader path)
//   disk                               on a node's simulated disk (FileStorage runs on it): the
//                                      next fsync fails with EIO (the node fail-stops and stays
//                                      down until the heal), fsyncs stall, the disk fills up

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
import { CRASH_POINTS, type SimNodeTiming } from "./sim-node.js";
import { Trace } from "./trace.js";

export const FAULTS = [
  "drop",
  "delay",
  "reorder",
  "dup",
  "partition",
  "crash",
  "pause",
  "skew",
  "transfer",
  "corrupt",
  "alarm",
  "disk",
] as const;
export type FaultName = (typeof FAULTS)[number];

/** Fault names the contract reserves for what the simulator cannot do yet, and why. */
export const PLANNED_FAULTS: Readonly<Record<string, string>> = {
  member: "membership changes do not exist in the simulator yet",
};

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
  /** Check the clients' history at the end (default true; the benchmark measures its cost). */
  linearizability?: boolean;
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
    corruptRate: on.has("corrupt") ? 0.01 : 0,
    // Half the copies that reach a crashed node wait in their sender's queue and arrive after
    // it is back (a redial after a backoff): old terms' replies reach a node elected again.
    holdRate: on.has("delay") ? 0.5 : 0,
    holdMaxMs: 1500,
    // A power loss takes half of what the node sent in its last millisecond (at a Ready
    // boundary: some followers got the batch, some did not).
    crashLossRate: on.has("crash") ? 0.5 : 0,
  };
}

/**
 * One seeded run. Asynchronous because the nodes run FileStorage (docs/architecture.md,
 * "Asynchronous production code under virtual time"); the same seed and options always give
 * the same result.
 */
export async function runSimulation(opts: SimOptions): Promise<SimResult> {
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
  // What a replay needs beyond the header and the config (src/sim/replay.ts).
  const mode = typeof opts.config === "object" ? "given" : (opts.config ?? "random");
  const faultList = opts.faults.length === 0 ? "none" : opts.faults.join(",");
  cluster.record({
    t: 0,
    ev: "phase",
    phase: "faults",
    faults: faultList,
    until: opts.timeMs,
    config: mode,
  });
  const faults = new Set(opts.faults);
  cluster.start();
  const clients = new SimClients(cluster, cluster.rng.fork("client"));
  clients.start();
  const nemesis = startNemesis(cluster, cluster.rng.fork("nemesis"), faults);

  if (await cluster.runFor(opts.timeMs)) {
    clients.stop();
    nemesis.stop();
    await checkLiveness(cluster, opts.livenessMs ?? DEFAULT_LIVENESS_MS);
  }
  if (cluster.ok && opts.linearizability !== false) {
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
 * One action drawn by weight among the enabled faults (or nothing), every 200–1500 ms, or every
 * 50–600 ms in a hectic seed (a third of them). Half the node faults aim at the leader: the
 * dangerous moments (a commit, an election) are around it.
 */
function startNemesis(cluster: SimCluster, rng: Rng, faults: ReadonlySet<FaultName>): Actor {
  let stopped = false;
  const ids = cluster.ids;
  const [minGap, maxGap] = rng.chance(1 / 3) ? [50, 600] : [200, 1500];
  // A leader-killer seed (half of them): crashes come four times as often, mostly at the
  // Ready boundaries of leaders (its batch reached some followers; a new leader's no-op reached
  // some): the chains of short-lived leaders with divergent uncommitted tails of Figure 8.
  const killer = rng.chance(0.5);
  const LEADER_POINTS = ["after-send", "elected-after-send", "commit-after-send"] as const;
  const up = () => ids.filter((id) => cluster.node(id).up);
  /** A live node, the leader half the time. */
  const target = (): NodeId | null => {
    const live = up();
    if (live.length === 0) return null;
    const leader = cluster.leader();
    return leader !== 0 && rng.chance(0.5) ? leader : rng.pick(live);
  };
  const restartLater = (id: NodeId, min: number, max: number) =>
    cluster.sched.after(rng.int(min, max), () => {
      if (!stopped) cluster.restart(id);
    });
  const actions: [number, () => void][] = [[1, () => {}]];
  // A single node has no links to cut and no one to hand leadership to.
  if (faults.has("partition") && ids.length > 1)
    actions.push([3, () => partitionRandomly(cluster, rng)], [2.5, () => cluster.heal()]);
  if (faults.has("crash"))
    actions.push([
      killer ? 10 : 2.5,
      () => {
        const victim = target();
        if (victim === null) return;
        if (rng.chance(killer ? 0.2 : 0.5)) {
          cluster.crash(victim);
          restartLater(victim, 100, 3000);
        } else {
          // At a Ready boundary. A voter is back within a network delay or two (a reboot in the
          // middle of the election, while other candidates' requests are still on their way).
          const point =
            killer && rng.chance(0.8) ? rng.pick(LEADER_POINTS) : rng.pick(CRASH_POINTS);
          const back = point.startsWith("vote-") ? 60 : 2000;
          // A node that will be elected next: any but the leader.
          const arm =
            point === "elected-after-send" && victim === cluster.leader()
              ? rng.pick(ids.filter((id) => id !== victim && cluster.node(id).up).concat(victim))
              : victim;
          cluster.armCrash(arm, point, () => restartLater(arm, 1, back));
        }
      },
    ]);
  if (faults.has("pause"))
    actions.push([
      1,
      () => {
        const victim = target();
        if (victim !== null) cluster.pause(victim, rng.int(50, 3000));
      },
    ]);
  if (faults.has("delay") && ids.length > 1)
    actions.push([
      1.5,
      () => {
        // A slow route for a while: everything on a few links arrives 0.2-3 s late.
        const ms = rng.int(200, 3000);
        const links: [NodeId, NodeId][] = [];
        for (let i = rng.int(1, ids.length); i > 0; i--) {
          const from = rng.pick(ids);
          links.push([from, rng.pick(ids.filter((x) => x !== from))]);
        }
        for (const [from, to] of links) cluster.net.slowLink(from, to, ms);
        cluster.sched.after(rng.int(500, 5000), () => {
          if (!stopped) for (const [from, to] of links) cluster.net.slowLink(from, to, 0);
        });
      },
    ]);
  if (faults.has("skew"))
    actions.push([1, () => cluster.skew(rng.pick(ids), rng.pick([0.5, 0.8, 1, 1.25, 2]))]);
  if (faults.has("transfer") && ids.length > 1)
    actions.push([
      1,
      () => {
        const leader = cluster.leader();
        if (leader !== 0) cluster.transfer(leader, rng.pick(ids.filter((id) => id !== leader)));
      },
    ]);
  if (faults.has("alarm") && ids.length > 1)
    actions.push([
      1,
      () => {
        const live = up();
        if (live.length === 0) return;
        const leader = cluster.leader();
        if (leader !== 0 && rng.chance(0.3)) {
          // A blip on the leader's links: every follower hears that it died, and they all
          // campaign at once (split votes, concurrent candidates of one term).
          for (const id of live) if (id !== leader) cluster.net.falseAlarm(id, leader);
          return;
        }
        const node = cluster.node(rng.pick(live));
        // Mostly about its leader: the report that makes the core forget it and campaign.
        const others = ids.filter((id) => id !== node.id);
        const peer =
          node.leader !== 0 && node.leader !== node.id && rng.chance(0.8)
            ? node.leader
            : rng.pick(others);
        cluster.net.falseAlarm(node.id, peer);
      },
    ]);
  if (faults.has("disk"))
    actions.push([
      1,
      () => {
        const victim = target();
        if (victim === null) return;
        const roll = rng.float();
        if (roll < 0.25) {
          // The node fail-stops at its next fsync and stays down until the heal (a failed disk
          // needs an operator): at most a minority at a time, or nothing would ever commit.
          const down = ids.filter((id) => !cluster.node(id).up || cluster.node(id).diskEioPending);
          if ((down.length + 1) * 2 < ids.length) cluster.diskFault(victim, "eio");
          return;
        }
        // A stall (fsyncs take up to several election timeouts longer) or a full disk, until
        // it ends by itself or at the heal.
        if (roll < 0.7) cluster.diskFault(victim, "stall", rng.int(20, 1000));
        else cluster.diskFault(victim, "full");
        cluster.sched.after(rng.int(300, 3000), () => {
          if (!stopped) cluster.diskHeal(victim);
        });
      },
    ]);
  const total = actions.reduce((sum, [w]) => sum + w, 0);
  const act = (): void => {
    if (stopped) return;
    let roll = rng.float() * total;
    for (const [w, run] of actions) {
      roll -= w;
      if (roll < 0) {
        run();
        break;
      }
    }
    cluster.sched.after(rng.int(minGap, maxGap), act);
  };
  cluster.sched.after(rng.int(minGap, maxGap), act);
  return { stop: () => (stopped = true) };
}

/** Two or three groups of any sizes (20%: a few one-way cuts; 15%: a bridge partition). */
function partitionRandomly(cluster: SimCluster, rng: Rng): void {
  const ids = rng.shuffle(cluster.ids);
  const roll = rng.float();
  if (roll < 0.2) {
    // Asymmetric: a few one-way links fail.
    for (let i = rng.int(1, ids.length); i > 0; i--) {
      const from = rng.pick(ids);
      const to = rng.pick(ids.filter((x) => x !== from));
      cluster.net.cutLink(from, to);
    }
    return;
  }
  const sorted = (g: NodeId[]) => g.sort((a, b) => a - b);
  if (roll < 0.35 && ids.length >= 3) {
    // A bridge: one node reaches both sides, which do not reach each other.
    const [bridge, ...rest] = ids as [NodeId, ...NodeId[]];
    const cut = rng.int(1, rest.length - 1);
    cluster.partition([
      sorted([bridge, ...rest.slice(0, cut)]),
      sorted([bridge, ...rest.slice(cut)]),
    ]);
    return;
  }
  const k = ids.length >= 3 && rng.chance(0.3) ? 3 : 2;
  const groups: NodeId[][] = Array.from({ length: k }, () => []);
  ids.forEach((id, i) => {
    // Each group gets at least one node, the rest land anywhere.
    (groups[i < k ? i : rng.int(0, k - 1)] as NodeId[]).push(id);
  });
  cluster.partition(groups.map(sorted));
}

/** Heal, restart, then require a new command to be applied on every node in time. */
async function checkLiveness(cluster: SimCluster, livenessMs: number): Promise<void> {
  const healedAt = cluster.sched.now;
  cluster.record({ t: healedAt, ev: "phase", phase: "liveness" });
  cluster.healAll();
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
  if ((await cluster.runUntil(done, livenessMs)) || !cluster.ok) return;
  const applied = cluster.ids.map((id) => `${id}:${cluster.node(id).sm.state.applied}`).join(" ");
  const leader = cluster.leader();
  cluster.fail(
    "liveness",
    `no new proposal committed on every node within ${livenessMs} ms after healing at ${healedAt} ms ` +
      `(leader ${leader === 0 ? "none" : leader}, applied ${applied})`,
  );
}
