import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { MapOutputCollector } from "../../../src/mapreduce/format/collector.js";
import { SortingGrouper } from "../../../src/mapreduce/format/grouper.js";
import { defaultPartition } from "../../../src/mapreduce/format/keys.js";
import { arraySource, mergeGroups } from "../../../src/mapreduce/format/merge.js";
import { type Group, GroupReader, GroupWriter } from "../../../src/mapreduce/format/records.js";
import { SEED } from "../seed.js";

const dir = mkdtempSync(join(tmpdir(), "mr-collector-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

function readAll(path: string, start?: number, end?: number): Group[] {
  const r = new GroupReader(path, start, end, 16); // tiny buffer: exercises refills
  const out: Group[] = [];
  for (let g = r.next(); g; g = r.next()) out.push(g);
  return out;
}

describe("group files", () => {
  it("round-trip keys and values holding any text", () => {
    const path = join(dir, "roundtrip");
    const w = new GroupWriter(path);
    const groups: Group[] = [
      { key: "", values: [""] },
      { key: "a b\nc", values: ["x\ty", "\u0000", "𝒳".repeat(40)] },
      { key: "zz", values: [] },
    ];
    for (const g of groups) w.write(g.key, g.values);
    w.close();
    assert.deepEqual(readAll(path), groups);
  });
});

describe("group files, blocks", () => {
  it("round-trip many groups across blocks, from a file range or from memory", () => {
    const path = join(dir, "blocks");
    const w = new GroupWriter(path);
    const groups: Group[] = Array.from({ length: 30_000 }, (_, i) => ({
      key: `k${i}${i % 7 === 0 ? "\u{1D4B3}" : ""}`,
      values: Array.from({ length: i % 4 }, (_, j) => `${j}`.repeat(j * 3)),
    }));
    // One group with more values than a block usually holds lengths.
    groups[100] = { key: "many", values: Array.from({ length: 20_000 }, (_, j) => String(j)) };
    const mid = 12_345;
    for (const g of groups.slice(0, mid)) w.write(g.key, g.values);
    const boundary = w.boundary();
    for (const g of groups.slice(mid)) w.write(g.key, g.values);
    w.close();
    assert.deepEqual(readAll(path, 0, boundary), groups.slice(0, mid));
    assert.deepEqual(readAll(path, boundary), groups.slice(mid));
    const bytes = readFileSync(path);
    const fromMemory: Group[] = [];
    const r = new GroupReader(bytes.subarray(boundary));
    for (let g = r.next(); g; g = r.next()) fromMemory.push(g);
    assert.deepEqual(fromMemory, groups.slice(mid));
  });

  it("reports a truncated file instead of returning fewer groups", () => {
    const path = join(dir, "truncated");
    const w = new GroupWriter(path);
    w.write("key", ["value"]);
    w.close();
    const bytes = readFileSync(path);
    for (const cut of [3, 10, bytes.length - 1])
      assert.throws(() => readAll(path, 0, cut), /truncated/, `cut at ${cut}`);
  });
});

describe("mergeGroups", () => {
  it("merges sorted sources into one group per key, in UTF-8 byte order", () => {
    const source = mergeGroups([
      arraySource([
        { key: "a", values: ["1"] },
        { key: "\uFF21", values: ["2"] },
      ]),
      arraySource([
        { key: "a", values: ["3"] },
        { key: "\u{1D4B3}", values: ["4"] },
      ]),
      arraySource([]),
    ]);
    const merged: Group[] = [];
    for (let g = source.next(); g; g = source.next()) merged.push(g);
    assert.deepEqual(merged, [
      { key: "a", values: ["1", "3"] },
      { key: "\uFF21", values: ["2"] },
      { key: "\u{1D4B3}", values: ["4"] },
    ]);
  });

  it("equals sorting and grouping everything, values in the order of the sources", () => {
    // Keys from a small alphabet that mixes ASCII, U+FF21 and an astral letter (the one place
    // where UTF-16 order and UTF-8 order disagree), so sources share many keys.
    const key = fc
      .array(fc.constantFrom("a", "b", "\uFF21", "\u{1D4B3}"), { maxLength: 3 })
      .map((cs) => cs.join(""));
    const source = fc.uniqueArray(key).chain((keys) =>
      fc.tuple(
        fc.constant([...keys].sort(byteOrder)),
        fc.array(fc.array(fc.string({ maxLength: 2 }), { maxLength: 3 }), {
          minLength: keys.length,
          maxLength: keys.length,
        }),
        fc.boolean(),
      ),
    );
    fc.assert(
      fc.property(fc.array(source, { maxLength: 9 }), (sources) => {
        const expected = new Map<string, string[]>();
        for (const [keys, values] of sources)
          for (const [i, k] of keys.entries())
            expected.set(k, [...(expected.get(k) ?? []), ...(values[i] ?? [])]);
        const merged = mergeGroups(
          sources.map(([keys, values, plain]) =>
            arraySource(
              keys.map((k, i) => ({ key: k, values: values[i] ?? [] })),
              // A source may claim plain text only when it holds no surrogate.
              plain && keys.every((k) => !/[\ud800-\udfff]/.test(k)),
            ),
          ),
        );
        const got: Group[] = [];
        for (let g = merged.next(); g; g = merged.next()) got.push(g);
        assert.deepEqual(
          got,
          [...expected.keys()].sort(byteOrder).map((k) => ({ key: k, values: expected.get(k) })),
        );
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

function group(pairs: readonly (readonly [string, string])[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [k, v] of pairs) m.set(k, [...(m.get(k) ?? []), v]);
  return m;
}

const total = (values: string[]) => values.reduce((s, v) => s + Number(v), 0);

describe("SortingGrouper", () => {
  const key = fc.constantFrom("a", "b", "the", "über", "\uFF21", "\u{1D4B3}", "a b", "", "zz\nz");
  it("yields every key once, in UTF-8 byte order, with all its values, spilling or not (property)", () => {
    let n = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, fc.string({ maxLength: 3 })), { maxLength: 300 }),
        fc.integer({ min: 100, max: 20_000 }),
        (ps, budget) => {
          const g = new SortingGrouper({ memoryBytes: budget, spillDir: dir, name: `group${n++}` });
          for (const [k, v] of ps) g.add(k, v);
          const got = [...g.sorted()];
          const expected = group(ps);
          assert.deepEqual(
            got.map((x) => x.key),
            [...expected.keys()].sort(byteOrder),
          );
          for (const x of got)
            assert.deepEqual(x.values.sort(), (expected.get(x.key) as string[]).sort());
          assert.equal(g.values, ps.length);
          assert.deepEqual(
            readdirSync(dir).filter((f) => f.includes(".run")),
            [],
            "runs are removed",
          );
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  it("spills sorted runs above the memory budget and merges them back", () => {
    const g = new SortingGrouper({ memoryBytes: 1000, spillDir: dir, name: "spill" });
    for (let i = 0; i < 500; i++) g.add(`k${i % 50}`, String(i));
    assert.ok(g.spills > 3, `spilled ${g.spills} runs`);
    const groups = [...g.sorted()];
    assert.equal(groups.length, 50);
    assert.equal(
      groups.reduce((s, x) => s + x.values.length, 0),
      500,
    );
  });
});

describe("MapOutputCollector", () => {
  const key = fc.constantFrom("a", "b", "the", "über", "\uFF21", "\u{1D4B3}", "a b", "", "zz\nz");
  const pairs = fc.array(fc.tuple(key, fc.integer({ min: 0, max: 9 }).map(String)), {
    maxLength: 300,
  });

  it("writes partitions that hold exactly the pairs added, spilling or not (property)", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        pairs,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 200, max: 20_000 }),
        fc.boolean(),
        async (ps, nReduce, budget, useCombine) => {
          const sum = (_k: string, vs: string[]) => String(vs.reduce((s, v) => s + Number(v), 0));
          const c = new MapOutputCollector({
            nReduce,
            partition: (k) => defaultPartition(k, nReduce),
            combine: useCombine ? sum : undefined,
            memoryBytes: budget,
            spillDir: dir,
            name: `prop${n++}`,
          });
          for (const [k, v] of ps) c.add(k, v);
          const out = join(dir, `prop-out-${n}`);
          const offsets = await c.finish(out);
          assert.equal(offsets.length, nReduce + 1);
          for (let r = 0; r < nReduce; r++) {
            const expected = group(ps.filter(([k]) => defaultPartition(k, nReduce) === r));
            // Each section is sorted in UTF-8 byte order, one group per key, whether it came
            // from memory alone or from a merge with spilled runs.
            const section = readAll(out, offsets[r], offsets[r + 1]);
            for (let i = 1; i < section.length; i++)
              assert.ok(
                byteOrder((section[i - 1] as Group).key, (section[i] as Group).key) < 0,
                `section ${r} out of order at ${i}`,
              );
            const got = group(
              section.flatMap((g) => g.values.map((v): [string, string] => [g.key, v])),
            );
            assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
            for (const [k, want] of expected) {
              const have = got.get(k) as string[];
              if (useCombine) assert.equal(total(have), total(want));
              else assert.deepEqual(have.sort(), want.sort());
            }
          }
          rmSync(out);
          assert.deepEqual(
            readdirSync(dir).filter((f) => f.includes(".run")),
            [],
            "runs are removed",
          );
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it("spills above the memory budget and appends the runs to the output", async () => {
    const c = new MapOutputCollector({
      nReduce: 2,
      partition: (k) => Number(k.slice(1)) % 2,
      memoryBytes: 1000,
      spillDir: dir,
      name: "spill",
    });
    for (let i = 0; i < 500; i++) c.add(`k${i % 50}`, String(i));
    assert.ok(c.spills > 3, `spilled ${c.spills} runs`);
    const out = join(dir, "spill-out");
    const offsets = await c.finish(out);
    const all = [0, 1].flatMap((r) => readAll(out, offsets[r], offsets[r + 1]));
    assert.equal(
      all.reduce((s, g) => s + g.values.length, 0),
      500,
    );
    assert.equal(new Set(all.map((g) => g.key)).size, 50);
  });

  it("runs an async combiner", async () => {
    const c = new MapOutputCollector({
      nReduce: 1,
      partition: () => 0,
      combine: async (_k, vs) =>
        String(vs.length === 0 ? 0 : vs.reduce((s, v) => s + Number(v), 0)),
      memoryBytes: 1 << 20,
      spillDir: dir,
      name: "async",
    });
    for (let i = 0; i < 200; i++) {
      const p = c.add("w", "1");
      if (p) await p;
    }
    const out = join(dir, "async-out");
    await c.finish(out);
    assert.deepEqual(readAll(out), [{ key: "w", values: ["200"] }]);
  });
});
