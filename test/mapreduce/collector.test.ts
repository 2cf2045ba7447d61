import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { MapOutputCollector } from "../../src/mapreduce/collector.js";
import { defaultPartition } from "../../src/mapreduce/keys.js";
import { arraySource, mergeGroups } from "../../src/mapreduce/merge.js";
import { type Group, GroupReader, GroupWriter } from "../../src/mapreduce/records.js";
import { SEED } from "./seed.js";

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

describe("mergeGroups", () => {
  it("merges sorted sources into one group per key, in UTF-8 byte order", () => {
    const merged = [
      ...mergeGroups([
        arraySource([
          { key: "a", values: ["1"] },
          { key: "\uFF21", values: ["2"] },
        ]),
        arraySource([
          { key: "a", values: ["3"] },
          { key: "\u{1D4B3}", values: ["4"] },
        ]),
        arraySource([]),
      ]),
    ];
    assert.deepEqual(merged, [
      { key: "a", values: ["1", "3"] },
      { key: "\uFF21", values: ["2"] },
      { key: "\u{1D4B3}", values: ["4"] },
    ]);
  });
});

describe("MapOutputCollector", () => {
  const key = fc.constantFrom("a", "b", "the", "über", "\uFF21", "\u{1D4B3}", "a b", "", "zz\nz");
  const pairs = fc.array(fc.tuple(key, fc.integer({ min: 0, max: 9 }).map(String)), {
    maxLength: 300,
  });

  it("writes sorted, grouped partitions that hold exactly the pairs added, spilling or not (property)", async () => {
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
            const expected = new Map<string, string[]>();
            for (const [k, v] of ps)
              if (defaultPartition(k, nReduce) === r)
                expected.set(k, [...(expected.get(k) ?? []), v]);
            const got = readAll(out, offsets[r], offsets[r + 1]);
            assert.deepEqual(
              got.map((g) => g.key),
              [...expected.keys()].sort(byteOrder),
            );
            for (const g of got) {
              const want = expected.get(g.key) as string[];
              if (useCombine)
                assert.equal(
                  g.values.reduce((s, v) => s + Number(v), 0),
                  want.reduce((s, v) => s + Number(v), 0),
                );
              else assert.deepEqual([...g.values].sort(), [...want].sort());
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

  it("spills above the memory budget and merges the runs back", async () => {
    const c = new MapOutputCollector({
      nReduce: 1,
      partition: () => 0,
      memoryBytes: 1000,
      spillDir: dir,
      name: "spill",
    });
    for (let i = 0; i < 500; i++) c.add(`k${i % 50}`, String(i));
    assert.ok(c.spills > 3, `spilled ${c.spills} runs`);
    const groups = [...c.merged(0)];
    assert.equal(groups.length, 50);
    assert.equal(
      groups.reduce((s, g) => s + g.values.length, 0),
      500,
    );
    c.discard();
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
