// A small hand-made trace whose every number is known: 3 nodes, an election, replication,
// message fates of every kind, a partition, a one-way cut, a crash and restart, client
// operations, a record kind from the future, and a violation at the end. The model, summary
// and viewer tests check against it. Key order follows src/sim/trace-schema.ts.

import type { RaftConfig, RawNodeApi } from "../../src/raft/api.js";
import { RawNode } from "../../src/raft/raw-node.js";
import { FAULTS, runSimulation, type SimResult } from "../../src/sim/runner.js";

type Rec = Record<string, unknown>;

const msg = (
  ev: "deliver" | "drop" | "dup",
  t: number,
  id: number,
  sent: number,
  type: string,
  from: number,
  to: number,
  term: number,
  extra: Rec = {},
): Rec => ({ t, ev, id, sent, type, from, to, term, ...extra });

export const KNOWN_RECORDS: Rec[] = [
  { t: 0, ev: "trace", v: 1, nodes: [1, 2, 3], seed: 7 },
  { t: 0, ev: "start", node: 1, last: 0, term: 0, commit: 0 },
  { t: 0, ev: "start", node: 2, last: 0, term: 0, commit: 0 },
  { t: 0, ev: "start", node: 3, last: 0, term: 0, commit: 0 },
  // Node 1 times out and campaigns (pre-vote skipped for brevity).
  { t: 300, ev: "timer", node: 1 },
  { t: 300, ev: "role", node: 1, role: "candidate", term: 1, leader: 0 },
  { t: 302, ev: "sync", node: 1, last: 0, commit: 0 },
  msg("drop", 302, 1, 302, "vote", 1, 3, 1, { lastIndex: 0, lastTerm: 0, reason: "loss" }),
  msg("deliver", 310, 2, 302, "vote", 1, 2, 1, { lastIndex: 0, lastTerm: 0 }),
  { t: 310, ev: "role", node: 2, role: "follower", term: 1, leader: 0 },
  { t: 312, ev: "sync", node: 2, last: 0, commit: 0 },
  msg("deliver", 320, 3, 312, "vote-resp", 2, 1, 1, { granted: true }),
  { t: 320, ev: "role", node: 1, role: "leader", term: 1, leader: 1 },
  // The leader's no-op, replicated; one append is duplicated, one copy held back.
  msg("dup", 321, 4, 321, "app", 1, 2, 1, { prev: 0, prevTerm: 0, n: 1, commit: 0 }),
  { t: 323, ev: "sync", node: 1, last: 1, commit: 0 },
  msg("deliver", 330, 4, 321, "app", 1, 2, 1, { prev: 0, prevTerm: 0, n: 1, commit: 0 }),
  msg("deliver", 330, 5, 321, "app", 1, 3, 1, { prev: 0, prevTerm: 0, n: 1, commit: 0 }),
  { t: 330, ev: "role", node: 3, role: "follower", term: 1, leader: 1 },
  { t: 330, ev: "role", node: 2, role: "follower", term: 1, leader: 1 },
  { t: 333, ev: "sync", node: 2, last: 1, commit: 0 },
  msg("deliver", 340, 6, 333, "app-resp", 2, 1, 1, { ok: true, match: 1 }),
  { t: 340, ev: "commit", index: 1, term: 1, cmd: null },
  { t: 340, ev: "apply", node: 1, index: 1 },
  // A client write and a read.
  { t: 400, ev: "call", op: 1, client: 1, node: 1, kind: "put", key: "x", value: "1" },
  { t: 401, ev: "propose", node: 1, op: 1, index: 2, term: 1 },
  { t: 450, ev: "commit", index: 2, term: 1, cmd: "x=1" },
  { t: 450, ev: "apply", node: 1, index: 2 },
  { t: 451, ev: "return", op: 1, outcome: "ok", index: 2 },
  { t: 460, ev: "call", op: 2, client: 2, node: 2, kind: "get", key: "x" },
  { t: 470, ev: "return", op: 2, outcome: "fail" },
  // The duplicate copy of message 4 arrives very late.
  msg("deliver", 900, 4, 321, "app", 1, 2, 1, {
    prev: 0,
    prevTerm: 0,
    n: 1,
    commit: 0,
    late: true,
    dup: true,
  }),
  // A partition isolates node 3, then a one-way cut from 1 to 2; a heal ends both.
  { t: 1000, ev: "partition", groups: "1,2|3" },
  msg("drop", 1001, 7, 1001, "heartbeat", 1, 3, 1, { commit: 2, reason: "cut" }),
  { t: 1100, ev: "cut", from: 1, to: 2 },
  msg("drop", 1150, 8, 1140, "heartbeat", 1, 2, 1, { commit: 2, reason: "cut" }),
  { t: 1200, ev: "heal" },
  { t: 1250, ev: "future-thing", node: 2, color: "octarine" },
  // Node 2 crashes; a message to it is dropped on arrival; it restarts.
  { t: 1300, ev: "crash", node: 2, durableLast: 1, term: 1 },
  msg("drop", 1310, 9, 1305, "heartbeat", 1, 2, 1, { commit: 2, reason: "down" }),
  { t: 1500, ev: "start", node: 2, last: 1, term: 1, commit: 0 },
  {
    t: 1600,
    ev: "violation",
    invariant: "election-safety",
    event: 321,
    message: "two leaders in term 1",
  },
];

/** The fixture as the simulator would write it: JSON Lines, newline-terminated. */
export function knownTraceText(): string {
  return KNOWN_RECORDS.map((r) => `${JSON.stringify(r)}\n`).join("");
}

/**
 * A Raft core with a planted bug for node 1: it applies different bytes than it committed. The
 * simulator reports state-machine-safety within the first few commands (a trace with a
 * violation, from the real simulator).
 */
export function corruptingApplyNode(config: RaftConfig): RawNodeApi {
  const inner = new RawNode(config);
  if (config.id !== 1) return inner;
  const bogus = new TextEncoder().encode("bogus");
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "ready")
        return () => {
          const rd = target.ready();
          return {
            ...rd,
            committed: rd.committed.map((e) => (e.data.length > 0 ? { ...e, data: bogus } : e)),
          };
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/**
 * The design's reference trace, written to `file`: 60 s, 5 nodes, every fault, seed 1 (about
 * 42,000 records; "opens in under 2 s", bench/viewer-load.ts).
 */
export async function writeReferenceTrace(file: string): Promise<SimResult> {
  return await runSimulation({
    nodes: 5,
    seed: 1,
    timeMs: 60_000,
    faults: FAULTS,
    traceFile: file,
  });
}

/** A 3-node run of corruptingApplyNode, written to `file`: it ends in a violation. */
export async function writePlantedBugTrace(file: string): Promise<SimResult> {
  return await runSimulation({
    nodes: 3,
    seed: 1,
    timeMs: 10_000,
    faults: FAULTS,
    traceFile: file,
    createRawNode: corruptingApplyNode,
  });
}
