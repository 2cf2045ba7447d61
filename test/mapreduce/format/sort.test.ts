import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { sortedOrder } from "../../../src/mapreduce/format/sort.js";
import { SEED } from "../seed.js";

/** The reference: a stable sort of the indices by the keys' UTF-8 bytes. */
function expected(keys: readonly string[]): number[] {
  const bytes = keys.map((k) => Buffer.from(k));
  return keys
    .map((_, i) => i)
    .sort((a, b) => Buffer.compare(bytes[a] as Buffer, bytes[b] as Buffer) || a - b);
}

describe("sortedOrder", () => {
  it("sorts in UTF-8 byte order, not UTF-16 order: an astral letter after U+FF21", () => {
    const keys = ["\u{1D4B3}", "\uFF21", "a", "", "ab", "a"];
    assert.deepEqual([...sortedOrder(keys)], [3, 2, 5, 4, 1, 0]);
  });

  it("handles alphabets of no unit or one unit (as many units per digit as allowed)", () => {
    assert.deepEqual([...sortedOrder(["", "", ""])], [0, 1, 2]);
    const keys = ["aaaaaaaaaaaaaaaaaaaa", "a", "", "aaaaaaaaaaaaaaaaaaa", "aa", "a"];
    assert.deepEqual([...sortedOrder(keys)], expected(keys));
  });

  it("sorts more keys than an entry's index bits hold (2^20) by comparison, stably", () => {
    const n = 2 ** 20 + 5;
    const keys = Array.from({ length: n }, (_, i) => ((i * 7919) % 1000).toString(36));
    keys[3] = "\u{1D4B3}";
    keys[4] = "\uFF21";
    const order = sortedOrder(keys);
    assert.equal(order.length, n);
    assert.equal(new Set(order).size, n, "a permutation");
    for (let j = 1; j < n; j++) {
      const a = order[j - 1] as number;
      const b = order[j] as number;
      const c = Buffer.compare(Buffer.from(keys[a] as string), Buffer.from(keys[b] as string));
      assert.ok(c < 0 || (c === 0 && a < b), `out of order at ${j}`);
    }
    assert.deepEqual([...order.slice(-2)], [4, 3]);
  });

  it("equals a stable byte-order sort, for keys that share long prefixes (property)", () => {
    // Few distinct units, so keys repeat and share prefixes, and runs of ties get long enough
    // to need several passes of digits.
    const unit = fc.constantFrom("a", "b", "\u00e9", "\uFF21", "\u{1D4B3}", "\uD7FF", "\uE000");
    const key = fc.array(unit, { maxLength: 7 }).map((u) => u.join(""));
    fc.assert(
      fc.property(fc.array(key, { maxLength: 400 }), (keys) => {
        assert.deepEqual([...sortedOrder(keys)], expected(keys));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
