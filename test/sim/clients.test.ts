// The simulated clients: puts and linearizable reads through the core's ReadIndex path, their
// history checked for linearizability (README, "Simulator": reads).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { RaftConfig, RawNodeApi, Ready } from "../../src/raft/api.js";
import { RawNode } from "../../src/raft/raw-node.js";
import { FAULTS, runSimulation } from "../../src/sim/runner.js";

const dir = mkdtempSync(join(tmpdir(), "raftwork-sim-clients-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A leader that answers reads from its own commit index without a heartbeat round. */
class ReadsWithoutQuorum extends RawNode {
  private asked: number[] = [];
  override readIndex(ctx: number): boolean {
    if (this.status().role !== "leader") return false;
    this.asked.push(ctx);
    return true;
  }
  override hasReady(): boolean {
    return this.asked.length > 0 || super.hasReady();
  }
  override ready(): Ready {
    const rd = super.ready();
    const index = this.status().commit;
    rd.readStates = [...rd.readStates, ...this.asked.map((ctx) => ({ index, ctx }))];
    this.asked = [];
    return rd;
  }
}

describe("simulated clients", () => {
  it("read and write under every fault, and the histories are linearizable", async (t) => {
    // Some seeds are hard on the clients (leader-killer seeds, an fsync that stalls for
    // election timeouts with one entry per message, disks that stall and fill): each seed must
    // get work done, the five together a fair amount.
    let reads = 0;
    let commits = 0;
    for (let seed = 1; seed <= 5; seed++) {
      const r = await runSimulation({ nodes: 5, seed, timeMs: 20_000, faults: FAULTS });
      t.diagnostic(`seed ${seed}: ${r.reads} reads, ${r.commits} commits`);
      assert.deepEqual(r.violations, [], `seed ${seed}`);
      // (Seed 5, a leader-killer seed whose disks also stall and fill, gets 2 reads done.)
      assert.ok(r.reads > 0, `seed ${seed}: no reads`);
      assert.ok(r.commits > 5, `seed ${seed}: only ${r.commits} commits`);
      reads += r.reads;
      commits += r.commits;
    }
    assert.ok(reads > 250, `only ${reads} reads in 5 seeds`);
    assert.ok(commits > 250, `only ${commits} commits in 5 seeds`);
  });

  it("stale reads (ReadIndex served without a quorum round) are reported as linearizability", async (t) => {
    const found: number[] = [];
    for (let seed = 1; seed <= 40 && found.length === 0; seed++) {
      const r = await runSimulation({
        nodes: 3,
        seed,
        timeMs: 30_000,
        faults: FAULTS,
        createRawNode: (c: RaftConfig): RawNodeApi => new ReadsWithoutQuorum(c),
      });
      const v = r.violations[0];
      if (v) {
        assert.equal(v.invariant, "linearizability", v.message);
        assert.match(v.message, /not linearizable: .*get\(/);
        found.push(seed);
      }
    }
    t.diagnostic(`caught at seed ${found.join(", ")}`);
    assert.ok(found.length > 0, "no seed in 1..40 caught stale reads");
  });

  it("puts each get their call, propose and return; reads their read-index", async () => {
    const file = join(dir, "trace.jsonl");
    await runSimulation({ nodes: 3, seed: 3, timeMs: 5_000, faults: [], traceFile: file });
    const recs = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const calls = recs.filter((r) => r.ev === "call");
    const returns = new Map(recs.filter((r) => r.ev === "return").map((r) => [r.op, r]));
    assert.ok(calls.length > 20);
    for (const c of calls) assert.ok(returns.has(c.op), `op ${c.op} never returned`);
    const ok = (kind: string) =>
      calls.filter((c) => c.kind === kind && returns.get(c.op)?.outcome === "ok");
    assert.ok(ok("get").length > 5 && ok("put").length > 5);
    const proposed = new Set(recs.filter((r) => r.ev === "propose").map((r) => r.op));
    const readAt = new Set(recs.filter((r) => r.ev === "read-index").map((r) => r.op));
    for (const c of ok("put")) assert.ok(proposed.has(c.op), `put ${c.op} was never proposed`);
    for (const c of ok("get")) assert.ok(readAt.has(c.op), `get ${c.op} had no read index`);
  });
});
