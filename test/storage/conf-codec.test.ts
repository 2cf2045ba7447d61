import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { simpleConf } from "../../src/raft/types.js";
import { decodeConf, encodeConf } from "../../src/storage/conf-codec.js";

const ids = fc
  .uniqueArray(fc.integer({ min: 1, max: 1000 }), { maxLength: 6 })
  .map((a) => a.sort((x, y) => x - y));

describe("conf-codec", () => {
  it("round-trips every configuration (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          voters: ids,
          learners: ids,
          votersOutgoing: ids,
          learnersNext: ids,
          autoLeave: fc.boolean(),
        }),
        (c) => assert.deepEqual(decodeConf(encodeConf(c)), { ...c }),
      ),
    );
  });

  it("reads the voter list that data written before learners existed holds", () => {
    assert.deepEqual(decodeConf([3, 1, 2]), simpleConf([1, 2, 3]));
  });

  it("refuses what is neither form", () => {
    for (const bad of [
      null,
      7,
      [[1], [], [], []],
      [[1], [], [], [], 2],
      [[0], [], [], [], 0],
      ["1"],
      [[1], [], [], [], 0, 9],
    ])
      assert.equal(decodeConf(bad), null, JSON.stringify(bad));
  });
});
