import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Rng } from "../../src/sim/rng.js";

describe("Rng", () => {
  it("the same seed gives the same stream; another seed a different one", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 100 }, () => a.u32());
    assert.deepEqual(
      xs,
      Array.from({ length: 100 }, () => b.u32()),
    );
    assert.notDeepEqual(
      xs,
      Array.from({ length: 100 }, () => c.u32()),
    );
  });

  it("fork depends on the seed and label, not on draws made before it", () => {
    const a = new Rng(7);
    const b = new Rng(7);
    b.u32();
    b.float();
    const fa = a.fork("node/1");
    const fb = b.fork("node/1");
    assert.deepEqual(
      Array.from({ length: 10 }, () => fa.u32()),
      Array.from({ length: 10 }, () => fb.u32()),
    );
    assert.notEqual(a.fork("node/1").u32(), a.fork("node/2").u32());
  });

  it("int stays within its inclusive bounds and float within [0, 1)", () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: -1000, max: 1000 }),
        fc.nat(1000),
        (seed, lo, span) => {
          const r = new Rng(seed);
          for (let i = 0; i < 50; i++) {
            const x = r.int(lo, lo + span);
            assert.ok(
              Number.isInteger(x) && x >= lo && x <= lo + span,
              `${x} outside ${lo}..${lo + span}`,
            );
            const f = r.float();
            assert.ok(f >= 0 && f < 1);
          }
        },
      ),
      { seed: 1, numRuns: 200 },
    );
  });

  it("is roughly uniform: every bucket of int(0, 9) gets 8-12% of 20,000 draws", () => {
    const r = new Rng("uniform");
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const k = r.int(0, 9);
      buckets[k] = (buckets[k] ?? 0) + 1;
    }
    for (const n of buckets) assert.ok(n > 1600 && n < 2400, `bucket count ${n}`);
  });

  it("shuffle is a permutation and pick takes from the list", () => {
    const r = new Rng(3);
    const items = [1, 2, 3, 4, 5, 6];
    assert.deepEqual(r.shuffle(items).sort(), items);
    assert.ok(items.includes(r.pick(items)));
    assert.throws(() => r.pick([]), /empty/);
  });
});
