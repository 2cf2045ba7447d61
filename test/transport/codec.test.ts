import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type Entry, type Message, simpleConf } from "../../src/raft/types.js";
import {
  decodeMessage,
  encodeMessage,
  encodeValue,
  validateMessage,
} from "../../src/transport/codec.js";
import { everyMessageType } from "./suite.js";

const SEED = Date.now() % 1_000_000;
console.log(`codec property seed=${SEED}`);
const RUNS = { seed: SEED, numRuns: 400 };

const natural = fc.oneof(fc.nat({ max: 1000 }), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER));
const data = fc.uint8Array({ maxLength: 64 });

/** Any valid message: ids distinct, terms bounded by the message term, entries contiguous. */
const validMessage: fc.Arbitrary<Message> = fc
  .record({
    from: fc.integer({ min: 1, max: 9 }),
    toOffset: fc.integer({ min: 1, max: 8 }),
    term: natural,
  })
  .chain(({ from, toOffset, term }) => {
    const base = { from, to: ((from - 1 + toOffset) % 9) + 1, term };
    const atMostTerm = fc.integer({ min: 0, max: term });
    const entriesAfter = (prevIndex: number, prevTerm: number) =>
      fc
        .array(fc.tuple(fc.integer({ min: prevTerm, max: term }), fc.boolean(), data), {
          maxLength: 6,
        })
        .map((raw) => {
          const terms = raw.map(([t]) => t).sort((a, b) => a - b);
          return raw.map(
            ([, conf, d], i): Entry => ({
              index: prevIndex + 1 + i,
              term: terms[i] as number,
              type: conf ? "conf" : "normal",
              data: d,
            }),
          );
        });
    return fc.oneof(
      fc
        .record({
          type: fc.constantFrom("vote" as const, "prevote" as const),
          lastLogIndex: natural,
          lastLogTerm: atMostTerm,
          transfer: fc.option(fc.boolean(), { nil: undefined }),
        })
        .map(({ transfer, ...m }) => ({
          ...base,
          ...m,
          ...(transfer === undefined ? {} : { transfer }),
        })),
      fc
        .record({
          type: fc.constantFrom("vote-resp" as const, "prevote-resp" as const),
          granted: fc.boolean(),
        })
        .map((m) => ({ ...base, ...m })),
      fc
        .record({ prevIndex: fc.nat({ max: 1_000_000 }), prevTerm: atMostTerm, commit: natural })
        .chain((m) =>
          entriesAfter(m.prevIndex, m.prevTerm).map((entries) => ({
            ...base,
            type: "app" as const,
            ...m,
            entries,
          })),
        ),
      fc
        .record({
          success: fc.boolean(),
          matchIndex: natural,
          rejectIndex: natural,
          conflictTerm: natural,
          conflictIndex: natural,
        })
        .map((m) => ({ ...base, type: "app-resp" as const, ...m })),
      fc
        .record({ commit: natural, ctx: natural })
        .map((m) => ({ ...base, type: "heartbeat" as const, ...m })),
      fc.record({ ctx: natural }).map((m) => ({ ...base, type: "heartbeat-resp" as const, ...m })),
      fc
        .record({
          index: natural,
          term: atMostTerm,
          voters: fc.uniqueArray(fc.integer({ min: 1, max: 50 }), { maxLength: 7 }),
          data,
        })
        .map(({ index, term: t, voters, data: d }) => ({
          ...base,
          type: "snap" as const,
          snapshot: { metadata: { index, term: t, conf: simpleConf(voters) }, data: d },
        })),
      fc.constant({ ...base, type: "timeout-now" as const }),
    );
  });

/** Paths to every field of a message (nested ones included), for targeted corruption. */
function fieldPaths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (v instanceof Uint8Array || typeof v !== "object" || v === null) return [prefix];
  const out: (string | number)[][] = prefix.length > 0 ? [prefix] : [];
  for (const [k, child] of Object.entries(v)) {
    out.push(...fieldPaths(child, [...prefix, Array.isArray(v) ? Number(k) : k]));
  }
  return out;
}

function withField(
  v: unknown,
  path: (string | number)[],
  replace: (old: unknown) => unknown,
): unknown {
  if (path.length === 0) return replace(v);
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  const copy = (Array.isArray(v) ? [...v] : { ...(v as object) }) as Record<
    string | number,
    unknown
  >;
  const next = withField(copy[head], rest, replace);
  if (next === DELETE) delete copy[head];
  else copy[head] = next;
  return copy;
}
const DELETE = Symbol("delete");

/** Values no field of a valid message can hold, whatever its type. */
const neverValid = fc.oneof(
  fc.constant(-1),
  fc.constant(0.5),
  fc.constant(Number.NaN),
  fc.constant(2 ** 53),
  fc.constant(null),
  fc.constant("1"),
  fc.constant(1n),
  fc.constant([[]]),
  fc.constant({ nested: true }),
);

/** Remove the field, give it a value no field may hold, or add an unknown field beside it. */
const corruption = fc.oneof(
  fc.constant("remove" as const),
  fc.constant("extra" as const),
  neverValid.map((v) => ({ set: v })),
);

describe("codec", () => {
  it("round-trips every valid message exactly (property)", () => {
    fc.assert(
      fc.property(validMessage, (m) => {
        assert.deepStrictEqual(validateMessage(m), { ok: true, value: m });
        const r = decodeMessage(encodeMessage(m));
        assert.ok(r.ok, r.ok ? "" : r.error);
        assert.deepStrictEqual(r.value, m);
      }),
      RUNS,
    );
  });

  it("decodes binary data as plain Uint8Array copies, not views of the frame", () => {
    const m = everyMessageType(1, 2).find((x) => x.type === "app");
    assert.ok(m?.type === "app");
    const bytes = encodeMessage(m);
    const r = decodeMessage(bytes);
    assert.ok(r.ok && r.value.type === "app");
    const e = r.value.entries[0] as Entry;
    assert.equal(Object.getPrototypeOf(e.data), Uint8Array.prototype);
    assert.notEqual(e.data.buffer, bytes.buffer);
  });

  it("rejects a valid message with any one field removed, corrupted, or added (property)", () => {
    const corrupted = validMessage.chain((m) => {
      // Every field is required except `transfer`, which may be absent but not mistyped.
      const paths = fieldPaths(m);
      return fc
        .tuple(fc.constant(m), fc.constantFrom(...paths), corruption)
        .filter(([, path, how]) => !(how === "remove" && path[path.length - 1] === "transfer"));
    });
    fc.assert(
      fc.property(corrupted, ([m, path, how]) => {
        let bad: unknown;
        if (how === "extra")
          bad = withField(m, path.slice(0, -1), (o) => ({ ...(o as object), zz: 1 }));
        else if (how === "remove") bad = withField(m, path, () => DELETE);
        else bad = withField(m, path, () => how.set);
        const r = validateMessage(bad);
        assert.equal(
          r.ok,
          false,
          `accepted ${JSON.stringify(path)} ${JSON.stringify(how, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))}`,
        );
      }),
      RUNS,
    );
  });

  it("never accepts arbitrary values, and never throws on arbitrary bytes (property)", () => {
    fc.assert(
      fc.property(fc.anything({ withTypedArray: true, withBigInt: true, withMap: true }), (v) => {
        assert.equal(validateMessage(v).ok, false);
        let bytes: Uint8Array;
        try {
          bytes = encodeValue(v);
        } catch {
          return; // not msgpack-encodable (e.g. a BigInt beyond 64 bits): nothing to decode
        }
        assert.equal(decodeMessage(bytes).ok, false);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        assert.equal(decodeMessage(bytes).ok, false);
      }),
      RUNS,
    );
  });

  it("names the offending field in its error", () => {
    const cases: [unknown, RegExp][] = [
      [
        { type: "heartbeat", from: 1, to: 2, term: 1, commit: 1.5, ctx: 0 },
        /message\.commit: expected a non-negative/,
      ],
      [
        { type: "heartbeat", from: 1, to: 1, term: 1, commit: 1, ctx: 0 },
        /message\.to: a node does not message itself/,
      ],
      [{ type: "nope", from: 1, to: 2, term: 1 }, /message\.type: unknown message type/],
      [{ type: "timeout-now", from: 1, to: 2, term: 1, extra: 1 }, /message\.extra: unknown field/],
      [
        {
          type: "app",
          from: 1,
          to: 2,
          term: 3,
          prevIndex: 5,
          prevTerm: 2,
          commit: 0,
          entries: [{ index: 7, term: 3, type: "normal", data: new Uint8Array() }],
        },
        /entries\[0\]\.index: expected 6/,
      ],
      [
        {
          type: "app",
          from: 1,
          to: 2,
          term: 3,
          prevIndex: 5,
          prevTerm: 2,
          commit: 0,
          entries: [{ index: 6, term: 3, type: "normal", data: [1, 2] }],
        },
        /entries\[0\]\.data: expected binary data/,
      ],
      [
        {
          type: "snap",
          from: 1,
          to: 2,
          term: 3,
          snapshot: {
            metadata: { index: 1, term: 1, conf: { ...simpleConf([1]), voters: [1, 1] } },
            data: new Uint8Array(),
          },
        },
        /voters: duplicate id/,
      ],
    ];
    // Regression found by the corruption property: Array.prototype.map skipped a sparse hole.
    const sparse: number[] = new Array(2);
    sparse[1] = 2;
    cases.push([
      {
        type: "snap",
        from: 1,
        to: 2,
        term: 3,
        snapshot: {
          metadata: { index: 1, term: 1, conf: { ...simpleConf([]), voters: sparse } },
          data: new Uint8Array(),
        },
      },
      /voters\[0\]: expected a node id/,
    ]);
    for (const [v, re] of cases) {
      const r = validateMessage(v);
      assert.equal(r.ok, false);
      assert.match(r.ok ? "" : r.error, re);
    }
  });
});
