import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Cluster } from "./harness.js";

function isPrefix(a: string[], b: string[]): boolean {
  return a.every((x, i) => b[i] === x);
}

function chaos(seed: number, steps: number): void {
  const c = new Cluster({
    n: 5,
    seed,
    electionTick: 10,
    heartbeatTick: 2,
    maxEntriesPerMsg: 4,
    maxInflight: 4,
  });
  const r = c.random;
  const leaderOfTerm = new Map<number, number>();
  let proposed = 0;
  for (let step = 0; step < steps; step++) {
    const x = r();
    if (x < 0.3) {
      for (const id of c.ids) c.tick(id);
    } else if (x < 0.7) {
      // deliver random queued messages, with a chance to drop or duplicate each
      for (let k = 0; k < 8 && c.queue.length > 0; k++) {
        const i = Math.floor(r() * c.queue.length);
        const y = r();
        if (y < 0.1) c.queue.splice(i, 1);
        else {
          if (y < 0.15) c.queue.push(c.queue[i]!);
          c.deliverAt(i);
        }
      }
    } else if (x < 0.85) {
      const l = c.leaders();
      for (const id of l) {
        const res = c.node(id).propose(new TextEncoder().encode(`v${proposed}`));
        if (res.ok) proposed++;
        c.process(id);
      }
    } else if (x < 0.88) {
      c.heal();
      if (r() < 0.5) c.isolate(c.ids[Math.floor(r() * c.ids.length)]!);
    } else if (x < 0.9) {
      c.restart(c.ids[Math.floor(r() * c.ids.length)]!);
    } else if (x < 0.92) {
      c.compact(c.ids[Math.floor(r() * c.ids.length)]!);
    } else if (x < 0.93) {
      const l = c.leaders()[0];
      if (l !== undefined) c.node(l).transferLeader(c.ids[Math.floor(r() * c.ids.length)]!);
      if (l !== undefined) c.process(l);
    } else if (x < 0.94) {
      const l = c.leaders()[0];
      if (l !== undefined) {
        c.node(l).readIndex(step);
        c.process(l);
      }
    }
    for (const id of c.ids) {
      const st = c.node(id).status();
      if (st.role === "leader") {
        const prev = leaderOfTerm.get(st.term);
        assert.ok(
          prev === undefined || prev === id,
          `seed ${seed}: two leaders in term ${st.term}`,
        );
        leaderOfTerm.set(st.term, id);
      }
    }
    const logs = c.ids.map((id) => c.applied.get(id)!);
    for (const a of logs)
      for (const b of logs) {
        if (a.length <= b.length)
          assert.ok(isPrefix(a, b), `seed ${seed}: applied diverged at step ${step}`);
      }
  }
  // liveness: heal and let it settle
  c.heal();
  c.tickAll(100);
  assert.equal(c.leaders().length, 1, `seed ${seed}: no leader after heal`);
  const l = c.leaders()[0]!;
  c.propose(l, "final");
  c.tickAll(20);
  for (const id of c.ids)
    assert.equal(c.applied.get(id)!.at(-1), "final", `seed ${seed}: node ${id}`);
}

describe("chaos", () => {
  it("random faults keep safety and liveness", () => {
    const base = Number(process.env.RAFT_SEED ?? 1);
    const count = Number(process.env.RAFT_SEEDS ?? 30);
    for (let s = base; s < base + count; s++) {
      try {
        chaos(s, 3000);
      } catch (e) {
        console.log(`chaos seed ${s} failed`);
        throw e;
      }
    }
  });
});
