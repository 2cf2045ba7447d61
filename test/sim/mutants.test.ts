// The mutation suite (issue 11): classic Raft bugs, planted one at a time through the hook in
// src/raft/mutants.ts, must each be reported by the simulator within a small seed budget (seeds
// 1..50 of 60 s each, every fault, configurations drawn from the seed). A bug no seed reaches
// means the fault model, the configurations or the invariants are too narrow: widen them, do
// not drop the mutant. The seed that caught each one is printed; to look at it, run the seed
// with the bug planted (plantMutant) and a trace file.
//
// The storage-layer mutants are also checked on each Storage directly, so that they stay
// planted whichever one the simulator runs (MemoryStorage, or FileStorage on SimDisk).
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { PersistedState } from "../../src/raft/api.js";
import { MUTANTS, type MutantName, plantMutant } from "../../src/raft/mutants.js";
import { FAULTS, runSimulation } from "../../src/sim/runner.js";
import { FileStorage } from "../../src/storage/file-storage.js";
import { SimDisk } from "../../src/storage/fs/sim-disk.js";
import { MemoryStorage } from "../../src/storage/memory-storage.js";
import type { WriteBatch } from "../../src/storage/storage.js";
import { KEEP_ALL, SMALL } from "../storage/machine.js";
import { entries, hardState } from "../storage/suite.js";

const SEEDS = 50;
const TIME_MS = 60_000;

after(() => plantMutant(null));

/** The first seed in 1..SEEDS whose run reports a violation with the bug planted. */
async function hunt(
  name: MutantName,
  nodes: number,
): Promise<{ seed: number; invariant: string } | null> {
  plantMutant(name);
  try {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runSimulation({ nodes, seed, timeMs: TIME_MS, faults: FAULTS });
      const v = r.violations[0];
      if (v) return { seed, invariant: v.invariant };
    }
    return null;
  } finally {
    plantMutant(null);
  }
}

/** Three nodes: the smallest cluster where every one of these bugs can lose data. */
const NODES = 3;

describe(`mutation suite: each planted bug is reported within ${SEEDS} seeds of ${TIME_MS / 1000} s`, () => {
  it("plants at least 12 classic bugs", () => {
    assert.ok(MUTANTS.length >= 12, `${MUTANTS.length} mutants`);
  });

  it("without a planted bug the same runs are clean (first seeds)", async (t) => {
    for (let seed = 1; seed <= 5; seed++) {
      const r = await runSimulation({ nodes: NODES, seed, timeMs: TIME_MS, faults: FAULTS });
      t.diagnostic(`seed ${seed}: ${r.violations.length} violations`);
      assert.deepEqual(r.violations, [], `seed ${seed}`);
    }
  });

  for (const name of MUTANTS)
    it(name, async (t) => {
      const found = await hunt(name, NODES);
      t.diagnostic(found ? `caught at seed ${found.seed} (${found.invariant})` : "not caught");
      assert.ok(
        found,
        `${name}: no violation in seeds 1..${SEEDS} (${NODES} nodes, ${TIME_MS} ms)`,
      );
    });
});

interface Store {
  write(b: WriteBatch): Promise<void>;
  /** Power loss; then what the restarted store loads. */
  crashAndLoad(): Promise<PersistedState>;
}

async function memoryStore(): Promise<Store> {
  const s = new MemoryStorage();
  return {
    write: async (b) => {
      s.write(b);
      s.sync();
    },
    crashAndLoad: async () => {
      s.crash(() => 0.99);
      return s.load();
    },
  };
}

async function fileStore(): Promise<Store> {
  const disk = new SimDisk({ random: () => 0.5 });
  const s = await FileStorage.open("/data", { ...SMALL, fs: disk.fs });
  await s.load();
  return {
    write: async (b) => {
      s.write(b);
      await s.sync();
    },
    crashAndLoad: async () => {
      disk.crash(KEEP_ALL);
      const again = await FileStorage.open("/data", { ...SMALL, fs: disk.fs });
      return again.load();
    },
  };
}

describe("the storage mutants are planted in every Storage", () => {
  for (const [kind, open] of [
    ["MemoryStorage", memoryStore],
    ["FileStorage on SimDisk", fileStore],
  ] as const) {
    it(`${kind}: disk-loses-last-fsync takes back the last synced batch at a crash`, async () => {
      const run = async (planted: boolean) => {
        plantMutant(planted ? "disk-loses-last-fsync" : null);
        try {
          const s = await open();
          await s.write({ entries: entries(1, 4, 1), hardState: hardState(1, 1, 0) });
          await s.write({ entries: entries(5, 6, 1), hardState: hardState(1, 1, 4) });
          return await s.crashAndLoad();
        } finally {
          plantMutant(null);
        }
      };
      const kept = await run(false);
      assert.equal(kept.entries.at(-1)?.index, 6);
      assert.equal(kept.hardState.commit, 4);
      const lost = await run(true);
      assert.equal(lost.entries.at(-1)?.index, 4, "the last synced batch is gone");
      assert.equal(lost.hardState.commit, 0);
    });

    it(`${kind}: lost-vote loads the hard state without its vote`, async () => {
      const s = await open();
      await s.write({ hardState: hardState(3, 2, 0) });
      plantMutant("lost-vote");
      try {
        const loaded = await s.crashAndLoad();
        assert.deepEqual(loaded.hardState, hardState(3, 0, 0));
      } finally {
        plantMutant(null);
      }
      assert.equal((await s.crashAndLoad()).hardState.vote, 2, "nothing was lost on disk");
    });
  }
});
