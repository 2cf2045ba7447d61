import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareUtf8, defaultPartition } from "../../../src/mapreduce/format/keys.js";
import { SEED } from "../seed.js";

const sign = (n: number) => Math.sign(n);

/** Reference FNV-1a over Buffer.from(key) (which encodes lone surrogates as U+FFFD). */
function fnv(key: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(key, "utf8")) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

describe("compareUtf8", () => {
  it("orders astral characters after U+E000..U+FFFF, unlike JS string order", () => {
    const astral = "\u{1D4B3}"; // 𝒳, UTF-16 D835 DCB3
    const bmp = "\uFF21"; // Ａ
    assert.ok(astral < bmp, "JS order puts the surrogate first");
    assert.ok(compareUtf8(astral, bmp) > 0);
    assert.ok(Buffer.compare(Buffer.from(astral), Buffer.from(bmp)) > 0);
  });

  it("agrees with Buffer.compare on UTF-8 encodings (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), (a, b) => {
        assert.equal(sign(compareUtf8(a, b)), sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });
});

describe("defaultPartition", () => {
  it("is FNV-1a of the UTF-8 bytes modulo nReduce (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.integer({ min: 1, max: 1000 }), (key, n) => {
        const r = defaultPartition(key, n);
        assert.ok(Number.isInteger(r) && r >= 0 && r < n);
        assert.equal(r, fnv(key) % n);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("is stable: known values never change across releases", () => {
    assert.equal(defaultPartition("", 10), 0x811c9dc5 % 10);
    assert.deepEqual(
      ["the", "whale", "über", "𝒳"].map((k) => defaultPartition(k, 7)),
      ["the", "whale", "über", "𝒳"].map((k) => fnv(k) % 7),
    );
  });
});
