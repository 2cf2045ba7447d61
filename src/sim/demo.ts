// `raftwork sim --demo` (and `npm start`): a short narrated run of a 3-node cluster on a
// slightly lossy network: an election, replication, a leader crash, a new election and the old
// leader's recovery, with virtual timestamps. It is a guided tour, not a test; the invariant
// checker still runs under it and the demo says so at the end.

import type { RaftConfig, RawNodeApi } from "../raft/api.js";
import { RawNode } from "../raft/raw-node.js";
import type { NodeId } from "../raft/types.js";
import { SimCluster } from "./cluster.js";
import type { Trace, TraceRecord } from "./trace.js";

export interface DemoOptions {
  seed?: number;
  write: (line: string) => void;
  createRawNode?: (config: RaftConfig) => RawNodeApi;
  /** Record the run here (`sim --demo --view` shows it in the viewer). */
  trace?: Trace;
}

/** Returns true if the cluster behaved (leader elected, writes committed, invariants held). */
export function runDemo(opts: DemoOptions): boolean {
  const nodes = 3;
  let cluster: SimCluster | null = null;
  const say = (text: string): void => {
    const t = ((cluster?.sched.now ?? 0) / 1000).toFixed(3).padStart(7);
    opts.write(`[${t}s] ${text}`);
  };
  const narrate = (rec: TraceRecord): void => {
    if (rec.ev === "role" && rec.role === "leader")
      say(`node ${rec.node} won the election: leader of term ${rec.term}`);
    else if (rec.ev === "role" && rec.role === "candidate")
      say(`node ${rec.node} timed out waiting for a leader and campaigns for term ${rec.term}`);
    else if (rec.ev === "crash") say(`node ${rec.node} crashed (its unsynced writes are gone)`);
    else if (rec.ev === "start" && (cluster?.sched.now ?? 0) > 0)
      say(`node ${rec.node} restarted from its disk (log up to index ${rec.last})`);
    else if (rec.ev === "restore" && (cluster?.sched.now ?? 0) > 0)
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

  say(`starting ${nodes} nodes; heartbeats every 100 ms, election timeouts 300-600 ms`);
  c.start();
  if (!c.runUntil(() => c.leader() !== 0, 5_000)) return fail(say, "no leader within 5 s");

  const write = (command: string, on: NodeId[]): boolean => {
    const leader = c.leader();
    const index = c.propose(leader, command);
    if (index === null) return false;
    say(`client: "${command}" proposed to leader ${leader}, log index ${index}`);
    const ok = c.runUntil(() => on.every((id) => c.node(id).sm.state.applied >= index), 5_000);
    if (ok) say(`"${command}" is committed and applied on nodes ${on.join(", ")}`);
    return ok;
  };
  for (const cmd of ["set x=1", "set y=2", "append x+=3"])
    if (!write(cmd, c.ids)) return fail(say, `"${cmd}" was not replicated`);

  const old = c.leader();
  say(`crashing the leader, node ${old}`);
  c.crash(old);
  const rest = c.ids.filter((id) => id !== old);
  if (!c.runUntil(() => c.leader() !== 0, 5_000))
    return fail(say, "the survivors elected no leader within 5 s");
  if (!write("set z=4", rest)) return fail(say, "the new leader could not commit");

  say(`restarting node ${old}`);
  c.restart(old);
  const target = c.committed.length - 1;
  if (!c.runUntil(() => c.node(old).sm.state.applied >= target, 5_000))
    return fail(say, `node ${old} did not catch up`);
  say(`node ${old} caught up: it applied every entry up to index ${target}, as a follower`);
  if (!c.ok) return fail(say, `invariant violated: ${c.violations[0]?.message}`);
  say(
    `done: ${c.commits} commands committed, ${c.checker.leaderChanges} leaders elected, ` +
      `${c.net.stats.requests} requests sent; every safety invariant held`,
  );
  return true;
}

function fail(say: (text: string) => void, why: string): false {
  say(`demo failed: ${why}`);
  return false;
}
