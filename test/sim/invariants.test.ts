// The invariant checker must catch broken nodes: each test breaks one node on purpose (a core
// that lies about leadership, applies other data than it logged, writes a divergent log, or
// never makes progress) and expects the matching violation.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RaftConfig, RawNodeApi, Ready } from "../../src/raft/api.js";
import { RawNode } from "../../src/raft/raw-node.js";
import type { ConfChange, Entry, Message } from "../../src/raft/types.js";
import { SimCluster } from "../../src/sim/cluster.js";
import { InvariantChecker } from "../../src/sim/invariants.js";
import { FAULTS, runSimulation } from "../../src/sim/runner.js";

const enc = new TextEncoder();

/** A RawNode whose Ready batches pass through `tamper` (and whose steps through `filter`). */
class TamperedNode implements RawNodeApi {
  private readonly inner: RawNode;
  constructor(
    config: RaftConfig,
    private readonly tamper: (rd: Ready, node: TamperedNode) => Ready,
    private readonly filter: (m: Message) => boolean = () => true,
  ) {
    this.inner = new RawNode(config);
  }
  forceReady = false;
  tick() {
    return this.inner.tick();
  }
  step(m: Message): void {
    if (this.filter(m)) this.inner.step(m);
  }
  propose(data: Uint8Array) {
    return this.inner.propose(data);
  }
  readIndex(ctx: number): boolean {
    return this.inner.readIndex(ctx);
  }
  proposeConfChange(cc: ConfChange) {
    return this.inner.proposeConfChange(cc);
  }
  transferLeader(to: number): boolean {
    return this.inner.transferLeader(to);
  }
  campaign(): void {
    this.inner.campaign();
  }
  forgetLeader(id: number): void {
    this.inner.forgetLeader(id);
  }
  compact(index: number, data: Uint8Array) {
    return this.inner.compact(index, data);
  }
  hasReady(): boolean {
    return this.forceReady || this.inner.hasReady();
  }
  ready(): Ready {
    const rd = this.inner.hasReady()
      ? this.inner.ready()
      : { entries: [], committed: [], messages: [], readStates: [], mustSync: false };
    this.forceReady = false;
    return this.tamper(rd, this);
  }
  advance(rd: Ready): void {
    this.inner.advance(rd);
  }
  status() {
    return this.inner.status();
  }
}

function clusterWith(
  seed: number,
  wrap: (config: RaftConfig) => RawNodeApi,
  nodes = 3,
): SimCluster {
  const c = new SimCluster({ nodes, seed, createRawNode: wrap });
  c.start();
  return c;
}

async function writeSome(c: SimCluster, n: number): Promise<void> {
  for (let i = 0; i < n && c.ok; i++) {
    assert.ok((await c.runUntil(() => c.leader() !== 0, 5000)) || !c.ok, "no leader");
    if (!c.ok) return;
    c.propose(c.leader(), `cmd${i}`);
    await c.runFor(100);
  }
}

describe("invariant checker", () => {
  it("catches a second leader in one term (election safety)", async () => {
    const liars = new Map<number, TamperedNode>();
    const c = clusterWith(11, (config) => {
      const node = new TamperedNode(config, (rd) =>
        lie.on && config.id === lie.id
          ? { ...rd, softState: { role: "leader", leader: config.id } }
          : rd,
      );
      liars.set(config.id, node);
      return node;
    });
    const lie = { on: false, id: 0 };
    assert.ok(await c.runUntil(() => c.leader() !== 0, 5000));
    await c.runFor(500);
    const follower = c.ids.find((id) => id !== c.leader()) as number;
    lie.on = true;
    lie.id = follower;
    (liars.get(follower) as TamperedNode).forceReady = true;
    await c.runFor(100);
    assert.equal(c.violations[0]?.invariant, "election-safety", JSON.stringify(c.violations));
  });

  it("catches a node that applies other data than it logged (state machine safety)", async () => {
    const c = clusterWith(
      12,
      (config) =>
        new TamperedNode(config, (rd) =>
          config.id === 3
            ? { ...rd, committed: rd.committed.map((e) => ({ ...e, data: enc.encode("evil") })) }
            : rd,
        ),
    );
    await writeSome(c, 10);
    assert.equal(c.violations[0]?.invariant, "state-machine-safety", JSON.stringify(c.violations));
  });

  it("catches a log that differs at the same index and term (log matching)", async () => {
    const flip = (e: Entry): Entry => ({ ...e, data: enc.encode(`x${e.index}`) });
    // Node 2, whenever it follows, writes other data than the leader sent it.
    const c = clusterWith(
      13,
      (config) =>
        new TamperedNode(config, (rd, node) =>
          config.id === 2 && node.status().role !== "leader"
            ? { ...rd, entries: rd.entries.map(flip) }
            : rd,
        ),
    );
    await writeSome(c, 10);
    assert.equal(c.violations[0]?.invariant, "log-matching", JSON.stringify(c.violations));
  });

  it("catches committed entries lost from a majority of disks (committed durability)", async () => {
    const checker = new InvariantChecker([1, 2, 3], () => 0);
    const entry: Entry = { index: 1, term: 1, type: "normal", data: enc.encode("a") };
    const rd: Ready = {
      entries: [entry],
      committed: [],
      messages: [],
      readStates: [],
      mustSync: true,
    };
    for (const id of [1, 2, 3]) checker.onReady(id, rd, 1);
    checker.onApply(1, entry, 123);
    const empty = { hardState: { term: 1, vote: 0, commit: 0 }, snapshot: null, entries: [] };
    checker.onDurableState(2, empty, true);
    assert.ok(checker.ok, "one crash leaves a majority (nodes 1 and 3) holding index 1");
    checker.onDurableState(3, empty, true);
    assert.equal(checker.violations[0]?.invariant, "committed-durable");
  });

  it("catches a leader elected without a committed entry (leader completeness)", async () => {
    const checker = new InvariantChecker([1, 2, 3], () => 0);
    const entry: Entry = { index: 1, term: 1, type: "normal", data: enc.encode("a") };
    const base = { committed: [], messages: [], readStates: [], mustSync: true };
    checker.onReady(1, { ...base, entries: [entry] }, 1);
    checker.onReady(2, { ...base, entries: [entry] }, 1);
    checker.onApply(1, entry, 1);
    // Node 3 never got index 1, yet claims leadership of term 2 with only its own no-op.
    const noop: Entry = { index: 1, term: 2, type: "normal", data: new Uint8Array() };
    checker.onReady(3, { ...base, entries: [noop], softState: { role: "leader", leader: 3 } }, 2);
    assert.equal(checker.violations[0]?.invariant, "leader-completeness");
  });

  it("catches an index applied before the one before it (applied monotonic)", async () => {
    const checker = new InvariantChecker([1, 2, 3], () => 0);
    const e = (index: number): Entry => ({ index, term: 1, type: "normal", data: enc.encode("a") });
    const base = { committed: [], messages: [], readStates: [], mustSync: true };
    checker.onReady(1, { ...base, entries: [e(1), e(2)] }, 1);
    checker.onApply(1, e(2), 1);
    assert.equal(checker.violations[0]?.invariant, "applied-monotonic");
  });

  it("reports a liveness violation when the cluster can never commit", async () => {
    // Every node ignores every message: a permanent partition of everyone from everyone.
    const result = await runSimulation({
      nodes: 3,
      seed: 14,
      timeMs: 1000,
      faults: [],
      createRawNode: (config) =>
        new TamperedNode(
          config,
          (rd) => rd,
          () => false,
        ),
    });
    assert.equal(result.violations.length, 1);
    assert.equal(result.violations[0]?.invariant, "liveness");
    assert.match(result.violations[0]?.message ?? "", /within 10000 ms/);
    assert.ok(result.simulatedMs >= 11_000, `stopped at ${result.simulatedMs}`);
    assert.ok(result.traceTail.length > 0, "a violation comes with the trace tail");
  });

  it("1- and 2-node clusters run under all faults too", async () => {
    for (const nodes of [1, 2]) {
      const result = await runSimulation({ nodes, seed: 16, timeMs: 10_000, faults: FAULTS });
      assert.deepEqual(result.violations, [], `${nodes} nodes`);
      assert.ok(result.commits > 0, `${nodes} nodes: nothing committed`);
    }
  });

  it("a healthy cluster under all faults has no violations", async () => {
    const result = await runSimulation({
      nodes: 5,
      seed: 15,
      timeMs: 20_000,
      faults: FAULTS,
    });
    assert.deepEqual(result.violations, []);
    assert.ok(result.commits > 0);
  });
});
