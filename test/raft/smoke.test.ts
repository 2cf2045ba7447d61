import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Cluster } from "./harness.js";

describe("smoke", () => {
  it("elects and replicates", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    c.propose(1, "a");
    c.propose(1, "b");
    c.stabilize();
    c.tickAll(3);
    for (const id of c.ids) assert.deepEqual(c.applied.get(id), ["a", "b"], `node ${id}`);
  });
  it("elects by ticking", () => {
    const c = new Cluster({ n: 5, seed: 7 });
    c.tickAll(40);
    assert.equal(c.leaders().length, 1);
  });
});
