// NodeHistory: the dashboard's per-second window of one node's requests and fsyncs, and the
// leaders it saw, on a clock the test moves by hand.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  HISTORY_SECONDS,
  LEADER_HISTORY,
  NodeHistory,
  withHistory,
} from "../../src/kv/dashboard/history.js";
import type { KvMetrics } from "../../src/kv/metrics.js";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("NodeHistory", () => {
  it("closes each second into one sample: requests, 5xx errors, latency quantiles, fsyncs", () => {
    const c = clock();
    const h = new NodeHistory(c.now);
    for (let i = 0; i < 98; i++) h.request("put", 200, 0.002);
    h.request("get", 503, 0.1);
    h.request("list", 504, 0.1);
    h.request("status", 200, 5); // the dashboard's own polling: not a client request
    h.request("metrics", 200, 5);
    h.observeFsync(0.004);
    assert.equal(h.latest(), null, "no second has ended yet");
    c.advance(1000);
    const s = h.latest();
    assert.ok(s);
    assert.equal(s.t, 1_001_000);
    assert.equal(s.requests, 100);
    assert.equal(s.errors, 2);
    assert.equal(s.fsyncs, 1);
    // Log buckets, 4 per doubling: within 19% of the truth.
    const near = (got: number | null, want: number) =>
      assert.ok(got !== null && Math.abs(got - want) / want < 0.19, `${got} vs ${want}`);
    near(s.latencyP50, 2);
    near(s.latencyP99, 100);
    near(s.fsyncP50, 4);
  });

  it("reports idle seconds as zeros and keeps only the window", () => {
    const c = clock();
    const h = new NodeHistory(c.now);
    h.request("put", 200, 0.001);
    c.advance(3500);
    const w = h.window();
    assert.deepEqual(
      w.map((s) => [s.t, s.requests, s.latencyP99 === null]),
      [
        [1_001_000, 1, false],
        [1_002_000, 0, true],
        [1_003_000, 0, true],
      ],
    );
    c.advance(10 * HISTORY_SECONDS * 1000);
    const later = h.window();
    assert.equal(later.length, HISTORY_SECONDS);
    assert.equal(later.at(-1)?.t, Math.floor(c.now() / 1000) * 1000);
    for (let i = 1; i < later.length; i++)
      assert.equal((later[i]?.t ?? 0) - (later[i - 1]?.t ?? 0), 1000);
  });

  it("quantiles are monotonic and within the observed range (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 1e-6, max: 100, noNaN: true }), { minLength: 1 }),
        (xs) => {
          const c = clock();
          const h = new NodeHistory(c.now);
          for (const x of xs) h.request("get", 200, x);
          c.advance(1000);
          const s = h.latest();
          assert.ok(s?.latencyP50 != null && s.latencyP99 != null);
          assert.ok(s.latencyP50 <= s.latencyP99);
          const min = Math.min(...xs) * 1000;
          const max = Math.max(...xs) * 1000;
          assert.ok(
            s.latencyP50 >= min / 1.19 && s.latencyP99 <= max * 1.19,
            `${s.latencyP50} ${s.latencyP99} in [${min}, ${max}]`,
          );
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it("records leader changes with the term at the time, once per change, the last 50", () => {
    const c = clock();
    const h = new NodeHistory(c.now);
    let term = 1;
    h.setTermSource(() => term);
    h.setLeader(2);
    h.setLeader(2);
    c.advance(500);
    term = 2;
    h.setLeader(0);
    h.setLeader(3);
    assert.deepEqual(h.leaderChanges(), [
      { t: 1_000_000, leader: 2, term: 1 },
      { t: 1_000_500, leader: null, term: 2 },
      { t: 1_000_500, leader: 3, term: 2 },
    ]);
    for (let i = 0; i < 100; i++) h.setLeader(1 + (i % 2));
    assert.equal(h.leaderChanges().length, LEADER_HISTORY);
  });

  it("withHistory passes every call on to the metrics and records the ones it keeps", () => {
    const calls: string[] = [];
    const metrics = new Proxy({} as KvMetrics, {
      get: (_t, name) =>
        name === "registry" ? {} : (...a: unknown[]) => calls.push(`${String(name)}(${a})`),
    });
    const c = clock();
    const h = new NodeHistory(c.now);
    const m = withHistory(metrics, h);
    m.request("put", 200, 0.5);
    m.observeFsync(0.25);
    m.setLeader(1);
    m.setTerm(4);
    m.proposal();
    assert.deepEqual(calls, [
      "request(put,200,0.5)",
      "observeFsync(0.25)",
      "setLeader(1)",
      "setTerm(4)",
      "proposal()",
    ]);
    c.advance(1000);
    assert.equal(h.latest()?.requests, 1);
    assert.equal(h.leaderChanges().length, 1);
  });
});
