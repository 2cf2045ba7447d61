import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { combine, map, reduce } from "../../examples/wc.js";
import { SEED } from "./seed.js";

/** The definition the scanner must match: words are maximal runs of Unicode letters. */
function reference(text: string): Map<string, string> {
  const counts = new Map<string, number>();
  for (const w of text.match(/\p{L}+/gu) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  return new Map(Array.from(counts, ([k, n]) => [k, String(n)]));
}

const pairsOf = (text: string) => new Map(Array.from(map("f", text), (p) => [p.key, p.value]));

// Letters and non-letters from every range the scanner treats differently: ASCII, BMP, astral
// (surrogate pairs), lone surrogates, combining marks and digits.
const unit = fc.oneof(
  fc.constantFrom("a", "Z", " ", "\n", "1", "_", "-", "é", "ß", "\u0301", "日", "ー"),
  fc.constantFrom("\u{1D49C}", "\u{1F600}", "\u{20000}", "\uD835", "\uDC9C"),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
);

describe("examples/wc.ts", () => {
  it("counts maximal runs of Unicode letters, like /\\p{L}+/gu", () => {
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 60 }), (text) => {
        assert.deepEqual(pairsOf(text), reference(text));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("handles the edges: empty input, words at both ends, split surrogate pairs", () => {
    assert.deepEqual(pairsOf(""), new Map());
    assert.deepEqual(pairsOf("abc"), new Map([["abc", "1"]]));
    assert.deepEqual(
      pairsOf("Ab ab Ab\u{1D49C}x 1 \uD835"),
      new Map([
        ["Ab", "1"],
        ["ab", "1"],
        ["Ab\u{1D49C}x", "1"],
      ]),
    );
  });

  it("reduce and combine add counts", () => {
    assert.equal(reduce("w", ["3", "4", "10"]), "17");
    assert.equal(combine("w", []), "0");
  });
});
