// `raftwork sim --demo` (and `npm start`'s tour): a short narrated run of a cluster on a
// slightly lossy network: an election, replication, a leader crash, a new election and the old
// leader's recovery, with virtual timestamps. Any seed and cluster size give a narrated run (a
// cluster of one or two has no majority without its leader, and says so). It is a guided tour,
// not a test; the invariant checker still runs under it and the demo says so at the end.

import type { RaftConfig, RawNodeApi } from "../raft/api.js";
import { RawNode } from "../raft/raw-node.js";
import type { NodeId } from "../raft/types.js";
import { SimCluster } from "./cluster.js";
import type { Trace, TraceRecord } from "./trace.js";

export interface DemoOptions {
  seed?: number;
  /** Cluster size; default 3. */
  nodes?: number;
  /** One narration line: the simulated time it happened at (ms) and what happened. */
  write: (atMs: number, text: string) => void;
  /** Records the run's trace (the same JSONL a `raftwork sim --trace` run writes; `sim --demo --view` shows it). */
  trace?: Trace;
  createRawNode?: (config: RaftConfig) => RawNodeApi;
}

export interface DemoResult {
  ok: boolean;
  commits: number;
  leaderChanges: number;
  /** Requests sent (the 6.5840 lab's RPC count). */
  messages: number;
}

/** Runs the tour; ok is true if the cluster behaved (leaders elected, writes committed). */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const nodes = opts.nodes ?? 3;
  let cluster: SimCluster | null = null;
  const say = (text: string): void => opts.write(cluster?.sched.now ?? 0, text);
  const narrate = (rec: TraceRecord): void => {
    const now = cluster?.sched.now ?? 0;
    if (rec.ev === "role" && rec.role === "leader")
      say(`node ${rec.node} won the election: leader of term ${rec.term}`);
    else if (rec.ev === "role" && rec.role === "candidate")
      say(`node ${rec.node} timed out waiting for a leader and campaigns for term ${rec.term}`);
    else if (rec.ev === "crash") say(`node ${rec.node} crashed (its unsynced writes are gone)`);
    else if (rec.ev === "start" && now > 0)
      say(`node ${rec.node} restarted from its disk (log up to index ${rec.last})`);
    else if (rec.ev === "restore" && now > 0)
      say(`node ${rec.node} installed a snapshot up to index ${rec.index}`);
  };
  const c = new SimCluster({
    nodes,
    seed: opts.seed ?? 1,
    createRawNode: opts.createRawNode ?? ((cfg) => new RawNode(cfg)),
    faults: {
      dropRate: 0.02,
      dupRate: 0,
      minDelayMs: 2,
      maxDelayMs: 12,
      longDelayRate: 0,
      longDelayMaxMs: 0,
      reorder: false,
    },
    listener: narrate,
    ...(opts.trace ? { trace: opts.trace } : {}),
  });
  cluster = c;
  const result = (ok: boolean): DemoResult => ({
    ok,
    commits: c.commits,
    leaderChanges: c.checker.leaderChanges,
    messages: c.net.stats.requests,
  });
  const failed = (why: string): DemoResult => {
    say(`demo failed: ${why}`);
    return result(false);
  };
  const electLeader = (): Promise<boolean> => c.runUntil(() => c.leader() !== 0, 5_000);
  const write = async (command: string, on: NodeId[]): Promise<boolean> => {
    const leader = c.leader();
    const index = c.propose(leader, command);
    if (index === null) return false;
    say(`client: "${command}" proposed to leader ${leader}, log index ${index}`);
    const ok = await c.runUntil(
      () => on.every((id) => c.node(id).sm.state.applied >= index),
      5_000,
    );
    if (ok) say(`"${command}" is committed and applied on ${list(on)}`);
    return ok;
  };

  say(
    `starting ${nodes === 1 ? "1 node" : `${nodes} nodes`}; heartbeats every 100 ms, election timeouts 300-600 ms`,
  );
  c.start();
  if (!(await electLeader())) return failed("no leader within 5 s");
  for (const cmd of ["set x=1", "set y=2", "append x+=3"])
    if (!(await write(cmd, c.ids))) return failed(`"${cmd}" was not replicated`);

  const old = c.leader();
  say(`crashing the leader, node ${old}`);
  c.crash(old);
  const rest = c.ids.filter((id) => id !== old);
  // Raft needs a majority of the cluster to elect and to commit (§5.2, §5.3).
  const majority = rest.length * 2 > nodes;
  if (majority) {
    if (!(await electLeader())) return failed("the survivors elected no leader within 5 s");
    if (!(await write("set z=4", rest))) return failed("the new leader could not commit");
  } else {
    say(
      `${rest.length === 0 ? "no node is left" : `${list(rest)} ${rest.length === 1 ? "is" : "are"} not a majority of ${nodes}`}: no leader until node ${old} returns`,
    );
    await c.runFor(1_000);
  }

  say(`restarting node ${old}`);
  c.restart(old);
  if (!majority) {
    if (!(await electLeader())) return failed("no leader within 5 s of the restart");
    if (!(await write("set z=4", c.ids)))
      return failed("the cluster could not commit after the restart");
  }
  const target = c.committed.length - 1;
  if (!(await c.runUntil(() => c.node(old).sm.state.applied >= target, 5_000)))
    return failed(`node ${old} did not catch up`);
  say(`node ${old} caught up: it applied every entry up to index ${target}`);
  if (!c.ok) return failed(`invariant violated: ${c.violations[0]?.message}`);
  say(
    `done: ${c.commits} commands committed, ${c.checker.leaderChanges} leaders elected, ` +
      `${c.net.stats.requests} requests sent; every safety invariant held`,
  );
  return result(true);
}

function list(ids: readonly NodeId[]): string {
  return ids.length === 1 ? `node ${ids[0]}` : `nodes ${ids.join(", ")}`;
}
