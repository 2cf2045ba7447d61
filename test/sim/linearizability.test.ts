import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  checkHistory,
  formatResult,
  type KvInput,
  type KvOperation,
  type KvOutput,
} from "../../src/sim/linearizability.js";

const INF = Number.POSITIVE_INFINITY;
const put = (key: string, value: string, call: number, ret: number): KvOperation => ({
  key,
  input: { op: "put", value },
  output: ret === INF ? undefined : {},
  call,
  return: ret,
});
const get = (key: string, value: string | null, call: number, ret: number): KvOperation => ({
  key,
  input: { op: "get" },
  output: { value },
  call,
  return: ret,
});
const append = (key: string, value: string, call: number, ret: number): KvOperation => ({
  key,
  input: { op: "append", value },
  output: ret === INF ? undefined : {},
  call,
  return: ret,
});
const cas = (
  key: string,
  expect: string | null,
  value: string,
  ok: boolean | undefined,
  call: number,
  ret: number,
): KvOperation => ({
  key,
  input: { op: "cas", expect, value },
  output: ok === undefined ? undefined : { ok },
  call,
  return: ok === undefined ? INF : ret,
});

describe("linearizability checker: known histories", () => {
  it("accepts a read concurrent with the write it observes, and one that misses it", () => {
    assert.equal(checkHistory([put("x", "1", 0, 10), get("x", "1", 5, 15)]).result, "ok");
    assert.equal(checkHistory([put("x", "1", 0, 10), get("x", null, 5, 15)]).result, "ok");
    assert.equal(checkHistory([get("x", null, 0, 1)]).result, "ok");
  });

  it("rejects a stale read after a completed write", () => {
    const r = checkHistory([put("x", "1", 0, 1), put("x", "2", 2, 3), get("x", "1", 4, 5)]);
    assert.equal(r.result, "illegal");
    assert.equal(r.result === "illegal" && r.key, "x");
  });

  it("rejects a read that goes back in time between two reads", () => {
    const h = [put("x", "1", 0, 1), put("x", "2", 2, 20), get("x", "2", 5, 6), get("x", "1", 7, 8)];
    assert.equal(checkHistory(h).result, "illegal");
  });

  it("a write with unknown outcome may take effect late or never", () => {
    assert.equal(
      checkHistory([put("x", "1", 0, 1), put("x", "2", 2, INF), get("x", "1", 5, 6)]).result,
      "ok",
    );
    assert.equal(
      checkHistory([
        put("x", "1", 0, 1),
        put("x", "2", 2, INF),
        get("x", "2", 5, 6),
        get("x", "2", 9, 10),
      ]).result,
      "ok",
    );
    // ...but not before it was called.
    assert.equal(checkHistory([get("x", "2", 0, 1), put("x", "2", 2, INF)]).result, "illegal");
  });

  it("checks cas outcomes, including unknown ones", () => {
    assert.equal(
      checkHistory([cas("c", null, "a", true, 0, 1), cas("c", null, "b", true, 2, 3)]).result,
      "illegal",
    );
    assert.equal(
      checkHistory([cas("c", null, "a", true, 0, 5), cas("c", null, "b", false, 1, 3)]).result,
      "ok",
    );
    assert.equal(
      checkHistory([cas("c", null, "a", undefined, 0, 0), get("c", "a", 2, 3)]).result,
      "ok",
    );
    assert.equal(
      checkHistory([cas("c", "z", "a", undefined, 0, 0), get("c", "a", 2, 3)]).result,
      "illegal",
    );
  });

  it("orders concurrent appends any way, but never duplicates one", () => {
    const base = [append("l", "a", 0, 10), append("l", "b", 1, 10)];
    assert.equal(checkHistory([...base, get("l", "ab", 11, 12)]).result, "ok");
    assert.equal(checkHistory([...base, get("l", "ba", 11, 12)]).result, "ok");
    assert.equal(checkHistory([...base, get("l", "aab", 11, 12)]).result, "illegal");
    assert.equal(checkHistory([...base, get("l", "a", 11, 12)]).result, "illegal");
  });

  it("checks keys independently and reports a small counterexample on the bad key", () => {
    const h: KvOperation[] = [];
    for (let i = 0; i < 30; i++) {
      h.push(
        put("good", String(i), 10 * i, 10 * i + 15),
        get("good", String(i), 10 * i + 12, 10 * i + 20),
      );
      h.push(append("bad", String(i % 10), 10 * i, 10 * i + 5));
    }
    const seq = Array.from({ length: 30 }, (_, i) => String(i % 10)).join("");
    h.push(get("bad", seq, 400, 401)); // correct
    h.push(get("bad", seq.slice(0, 20), 402, 403)); // goes back in time
    const r = checkHistory(h);
    assert.equal(r.result, "illegal", formatResult(r));
    if (r.result !== "illegal") return;
    assert.equal(r.key, "bad");
    assert.ok(r.counterexample.length <= 32, formatResult(r));
    assert.ok(r.counterexample.every((op) => op.key === "bad"));
    assert.equal(
      checkHistory(r.counterexample).result,
      "illegal",
      "the counterexample itself fails",
    );
    assert.match(formatResult(r), /not linearizable: key "bad"/);
  });

  it("answers unknown when the search is too big for the budget", () => {
    // 12 concurrent appends and a read of an order that never happened: exponential to refute.
    const h = Array.from({ length: 12 }, (_, i) =>
      append("k", String.fromCharCode(97 + i), 0, 100),
    );
    h.push(get("k", "nope", 101, 102));
    const r = checkHistory(h, { maxSteps: 500 });
    assert.equal(r.result, "unknown");
    assert.equal(checkHistory(h.slice(0, 6).concat(get("k", "nope", 101, 102))).result, "illegal");
  });

  it("refuses an operation that returns before its call", () => {
    assert.throws(() => checkHistory([put("x", "1", 5, 1)]), /returns before its call/);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties: histories produced by an atomic execution are linearizable whatever the windows.

interface Generated {
  key: string;
  input: KvInput;
}

const opArb: fc.Arbitrary<Generated> = fc.record({
  key: fc.constantFrom("a", "b", "c"),
  input: fc.oneof(
    fc.constant<KvInput>({ op: "get" }),
    fc.string({ maxLength: 2 }).map((value): KvInput => ({ op: "put", value })),
    fc.string({ minLength: 1, maxLength: 2 }).map((value): KvInput => ({ op: "append", value })),
    fc.constant<KvInput>({ op: "del" }),
    fc
      .tuple(fc.option(fc.constantFrom("", "x", "xy")), fc.string({ maxLength: 2 }))
      .map(([expect, value]): KvInput => ({ op: "cas", expect, value })),
  ),
});

/**
 * Execute ops atomically in order at times 10, 20, ...; give each a window around its
 * linearization point of random width (so windows overlap), and make some outcomes unknown.
 */
function sequentialHistory(
  ops: Generated[],
  widths: Array<[number, number, boolean]>,
): KvOperation[] {
  const state = new Map<string, string | null>();
  return ops.map((g, i) => {
    const cur = state.get(g.key) ?? null;
    let output: KvOutput = {};
    const inp = g.input;
    if (inp.op === "get") output = { value: cur };
    else if (inp.op === "put") state.set(g.key, inp.value);
    else if (inp.op === "append") state.set(g.key, (cur ?? "") + inp.value);
    else if (inp.op === "del") state.set(g.key, null);
    else {
      output = { ok: cur === inp.expect };
      if (cur === inp.expect) state.set(g.key, inp.value);
    }
    const [before, after, lost] = widths[i] ?? [0, 0, false];
    const t = 10 * (i + 1);
    const op: KvOperation = {
      key: g.key,
      client: i % 4,
      input: g.input,
      output,
      call: t - before,
      return: t + after,
    };
    return lost ? { ...op, output: undefined, return: INF } : op;
  });
}

// [window before, window after, outcome lost (1 in 5)]
const widthArb = fc.tuple(
  fc.integer({ min: 0, max: 35 }),
  fc.integer({ min: 0, max: 35 }),
  fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
);

describe("linearizability checker: properties", () => {
  const seed = Number(process.env.SEED ?? Date.now() % 1e9);
  console.log(`# linearizability properties seed=${seed}`);

  it("accepts every history of an atomic execution with overlapping windows", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 40 }),
        fc.array(widthArb, { minLength: 40, maxLength: 40 }),
        (ops, widths) => {
          const h = sequentialHistory(ops, widths);
          const r = checkHistory(h);
          assert.equal(r.result, "ok", formatResult(r));
        },
      ),
      { seed, numRuns: 150 },
    );
  });

  it("rejects a history with a read of a value never written", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 30 }),
        fc.array(widthArb, { minLength: 31, maxLength: 31 }),
        fc.nat(30),
        (ops, widths, at) => {
          const pos = Math.min(at, ops.length);
          const h = sequentialHistory(ops, widths);
          const key = ops[pos % ops.length]?.key ?? "a";
          // Generated strings are printable ASCII, so no write produces a leading NUL.
          h.push(get(key, "\u0000never", 10 * pos + 5, 10 * pos + 6));
          const r = checkHistory(h);
          assert.equal(r.result, "illegal");
        },
      ),
      { seed, numRuns: 150 },
    );
  });
});
