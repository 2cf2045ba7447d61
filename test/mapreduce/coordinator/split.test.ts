import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { planSplits } from "../../../src/mapreduce/coordinator/split.js";
import { SEED } from "../seed.js";

function plan(files: Record<string, string>, splitSize: number) {
  const bufs = Object.fromEntries(Object.entries(files).map(([p, t]) => [p, Buffer.from(t)]));
  const readAt = (path: string, pos: number, len: number) =>
    (bufs[path] as Buffer).subarray(pos, pos + len);
  return {
    bufs,
    splits: planSplits(
      Object.entries(bufs).map(([path, b]) => ({ path, size: b.length })),
      splitSize,
      readAt,
    ),
  };
}

describe("planSplits", () => {
  it("cuts after the first newline at or beyond each split size", () => {
    const { splits } = plan({ a: "aaaa\nbb\ncccccc\nd\n" }, 5);
    assert.deepEqual(splits, [
      { path: "a", start: 0, end: 5 },
      { path: "a", start: 5, end: 15 },
      { path: "a", start: 15, end: 17 },
    ]);
  });

  it("keeps small and empty files whole, one task each", () => {
    const { splits } = plan({ a: "", b: "x\ny" }, 100);
    assert.deepEqual(splits, [
      { path: "a", start: 0, end: 0 },
      { path: "b", start: 0, end: 3 },
    ]);
  });

  it("keeps a line longer than the split size whole", () => {
    const { splits } = plan({ a: `${"x".repeat(50)}\nshort\n` }, 10);
    assert.deepEqual(splits, [
      { path: "a", start: 0, end: 51 },
      { path: "a", start: 51, end: 57 },
    ]);
  });

  it("covers every file exactly, in order, cutting only at line starts (property)", () => {
    const line = fc.string({ unit: "grapheme", maxLength: 30 }).map((s) => s.replaceAll("\n", ""));
    const text = fc
      .array(line, { maxLength: 40 })
      .chain((lines) =>
        fc.boolean().map((trailing) => lines.join("\n") + (trailing && lines.length ? "\n" : "")),
      );
    fc.assert(
      fc.property(
        fc.array(text, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 200 }),
        (texts, size) => {
          const files = Object.fromEntries(texts.map((t, i) => [`f${i}`, t]));
          const { bufs, splits } = plan(files, size);
          for (const [path, buf] of Object.entries(bufs)) {
            const mine = splits.filter((s) => s.path === path);
            assert.ok(mine.length >= 1);
            assert.equal(mine[0]?.start, 0);
            assert.equal(mine.at(-1)?.end, buf.length);
            for (let i = 0; i < mine.length; i++) {
              const s = mine[i] as (typeof mine)[number];
              if (i > 0) assert.equal(s.start, mine[i - 1]?.end);
              if (i < mine.length - 1) {
                assert.ok(s.end > s.start && s.end - s.start >= size, "only large pieces are cut");
                assert.equal(buf[s.end - 1], 10, "a cut follows a newline");
              }
            }
          }
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });
});
