// One conformance suite for every Storage adapter (memory, file): the contract in
// src/storage/storage.ts, checked the same way against each.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { PersistedState, Random } from "../../src/raft/api.js";
import { type Entry, type HardState, type Snapshot, simpleConf } from "../../src/raft/types.js";
import { applyBatch, emptyLogState } from "../../src/storage/log-state.js";
import { EMPTY_HARD_STATE, type Storage, type WriteBatch } from "../../src/storage/storage.js";
import { testSeed } from "./seed.js";

/** How the suite drives one adapter: one underlying "disk", opened by one process at a time. */
export interface StorageHarness {
  /** Opens the storage: empty the first time, the same data afterwards. Call load() next. */
  open(): Promise<Storage>;
  /** Kills the process using `s`: synced batches survive, of the rest some prefix does. */
  crash(s: Storage, random: Random): Promise<void>;
  /** Removes everything the harness created. */
  dispose(): Promise<void>;
}

export function entry(index: number, term: number, text = `e${index}.${term}`): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(text) };
}

export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export function snapshot(index: number, term: number, voters = [1, 2, 3]): Snapshot {
  return {
    metadata: { index, term, conf: simpleConf(voters) },
    data: new TextEncoder().encode(`state@${index}`),
  };
}

export function hardState(term: number, vote = 0, commit = 0): HardState {
  return { term, vote, commit };
}

/** The state the contract says a sequence of batches leads to (the reference model). */
export function expected(batches: WriteBatch[]): PersistedState {
  const s = emptyLogState<Entry, Snapshot>();
  for (const b of batches) applyBatch(s, b);
  return { hardState: s.hardState, snapshot: s.snapshot, entries: s.entries };
}

export function runStorageSuite(name: string, factory: () => Promise<StorageHarness>): void {
  describe(`Storage conformance: ${name}`, () => {
    // Opens a fresh harness, runs `body`, disposes the harness even when the body fails.
    async function withHarness(body: (h: StorageHarness) => Promise<void>): Promise<void> {
      const h = await factory();
      try {
        await body(h);
      } finally {
        await h.dispose();
      }
    }

    // Writes and syncs each batch, reopens, and compares load() with the reference model.
    async function roundTrip(batches: WriteBatch[], want?: PersistedState): Promise<void> {
      await withHarness(async (h) => {
        const s = await h.open();
        await s.load();
        for (const b of batches) {
          await s.write(b);
          await s.sync();
        }
        await s.close();
        const r = await h.open();
        assert.deepEqual(await r.load(), want ?? expected(batches));
        await r.close();
      });
    }

    it("loads an empty state from a new store", async () => {
      await roundTrip([], { hardState: EMPTY_HARD_STATE, snapshot: null, entries: [] });
    });

    it("round-trips entries and hard state across a restart", async () => {
      await roundTrip(
        [
          { entries: entries(1, 3, 1), hardState: hardState(1, 2, 0) },
          { entries: entries(4, 6, 2), hardState: hardState(2, 0, 5) },
        ],
        {
          hardState: hardState(2, 0, 5),
          snapshot: null,
          entries: [...entries(1, 3, 1), ...entries(4, 6, 2)],
        },
      );
    });

    it("keeps the latest hard state, including hard-state-only batches", async () => {
      await roundTrip(
        [
          { hardState: hardState(1, 1) },
          { entries: entries(1, 1, 1) },
          { hardState: hardState(3, 2, 1) },
        ],
        { hardState: hardState(3, 2, 1), snapshot: null, entries: entries(1, 1, 1) },
      );
    });

    it("truncates the log on a conflicting append (§5.3)", async () => {
      await roundTrip([{ entries: entries(1, 5, 1) }, { entries: entries(3, 4, 2) }], {
        hardState: EMPTY_HARD_STATE,
        snapshot: null,
        entries: [...entries(1, 2, 1), ...entries(3, 4, 2)],
      });
    });

    it("drops entries a snapshot covers and keeps the rest when the terms match (§7)", async () => {
      await roundTrip([{ entries: entries(1, 10, 1) }, { snapshot: snapshot(6, 1) }], {
        hardState: EMPTY_HARD_STATE,
        snapshot: snapshot(6, 1),
        entries: entries(7, 10, 1),
      });
    });

    it("drops the whole log when the snapshot's last entry has another term (§7)", async () => {
      await roundTrip([{ entries: entries(1, 10, 1) }, { snapshot: snapshot(6, 2) }], {
        hardState: EMPTY_HARD_STATE,
        snapshot: snapshot(6, 2),
        entries: [],
      });
    });

    it("drops the whole log for a snapshot beyond its end", async () => {
      await roundTrip([{ entries: entries(1, 3, 1) }, { snapshot: snapshot(9, 2) }], {
        hardState: EMPTY_HARD_STATE,
        snapshot: snapshot(9, 2),
        entries: [],
      });
    });

    it("ignores a snapshot older than the stored one", async () => {
      await roundTrip(
        [
          { entries: entries(1, 10, 1) },
          { snapshot: snapshot(6, 1) },
          { snapshot: snapshot(3, 1) },
        ],
        { hardState: EMPTY_HARD_STATE, snapshot: snapshot(6, 1), entries: entries(7, 10, 1) },
      );
    });

    it("applies a batch's snapshot before its entries and hard state", async () => {
      await roundTrip(
        [
          { entries: entries(1, 4, 1) },
          { snapshot: snapshot(8, 2), entries: entries(9, 10, 2), hardState: hardState(2, 0, 10) },
        ],
        {
          hardState: hardState(2, 0, 10),
          snapshot: snapshot(8, 2),
          entries: entries(9, 10, 2),
        },
      );
    });

    // Regression (FileStorage random history, seed 1214108535): replay must keep the truncation
    // done by an append that a later snapshot covers.
    it("keeps a conflict truncation that a later snapshot covers", async () => {
      await roundTrip(
        [
          { entries: entries(1, 2, 1) },
          { entries: entries(1, 1, 1) },
          { snapshot: snapshot(1, 1) },
        ],
        { hardState: EMPTY_HARD_STATE, snapshot: snapshot(1, 1), entries: [] },
      );
    });

    it("skips appended entries the snapshot already covers", async () => {
      await roundTrip([{ snapshot: snapshot(5, 1) }, { entries: entries(3, 7, 1) }], {
        hardState: EMPTY_HARD_STATE,
        snapshot: snapshot(5, 1),
        entries: entries(6, 7, 1),
      });
    });

    it("refuses an append that would leave a gap in the log", async () => {
      await withHarness(async (h) => {
        const s = await h.open();
        await s.load();
        await s.write({ entries: entries(1, 2, 1) });
        await assert.rejects(async () => s.write({ entries: entries(5, 6, 1) }), /gap/);
        await s.close();
      });
    });

    it("returns copies: mutating what load() returned or what was written changes nothing", async () => {
      await withHarness(async (h) => {
        const s = await h.open();
        await s.load();
        const batch: WriteBatch = {
          snapshot: snapshot(2, 1),
          entries: entries(3, 4, 1),
          hardState: hardState(1, 1, 4),
        };
        await s.write(batch);
        (batch.entries as Entry[])[0]?.data.fill(0);
        (batch.entries as Entry[]).pop();
        batch.snapshot?.data?.fill(0);
        await s.sync();
        await s.close();
        const want: PersistedState = {
          hardState: hardState(1, 1, 4),
          snapshot: snapshot(2, 1),
          entries: entries(3, 4, 1),
        };
        const r = await h.open();
        const got = await r.load();
        assert.deepEqual(got, want);
        got.entries[0]?.data.fill(7);
        got.entries.pop();
        got.snapshot?.data.fill(7);
        got.hardState.term = 99;
        await r.close();
        const again = await h.open();
        assert.deepEqual(await again.load(), want);
        await again.close();
      });
    });

    describe("snapshots in chunks", () => {
      const data = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
      async function* chunksOf(bytes: Uint8Array, size: number) {
        for (let off = 0; off < bytes.length; off += size) yield bytes.slice(off, off + size);
      }
      type Streaming = Storage & Required<Pick<Storage, "prepareSnapshotStream" | "readSnapshot">>;
      function streaming(st: Storage): Streaming {
        assert.ok(st.prepareSnapshotStream && st.readSnapshot, "the adapter streams snapshots");
        return st as Streaming;
      }
      async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
        const parts: Uint8Array[] = [];
        for await (const c of chunks) parts.push(c);
        return Uint8Array.from(parts.flatMap((p) => [...p]));
      }

      it("stores a snapshot from chunks, installs it by its metadata, reads it back", async () => {
        await withHarness(async (h) => {
          const s = await h.open();
          await s.load();
          const snap = { ...snapshot(4, 1), data: data(10_000) };
          await s.write({ entries: entries(1, 6, 1) });
          await s.sync();
          await streaming(s).prepareSnapshotStream(snap.metadata, chunksOf(snap.data, 999));
          await s.write({ snapshot: { metadata: snap.metadata } });
          await s.sync();
          assert.deepEqual(await collect(streaming(s).readSnapshot(snap.metadata)), snap.data);
          await s.close();
          const want = expected([{ entries: entries(1, 6, 1) }, { snapshot: snap }]);
          const r = await h.open();
          const lean = await r.load({ snapshotData: false });
          assert.deepEqual(lean, { ...want, snapshot: { ...snap, data: new Uint8Array(0) } });
          assert.deepEqual(await collect(streaming(r).readSnapshot(snap.metadata)), snap.data);
          await r.close();
          const again = await h.open();
          assert.deepEqual(await again.load(), want);
          await again.close();
        });
      });

      it("a producer that fails leaves the store as it was", async () => {
        await withHarness(async (h) => {
          const s = await h.open();
          await s.load();
          await s.write({ entries: entries(1, 3, 1) });
          await s.sync();
          async function* broken() {
            yield data(100);
            throw new Error("state machine gave up");
          }
          const meta = snapshot(2, 1).metadata;
          await assert.rejects(
            streaming(s).prepareSnapshotStream(meta, broken()),
            /state machine gave up/,
          );
          await assert.rejects(
            async () => s.write({ snapshot: { metadata: meta } }),
            /not prepared/,
          );
          await s.write({ hardState: hardState(1) });
          await s.sync();
          await s.close();
          const r = await h.open();
          const want = expected([{ entries: entries(1, 3, 1) }, { hardState: hardState(1) }]);
          assert.deepEqual(await r.load(), want);
          await r.close();
        });
      });
    });

    it("keeps synced batches and a prefix of unsynced ones across a crash", async () => {
      const seed = testSeed(`${name} crash property`);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
          fc.nat({ max: 6 }),
          fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          async (sizes, syncedCount, r) => {
            // Batches appending sizes[i] entries each, the first `synced` of them synced.
            const batches: WriteBatch[] = [];
            let next = 1;
            for (const [i, n] of sizes.entries()) {
              batches.push({
                entries: entries(next, next + n - 1, 1),
                hardState: hardState(1, 0, i),
              });
              next += n;
            }
            const synced = Math.min(syncedCount, batches.length);
            await withHarness(async (h) => {
              const s = await h.open();
              await s.load();
              for (const [i, b] of batches.entries()) {
                await s.write(b);
                if (i + 1 === synced) await s.sync();
              }
              await h.crash(s, () => r);
              const r2 = await h.open();
              const got = await r2.load();
              const prefixes = [];
              for (let k = synced; k <= batches.length; k++)
                prefixes.push(expected(batches.slice(0, k)));
              assert.ok(
                prefixes.some((p) => isDeepEqual(p, got)),
                `state after crash is not a prefix of >= ${synced} batches: ${JSON.stringify(got.hardState)}`,
              );
              // The store keeps working after the crash.
              await r2.write({ hardState: hardState(7) });
              await r2.sync();
              await r2.close();
              const r3 = await h.open();
              assert.equal((await r3.load()).hardState.term, 7);
              await r3.close();
            });
          },
        ),
        { seed, numRuns: 25 },
      );
    });
  });
}

export function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}
