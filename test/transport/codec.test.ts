import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type Entry, type Message, simpleConf } from "../../src/raft/types.js";
import { isWellFormed } from "../../src/raft/validate.js";
import {
  decodeMessage,
  encodeMessage,
  encodeValue,
  validateMessage,
} from "../../src/transport/codec.js";
import { confEntryData, everyMessageType } from "./suite.js";

const SEED = Date.now() % 1_000_000;
console.log(`codec property seed=${SEED}`);
const RUNS = { seed: SEED, numRuns: 400 };

const natural = fc.oneof(fc.nat({ max: 1000 }), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER));
const positive = fc.oneof(
  fc.integer({ min: 1, max: 1000 }),
  fc.integer({ min: 1, max: 2 ** 31 }),
  fc.constant(Number.MAX_SAFE_INTEGER),
);
const data = fc.uint8Array({ maxLength: 64 });

/**
 * Any valid message (src/raft/validate.ts): ids distinct, terms >= 1 and bounded by the
 * message term, entries contiguous with non-decreasing terms, a snapshot with a voter.
 */
const validMessage: fc.Arbitrary<Message> = fc
  .record({
    from: fc.integer({ min: 1, max: 9 }),
    toOffset: fc.integer({ min: 1, max: 8 }),
    term: positive,
  })
  .chain(({ from, toOffset, term }) => {
    const base = { from, to: ((from - 1 + toOffset) % 9) + 1, term };
    const atMostTerm = fc.integer({ min: 0, max: term });
    const entriesAfter = (prevIndex: number, prevTerm: number) =>
      fc
        .array(
          fc.tuple(fc.integer({ min: Math.max(1, prevTerm), max: term }), fc.boolean(), data),
          {
            maxLength: 6,
          },
        )
        .map((raw) => {
          const terms = raw.map(([t]) => t).sort((a, b) => a - b);
          return raw.map(
            ([, conf, d], i): Entry => ({
              index: prevIndex + 1 + i,
              term: terms[i] as number,
              type: conf ? "conf" : "normal",
              // A conf entry's data must decode as a change (validate.ts); `d` is its context.
              data: conf ? confEntryData(d) : d,
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
          index: positive,
          term: fc.integer({ min: 1, max: term }),
          voters: fc.uniqueArray(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 7 }),
          data,
        })
        .map(({ index, term: t, voters, data: d }) => ({
          ...base,
          type: "snap" as const,
          snapshot: { metadata: { index, term: t, conf: simpleConf(voters) }, data: d },
        })),
      fc.constant({ ...base, type: "timeout-now" as const, index: 3 }),
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

/** A valid AppendEntries (term 3, entries 6 and 7 after index 5 of term 2), with changes. */
const app = (over: object) => ({
  type: "app",
  from: 1,
  to: 2,
  term: 3,
  prevIndex: 5,
  prevTerm: 2,
  commit: 0,
  entries: [
    { index: 6, term: 2, type: "normal", data: new Uint8Array() },
    { index: 7, term: 3, type: "normal", data: new Uint8Array() },
  ],
  ...over,
});

const replacer = (_k: string, v: unknown) =>
  typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? [...v] : v;

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

  it("the core's guard and the codec are one schema: they accept exactly the same values (property)", () => {
    const anyValue = fc.oneof(
      validMessage,
      validMessage.chain((m) =>
        fc
          .tuple(fc.constantFrom(...fieldPaths(m)), neverValid)
          .map(([path, v]) => withField(m, path, () => v)),
      ),
      fc.anything({ withTypedArray: true }),
    );
    fc.assert(
      fc.property(anyValue, (v) => {
        assert.equal(isWellFormed(v), validateMessage(v).ok, JSON.stringify(v, replacer));
      }),
      RUNS,
    );
  });

  it("returns a fresh copy: nothing of the input object is shared but the bytes", () => {
    for (const m of everyMessageType(1, 2)) {
      const r = validateMessage(m);
      assert.ok(r.ok);
      assert.notEqual(r.value, m);
      assert.deepStrictEqual(r.value, m);
      if (m.type === "app" && r.value.type === "app") {
        assert.notEqual(r.value.entries, m.entries);
        for (const [i, e] of r.value.entries.entries()) assert.notEqual(e, m.entries[i]);
      }
      if (m.type === "snap" && r.value.type === "snap") {
        assert.notEqual(r.value.snapshot.metadata.conf, m.snapshot.metadata.conf);
        assert.notEqual(r.value.snapshot.metadata.conf.voters, m.snapshot.metadata.conf.voters);
      }
    }
  });

  it("decides each rule the core and the codec once disagreed on, the same way in both", () => {
    const snap = (conf: object) => ({
      type: "snap",
      from: 1,
      to: 2,
      term: 3,
      snapshot: { metadata: { index: 9, term: 3, conf }, data: new Uint8Array() },
    });
    const conf = (over: object) => ({ ...simpleConf([1, 2, 3]), ...over });
    const refused: [string, unknown, RegExp][] = [
      [
        "term 0",
        { type: "heartbeat", from: 1, to: 2, term: 0, commit: 0, ctx: 0 },
        /message\.term: terms start at 1/,
      ],
      [
        "an entry of term 0",
        app({
          prevIndex: 0,
          prevTerm: 0,
          entries: [{ index: 1, term: 0, type: "normal", data: new Uint8Array() }],
        }),
        /entries\[0\]\.term: terms start at 1/,
      ],
      [
        "entry terms that decrease",
        app({
          entries: [
            { index: 6, term: 3, type: "normal", data: new Uint8Array() },
            { index: 7, term: 2, type: "normal", data: new Uint8Array() },
          ],
        }),
        /entries\[1\]\.term: terms must not decrease/,
      ],
      [
        "an entry below prevTerm",
        app({
          prevTerm: 3,
          entries: [{ index: 6, term: 2, type: "normal", data: new Uint8Array() }],
        }),
        /entries\[0\]\.term: terms must not decrease/,
      ],
      ["prevTerm above the message term", app({ prevTerm: 4 }), /prevTerm: above the message term/],
      [
        "a vote with lastLogTerm above its term",
        { type: "vote", from: 1, to: 2, term: 3, lastLogIndex: 9, lastLogTerm: 4 },
        /lastLogTerm: above the message term/,
      ],
      [
        "an empty voter list",
        snap(conf({ voters: [] })),
        /voters: a configuration needs at least one voter/,
      ],
      ["voters out of order", snap(conf({ voters: [2, 1] })), /voters: ids must be ascending/],
      [
        "a learner that votes",
        snap(conf({ learners: [3] })),
        /node 3 is both a learner and a voter/,
      ],
      [
        "learnersNext outside a joint configuration",
        snap(conf({ learnersNext: [4] })),
        /learnersNext: node 4 is not an outgoing voter/,
      ],
      [
        "autoLeave outside a joint configuration",
        snap(conf({ autoLeave: true })),
        /autoLeave: only a joint/,
      ],
    ];
    for (const [what, v, re] of refused) {
      assert.equal(isWellFormed(v), false, `the core's guard accepted ${what}`);
      const r = validateMessage(v);
      assert.equal(r.ok, false, `the codec accepted ${what}`);
      assert.match(r.ok ? "" : r.error, re, what);
    }
    const joint = conf({
      voters: [1, 2],
      votersOutgoing: [1, 2, 3],
      learnersNext: [3],
      autoLeave: true,
    });
    for (const v of [app({}), snap(joint), snap(conf({ voters: [1], learners: [2, 3] }))]) {
      assert.ok(isWellFormed(v), JSON.stringify(v, replacer));
      assert.ok(validateMessage(v).ok);
    }
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
      [
        { type: "timeout-now", from: 1, to: 2, term: 1, index: 0, extra: 1 },
        /message\.extra: unknown field/,
      ],
      [
        app({ entries: [{ index: 7, term: 3, type: "normal", data: new Uint8Array() }] }),
        /entries\[0\]\.index: expected 6/,
      ],
      [
        app({ entries: [{ index: 6, term: 3, type: "normal", data: [1, 2] }] }),
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
