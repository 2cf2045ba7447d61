import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryStorage } from "../../src/storage/memory-storage.js";
import { entries, expected, hardState, runStorageSuite } from "./suite.js";

runStorageSuite("MemoryStorage", async () => {
  const disk = new MemoryStorage();
  return {
    open: async () => disk,
    crash: async (s, random) => (s as MemoryStorage).crash(random),
    dispose: async () => {},
  };
});

describe("MemoryStorage crash", () => {
  it("keeps exactly the prefix the random draw selects", () => {
    const batches = [1, 2, 3, 4].map((i) => ({
      entries: entries(i, i, 1),
      hardState: hardState(i),
    }));
    // random() = r keeps floor(r * (pending + 1)) of the 3 unsynced batches.
    for (const [r, kept] of [
      [0, 0],
      [0.3, 1],
      [0.6, 2],
      [0.99, 3],
    ] as const) {
      const s = new MemoryStorage();
      s.load();
      for (const [i, b] of batches.entries()) {
        s.write(b);
        if (i === 0) s.sync();
      }
      s.crash(() => r);
      assert.deepEqual(s.load(), expected(batches.slice(0, 1 + kept)), `r=${r}`);
    }
  });

  it("drops unsynced batches on close and refuses writes until reopened", () => {
    const s = new MemoryStorage();
    s.load();
    s.write({ hardState: hardState(1) });
    s.close();
    assert.throws(() => s.write({ hardState: hardState(2) }), /after close/);
    assert.deepEqual(s.load().hardState, hardState(0));
    s.write({ hardState: hardState(3) });
    s.sync();
    assert.deepEqual(s.load().hardState, hardState(3));
  });
});
