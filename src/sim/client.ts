// The simulated clients (README, "Simulator": `reads`, invariant
// `linearizability`). Each client issues one operation at a time, as KvClient does: a put of a
// fresh value (a proposal, answered when the node it went to applies the entry it got) or a
// linearizable get (ReadIndex through the core, served once the node has applied up to the
// confirmed read index: docs/architecture.md, "The path of a linearizable read"). A client
// follows the leader hint a refusal carries, and gives up on an operation after a timeout; then
// its outcome is unknown and it tries another node.
//
// Every operation's call and return (or timeout) is in the trace and in the history that
// linearizability.ts checks at the end of the run. What the history says:
//   put answered      [call, answer]
//   put timed out     took effect at its commit if some node ever applied it: [call, first
//                     apply] (the commit happened before any node applied it, so this only
//                     narrows the interval soundly); never applied in the run: it affected no
//                     read, left out
//   put refused       not proposed (not the leader, down): no effect, left out; proposed, but
//                     another entry took its index: as a timed-out put
//   get answered      [call, answer] with the value read
//   get refused or timed out: constrains nothing, left out
// Values are unique per operation, so a read names the one put it saw.

import type { Entry, NodeId } from "../raft/types.js";
import type { ClusterClients, SimCluster } from "./cluster.js";
import {
  type CheckResult,
  checkHistory,
  describeOperation,
  type KvOperation,
} from "./linearizability.js";
import type { Rng } from "./rng.js";
import type { ScheduledEvent } from "./scheduler.js";
import type { SimNode } from "./sim-node.js";
import { encodeCommand, putCommand } from "./state-machine.js";

export interface ClientOptions {
  clients: number;
  keys: readonly string[];
  /** An operation not answered within this many ms (drawn per operation) times out. */
  timeoutMinMs: number;
  timeoutMaxMs: number;
  /** Search steps the checker may spend per key (design: bounded per seed). */
  maxCheckSteps: number;
}

export const DEFAULT_CLIENTS: ClientOptions = {
  clients: 3,
  keys: ["a", "b", "c"],
  timeoutMinMs: 500,
  timeoutMaxMs: 2000,
  maxCheckSteps: 200_000,
};

type Outcome = "ok" | "fail" | "timeout";

interface Op {
  id: number;
  client: number;
  node: NodeId;
  kind: "get" | "put";
  key: string;
  /** put: the value written. */
  value: string;
  call: number;
  /** put: where the proposal landed. */
  index: number;
  term: number;
  timer: ScheduledEvent | null;
  outcome: Outcome | null;
  /** get: the value read. */
  read: string | null;
  returned: number;
}

export class SimClients implements ClusterClients {
  /** Linearizable reads answered. */
  reads = 0;
  private readonly opts: ClientOptions;
  private stopped = false;
  private nextOp = 1;
  /** Per client, the node it believes leads (0: unknown, pick one at random). */
  private readonly hint: NodeId[];
  /** Puts waiting for their entry to be applied, per node, by log index. */
  private readonly writes = new Map<NodeId, Map<number, Op>>();
  /** Gets waiting for their read state, by op id (the read's ctx). */
  private readonly gets = new Map<number, Op>();
  /** Every operation that entered the history (answered or timed out), in call order. */
  private readonly history: Op[] = [];
  /** Command text -> when some node first applied it. */
  private readonly firstApplied = new Map<string, number>();

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: Rng,
    opts: Partial<ClientOptions> = {},
  ) {
    this.opts = { ...DEFAULT_CLIENTS, ...opts };
    this.hint = new Array<NodeId>(this.opts.clients + 1).fill(0);
    cluster.clients = this;
  }

  start(): void {
    for (let c = 1; c <= this.opts.clients; c++) this.later(c, this.rng.int(10, 60));
  }

  /** No new operations; those in flight still finish or time out. */
  stop(): void {
    this.stopped = true;
  }

  /** Check the history so far (operations still in flight count as timed out). */
  check(): CheckResult {
    const ops: KvOperation[] = [];
    for (const op of this.history) {
      const h = this.toHistory(op);
      if (h) ops.push(h);
    }
    for (const m of this.writes.values())
      for (const op of m.values()) {
        const h = this.toHistory({ ...op, outcome: "timeout" });
        if (h) ops.push(h);
      }
    return checkHistory(ops, { maxSteps: this.opts.maxCheckSteps });
  }

  // ClusterClients ------------------------------------------------------------------------------

  onApply(node: SimNode, entry: Entry, command: string | null, first: boolean): void {
    if (first && command !== null) this.firstApplied.set(command, this.cluster.sched.now);
    const waiting = this.writes.get(node.id);
    const op = waiting?.get(entry.index);
    if (!op || !waiting) return;
    waiting.delete(entry.index);
    // Another leader's entry took the index: this proposal can never commit (its entry is gone
    // from this log, and an entry has one index).
    this.finish(op, entry.term === op.term ? "ok" : "fail", entry.index);
  }

  onRead(node: SimNode, ctx: number, index: number): void {
    const op = this.gets.get(ctx);
    if (!op || op.node !== node.id) return;
    this.gets.delete(ctx);
    op.read = node.sm.get(op.key);
    this.cluster.record({
      t: this.cluster.sched.now,
      ev: "read-index",
      node: node.id,
      op: op.id,
      index,
    });
    this.reads++;
    this.finish(op, "ok", index);
  }

  // ----------------------------------------------------------------------------------------------

  private later(client: number, ms: number): void {
    this.cluster.sched.after(ms, () => this.issue(client));
  }

  private issue(client: number): void {
    if (this.stopped) return;
    const c = this.cluster;
    const rng = this.rng;
    const target = this.hint[client] || rng.pick(c.ids);
    const kind = rng.chance(0.5) ? "get" : "put";
    const op: Op = {
      id: this.nextOp++,
      client,
      node: target,
      kind,
      key: rng.pick(this.opts.keys),
      value: "",
      call: c.sched.now,
      index: 0,
      term: 0,
      timer: null,
      outcome: null,
      read: null,
      returned: 0,
    };
    if (kind === "put") op.value = String(op.id);
    c.record({
      t: op.call,
      ev: "call",
      op: op.id,
      client,
      node: target,
      kind,
      key: op.key,
      ...(kind === "put" ? { value: op.value } : {}),
    });
    const node = c.node(target);
    op.timer = c.sched.after(rng.int(this.opts.timeoutMinMs, this.opts.timeoutMaxMs), () =>
      this.timeout(op),
    );
    if (kind === "put") {
      const r = node.propose(encodeCommand(putCommand(op.key, op.value)));
      if (r === null || !r.ok) {
        this.hint[client] = r ? r.leader : 0;
        this.finish(op, "fail");
        return;
      }
      op.index = r.index;
      op.term = r.term;
      c.record({
        t: c.sched.now,
        ev: "propose",
        node: target,
        op: op.id,
        index: r.index,
        term: r.term,
      });
      let waiting = this.writes.get(target);
      if (!waiting) {
        waiting = new Map();
        this.writes.set(target, waiting);
      }
      // A proposal this node made earlier at the same index was replaced in its log.
      const replaced = waiting.get(r.index);
      waiting.set(r.index, op);
      if (replaced) this.finish(replaced, "fail");
    } else {
      this.gets.set(op.id, op);
      const r = node.read(op.id);
      if (r !== true) {
        this.gets.delete(op.id);
        this.hint[client] = r === false ? node.leader : 0;
        this.finish(op, "fail");
      }
    }
  }

  private timeout(op: Op): void {
    if (op.outcome !== null) return;
    if (op.kind === "put") this.writes.get(op.node)?.delete(op.index);
    else this.gets.delete(op.id);
    this.hint[op.client] = 0;
    this.finish(op, "timeout");
  }

  private finish(op: Op, outcome: Outcome, index?: number): void {
    if (op.outcome !== null) return;
    const c = this.cluster;
    op.outcome = outcome;
    op.returned = c.sched.now;
    c.sched.cancel(op.timer);
    op.timer = null;
    c.record({
      t: op.returned,
      ev: "return",
      op: op.id,
      outcome,
      ...(outcome === "ok" && op.kind === "get" ? { value: op.read } : {}),
      ...(outcome === "ok" && index !== undefined ? { index } : {}),
    });
    // A refused put that was proposed stays: whether it took effect is decided by the commit
    // record (toHistory), never by what the client was told.
    if (outcome !== "fail" || op.index > 0) this.history.push(op);
    if (outcome === "ok") this.hint[op.client] = op.node;
    // A refusal with a leader hint is retried at once; anything else after a pause.
    const pause =
      outcome === "fail" && this.hint[op.client] ? this.rng.int(1, 5) : this.rng.int(5, 40);
    this.later(op.client, pause);
  }

  private toHistory(op: Op): KvOperation | null {
    if (op.kind === "get") {
      if (op.outcome !== "ok") return null;
      return {
        key: op.key,
        client: op.client,
        input: { op: "get" },
        output: { value: op.read },
        call: op.call,
        return: op.returned,
      };
    }
    let returned = op.returned;
    if (op.outcome !== "ok") {
      const applied = this.firstApplied.get(putCommand(op.key, op.value));
      if (applied === undefined) return null;
      returned = applied;
    }
    return {
      key: op.key,
      client: op.client,
      input: { op: "put", value: op.value },
      output: {},
      call: op.call,
      return: returned,
    };
  }
}

/** A violation message for an illegal history: the smallest failing sub-history, bounded. */
export function describeIllegal(r: CheckResult & { result: "illegal" }): string {
  // The shrunk history ends where it became illegal: its last operations say why.
  const shown = r.counterexample.slice(-12).map(describeOperation);
  const more =
    r.counterexample.length > shown.length ? `(${r.counterexample.length} ops) ...; ` : "";
  return `history of key ${JSON.stringify(r.key)} is not linearizable: ${more}${shown.join("; ")}`;
}
