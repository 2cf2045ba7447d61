import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { StorageCorruptionError, StorageLockedError } from "../../src/storage/errors.js";
import { FileStorage } from "../../src/storage/file-storage.js";
import type { WriteBatch } from "../../src/storage/storage.js";
import { SEGMENT_HEADER_SIZE } from "../../src/storage/wal-format.js";
import { testSeed } from "./seed.js";
import { entries, expected, hardState, runStorageSuite, snapshot } from "./suite.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "raftwork-storage-"));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

// Small segments, so the conformance suite also exercises rolling (and preallocated spares).
const SMALL = { segmentSize: 4096 };
// Files that grow with every write: their size is exactly the bytes written.
const GROWING = { segmentSize: 4096, preallocate: false };

runStorageSuite("FileStorage", async () => {
  const dir = await tempDir();
  return {
    open: () => FileStorage.open(dir, SMALL),
    // A process that dies before sync() never wrote its buffered batches. (Torn writes of a sync
    // that was under way are covered by the truncation and bit-flip tests below.)
    crash: (s) => s.close() as Promise<void>,
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, "wal")))
    .filter((n) => n.endsWith(".wal")) // not the preallocated spare
    .sort()
    .map((n) => join(dir, "wal", n));
}

/** Writes and syncs each batch into a new store; returns the last segment's size after each. */
async function writeSynced(dir: string, batches: WriteBatch[]): Promise<number[]> {
  const s = await FileStorage.open(dir);
  await s.load();
  const [path] = await segmentFiles(dir);
  const ends = [(await stat(path as string)).size];
  for (const b of batches) {
    s.write(b);
    await s.sync();
    ends.push((await stat(path as string)).size);
  }
  await s.close();
  return ends;
}

async function reopenAndLoad(dir: string) {
  const s = await FileStorage.open(dir);
  try {
    return await s.load();
  } finally {
    await s.close();
  }
}

/** A repaired log takes new writes after the recovered batches, and they survive a restart. */
async function assertTakesNewWrites(dir: string, recovered: WriteBatch[]): Promise<void> {
  const more = { entries: entries(recovered.length > 0 ? 2 : 1, 3, 9), hardState: hardState(9) };
  const r = await FileStorage.open(dir, SMALL);
  await r.load();
  r.write(more);
  await r.sync();
  await r.close();
  assert.deepEqual(await reopenAndLoad(dir), expected([...recovered, more]));
}

/** Overwrites `path` with zeros from `from` to `to` (extending it if shorter). */
async function zeroFrom(path: string, from: number, to: number): Promise<void> {
  const fh = await open(path, "r+");
  try {
    await fh.write(Buffer.alloc(to - from), 0, to - from, from);
  } finally {
    await fh.close();
  }
}

/**
 * Writes `sizes` as batches of 300-byte entries into 4 KiB segments (so longer histories span
 * several), one sync each; returns the batches, the newest segment and its size after each
 * sync, and the newest segment at the end.
 */
async function writeSegmentedHistory(dir: string, sizes: number[]) {
  const batches = appendBatches(sizes);
  for (const b of batches) for (const e of b.entries ?? []) e.data = new Uint8Array(300);
  const s = await FileStorage.open(dir, GROWING);
  await s.load();
  const at: { path: string; size: number }[] = [];
  for (const b of batches) {
    s.write(b);
    await s.sync();
    const path = (await segmentFiles(dir)).at(-1) as string;
    at.push({ path, size: (await stat(path)).size });
  }
  await s.close();
  return { batches, at, newest: (at.at(-1) as { path: string }).path };
}

function appendBatches(sizes: number[]): WriteBatch[] {
  let next = 1;
  return sizes.map((n) => {
    const b = { entries: entries(next, next + n - 1, 1) };
    next += n;
    return b;
  });
}

describe("FileStorage recovery from a torn tail", () => {
  it("truncating the newest segment anywhere loses only the batches past the cut", async () => {
    const seed = testSeed("FileStorage truncation");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 12 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (sizes, cutAt) => {
          const dir = await tempDir();
          const { batches, at, newest } = await writeSegmentedHistory(dir, sizes);
          const cut = Math.floor(cutAt * (await stat(newest)).size);
          await truncate(newest, cut);
          const kept = at.filter((a) => a.path < newest || a.size <= cut).length;
          const loaded = await reopenAndLoad(dir);
          assert.deepEqual(loaded, expected(batches.slice(0, kept)), `cut=${cut} of ${newest}`);
          await assertTakesNewWrites(dir, batches.slice(0, kept));
          await rm(dir, { recursive: true, force: true });
        },
      ),
      { seed, numRuns: 30 },
    );
  });

  it("zeros from anywhere in a preallocated newest segment lose only the batches past them", async () => {
    // What a crash leaves in a zero-filled segment: the bytes after the last sync are zero (or
    // partly written, as in the test above), and the file keeps its preallocated length.
    const seed = testSeed("FileStorage zero tail");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 12 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (sizes, cutAt) => {
          const dir = await tempDir();
          const { batches, at, newest } = await writeSegmentedHistory(dir, sizes);
          const size = (await stat(newest)).size;
          // The 32-byte header goes to disk in one sector write (all or nothing), so a crash
          // leaves it whole or all zero, never partly zeroed.
          const raw = Math.floor(cutAt * size);
          const cut = raw < SEGMENT_HEADER_SIZE ? 0 : raw;
          await zeroFrom(newest, cut, size + 4096);
          const kept = at.filter((a) => a.path < newest || a.size <= cut).length;
          const o = await FileStorage.open(dir);
          const loaded = await o.load();
          await o.close();
          // Zeros at a batch boundary are the end of the log, not something to repair.
          const atBoundary = at.some((a) => a.path === newest && a.size === cut);
          if (atBoundary) assert.deepEqual(o.repairs, [], `cut=${cut}`);
          assert.deepEqual(loaded, expected(batches.slice(0, kept)), `cut=${cut} of ${newest}`);
          await assertTakesNewWrites(dir, batches.slice(0, kept));
          await rm(dir, { recursive: true, force: true });
        },
      ),
      { seed, numRuns: 30 },
    );
  });

  it("a flipped byte in the last record is a torn tail; anywhere else it is refused with file and offset", async () => {
    const seed = testSeed("FileStorage bit flip");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 6 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 255 }),
        async (sizes, at, mask) => {
          const dir = await tempDir();
          // One record per batch, so record boundaries are the sizes after each sync.
          const batches = appendBatches(sizes);
          const ends = await writeSynced(dir, batches);
          const [path] = (await segmentFiles(dir)) as [string];
          const buf = await readFile(path);
          const pos = Math.floor(at * buf.length);
          buf[pos] = (buf[pos] as number) ^ mask;
          await writeFile(path, buf);
          const lastStart = ends.at(-2) as number;
          if (pos >= lastStart) {
            assert.deepEqual(await reopenAndLoad(dir), expected(batches.slice(0, -1)));
          } else {
            // The damaged record starts at the last boundary at or before pos (the header at 0,
            // the opening state batch at 32).
            const recordStart = [0, 32, ...ends].filter((e) => e <= pos).at(-1);
            await assert.rejects(reopenAndLoad(dir), (err) => {
              assert.ok(err instanceof StorageCorruptionError, String(err));
              assert.equal(err.path, path);
              assert.equal(err.offset, recordStart, err.message);
              return true;
            });
          }
          await rm(dir, { recursive: true, force: true });
        },
      ),
      { seed, numRuns: 40 },
    );
  });

  it("refuses a record spliced in from elsewhere in the log (chained CRC)", async () => {
    const dir = await tempDir();
    // Equal-sized records: a copy of record 4 fits exactly over record 2.
    const batches = appendBatches([1, 1, 1, 1, 1]);
    const ends = await writeSynced(dir, batches);
    const [path] = (await segmentFiles(dir)) as [string];
    const buf = await readFile(path);
    const [s2, e2, s4] = [ends[1] as number, ends[2] as number, ends[3] as number];
    buf.copy(buf, s2, s4, s4 + (e2 - s2));
    await writeFile(path, buf);
    await assert.rejects(reopenAndLoad(dir), (err) => {
      assert.ok(err instanceof StorageCorruptionError);
      assert.equal(err.offset, s2);
      return true;
    });
  });

  it("removes a segment whose header never reached the disk", async () => {
    const dir = await tempDir();
    const batches = appendBatches([2, 3]);
    await writeSynced(dir, batches);
    await writeFile(
      join(dir, "wal", `${"0".repeat(15)}1-${"0".repeat(15)}6.wal`),
      Buffer.alloc(10),
    );
    const s = await FileStorage.open(dir);
    assert.match(s.repairs.join("\n"), /never written/);
    assert.deepEqual(await s.load(), expected(batches));
    await s.close();
    assert.equal((await segmentFiles(dir)).length, 1);
  });
});

describe("FileStorage segments", () => {
  const payload = "x".repeat(256);
  function bigBatches(count: number, term = 1): WriteBatch[] {
    return Array.from({ length: count }, (_, i) => ({
      entries: [
        { index: i + 1, term, type: "normal" as const, data: new TextEncoder().encode(payload) },
      ],
      hardState: hardState(term, 0, i),
    }));
  }

  it("rolls segments at the size limit and replays across them", async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir, SMALL);
    await s.load();
    const batches = bigBatches(60);
    for (const b of batches) s.write(b);
    await s.sync();
    await s.close();
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 4, `expected several segments, got ${files.length}`);
    for (const f of files.slice(0, -1)) assert.ok((await stat(f)).size <= 4096 + 400);
    assert.deepEqual(await reopenAndLoad(dir), expected(batches));
  });

  it("deletes segments and snapshot files a newer snapshot makes obsolete", async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir, SMALL);
    await s.load();
    const batches: WriteBatch[] = bigBatches(60);
    for (const b of batches) s.write(b);
    await s.sync();
    const before = await segmentFiles(dir);
    batches.push({ snapshot: snapshot(20, 1) }, ...bigBatches(80).slice(60), {
      snapshot: snapshot(75, 1),
    });
    for (const b of batches.slice(60)) s.write(b);
    await s.sync();
    const after = await segmentFiles(dir);
    assert.ok(!after.includes(before[0] as string), "the oldest segment is deleted");
    assert.deepEqual(await readdir(join(dir, "snap")), [
      `${"0".repeat(15)}1-${(75).toString(16).padStart(16, "0")}.snap`,
    ]);
    await s.close();
    const want = expected(batches);
    assert.equal(want.entries[0]?.index, 76);
    assert.deepEqual(await reopenAndLoad(dir), want);
  });

  it("refuses a truncated segment that is not the last one", async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir, SMALL);
    await s.load();
    for (const b of bigBatches(40)) s.write(b);
    await s.sync();
    await s.close();
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 3);
    const victim = files[1] as string;
    await truncate(victim, (await stat(victim)).size - 3);
    await assert.rejects(reopenAndLoad(dir), (err) => {
      assert.ok(err instanceof StorageCorruptionError);
      assert.equal(err.path, victim);
      return true;
    });
  });

  it("replays random appends, conflicts, snapshots and restarts like the reference model", async () => {
    const seed = testSeed("FileStorage random history");
    // Each step: append n entries at an offset back from the end (a conflict when back > 0) in a
    // term, or snapshot at some point of the log with its own or another term, or restart.
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("append" as const),
        back: fc.nat(4),
        n: fc.integer({ min: 1, max: 12 }),
        term: fc.integer({ min: 1, max: 4 }),
      }),
      fc.record({ kind: fc.constant("snap" as const), back: fc.nat(8), sameTerm: fc.boolean() }),
      fc.record({ kind: fc.constant("restart" as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const dir = await tempDir();
        const batches: WriteBatch[] = [];
        let s = await FileStorage.open(dir, SMALL);
        await s.load();
        for (const st of steps) {
          const model = expected(batches);
          const base = model.snapshot?.metadata.index ?? 0;
          const last = model.entries.at(-1)?.index ?? base;
          let b: WriteBatch;
          if (st.kind === "restart") {
            await s.close();
            s = await FileStorage.open(dir, SMALL);
            assert.deepEqual(await s.load(), model);
            continue;
          }
          if (st.kind === "append") {
            const from = Math.max(base + 1, last + 1 - st.back);
            b = {
              entries: entries(from, from + st.n - 1, st.term),
              hardState: hardState(st.term, 0, from),
            };
          } else {
            const index = Math.max(1, last - st.back);
            const term = model.entries.find((e) => e.index === index)?.term ?? 1;
            b = { snapshot: snapshot(index, st.sameTerm ? term : term + 1) };
          }
          // Sizeable entries, so that a history spans several segments.
          for (const e of b.entries ?? []) e.data = new Uint8Array(200).fill(e.index);
          s.write(b);
          batches.push(b);
          await s.sync();
        }
        await s.close();
        assert.deepEqual(await reopenAndLoad(dir), expected(batches));
        await rm(dir, { recursive: true, force: true });
      }),
      { seed, numRuns: 25 },
    );
  });
});

describe("FileStorage snapshot files", () => {
  it("removes snapshot files the WAL does not name (written before a crash)", async () => {
    const dir = await tempDir();
    const batches = [{ entries: entries(1, 4, 1) }, { snapshot: snapshot(2, 1) }];
    await writeSynced(dir, batches);
    await writeFile(join(dir, "snap", `${"0".repeat(15)}1-${"0".repeat(15)}4.snap`), "orphan");
    await writeFile(join(dir, "snap", "x.snap.tmp"), "partial");
    const s = await FileStorage.open(dir);
    assert.match(s.repairs.join("\n"), /unreferenced snapshot files .*4\.snap, x\.snap\.tmp/);
    assert.deepEqual(await s.load(), expected(batches));
    await s.close();
    assert.deepEqual(await readdir(join(dir, "snap")), [
      `${"0".repeat(15)}1-${"0".repeat(15)}2.snap`,
    ]);
  });

  it("refuses to start when the snapshot the WAL names is missing", async () => {
    const dir = await tempDir();
    await writeSynced(dir, [{ entries: entries(1, 4, 1) }, { snapshot: snapshot(2, 1) }]);
    const file = join(dir, "snap", `${"0".repeat(15)}1-${"0".repeat(15)}2.snap`);
    await rm(file);
    await assert.rejects(reopenAndLoad(dir), (err) => {
      assert.ok(err instanceof StorageCorruptionError);
      assert.equal(err.path, file);
      return true;
    });
  });
});

describe("FileStorage preallocated segments", () => {
  const data = new Uint8Array(200).fill(7);
  /** Writes synced batches until a zero-filled spare has become the newest segment. */
  async function untilPreallocated(dir: string): Promise<WriteBatch[]> {
    const s = await FileStorage.open(dir, SMALL);
    await s.load();
    const batches: WriteBatch[] = [];
    for (let i = 1; i <= 500; i++) {
      const b = { entries: [{ index: i, term: 1, type: "normal" as const, data }] };
      batches.push(b);
      s.write(b);
      await s.sync();
      const files = await segmentFiles(dir);
      if (files.length >= 3 && (await stat(files.at(-1) as string)).size === 4096) break;
    }
    await s.close();
    return batches;
  }

  it("only the newest segment ends in zeros, and recovery reads them as the end of the log", async () => {
    const dir = await tempDir();
    const batches = await untilPreallocated(dir);
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 3, `expected a roll into the spare, got ${files.length} segments`);
    assert.equal((await stat(files.at(-1) as string)).size, 4096, "the newest is preallocated");
    for (const f of files.slice(0, -1)) {
      // A record's crc ends the data; four zero bytes there would be the zero-filled rest.
      const tail = (await readFile(f)).subarray(-4);
      assert.ok(
        tail.some((x) => x !== 0),
        `${f} was truncated to its data (no zero tail)`,
      );
    }
    const s = await FileStorage.open(dir, SMALL);
    assert.deepEqual(s.repairs, []);
    assert.deepEqual(await s.load(), expected(batches));
    const more = { entries: entries(batches.length + 1, batches.length + 3, 1) };
    s.write(more);
    await s.sync();
    await s.close();
    assert.deepEqual(await reopenAndLoad(dir), expected([...batches, more]));
  });

  it("refuses zeros after the data of a segment that is not the last one", async () => {
    const dir = await tempDir();
    await untilPreallocated(dir);
    const first = (await segmentFiles(dir))[0] as string;
    const size = (await stat(first)).size;
    await zeroFrom(first, size, size + 512);
    await assert.rejects(reopenAndLoad(dir), (err) => {
      assert.ok(err instanceof StorageCorruptionError, String(err));
      assert.equal(err.path, first);
      return true;
    });
  });

  it("deletes a spare left behind by an earlier run", async () => {
    const dir = await tempDir();
    await writeSynced(dir, [{ entries: entries(1, 3, 1) }]);
    const spare = join(dir, "wal", "spare.wal.tmp");
    await writeFile(spare, "not zeros");
    const s = await FileStorage.open(dir);
    assert.deepEqual(await s.load(), expected([{ entries: entries(1, 3, 1) }]));
    await s.close();
    await assert.rejects(stat(spare), { code: "ENOENT" });
  });
});

describe("FileStorage prepareSnapshot (snapshot file written ahead of its marker)", () => {
  const snapFile = (index: number) =>
    `${"0".repeat(15)}1-${index.toString(16).padStart(16, "0")}.snap`;

  it("installs a prepared snapshot without rewriting its file", async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir);
    await s.load();
    const batches: WriteBatch[] = [{ entries: entries(1, 6, 1) }, { snapshot: snapshot(4, 1) }];
    s.write(batches[0] as WriteBatch);
    await s.sync();
    await s.prepareSnapshot(snapshot(4, 1));
    const file = join(dir, "snap", snapFile(4));
    const prepared = await stat(file);
    s.write(batches[1] as WriteBatch);
    await s.sync();
    // A rewrite would replace the file through a rename, giving it a new inode.
    assert.equal((await stat(file)).ino, prepared.ino);
    await s.close();
    assert.deepEqual(await reopenAndLoad(dir), expected(batches));
  });

  it("a crash between prepare and install keeps the old state and removes the orphan file", async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir);
    await s.load();
    const batches: WriteBatch[] = [{ entries: entries(1, 6, 1) }, { snapshot: snapshot(2, 1) }];
    for (const b of batches) s.write(b);
    await s.sync();
    await s.prepareSnapshot(snapshot(5, 1));
    s.write({ snapshot: snapshot(5, 1) }); // never synced
    await s.close();
    const r = await FileStorage.open(dir);
    assert.match(r.repairs.join("\n"), new RegExp(`unreferenced snapshot files ${snapFile(5)}`));
    assert.deepEqual(await r.load(), expected(batches));
    await r.close();
    assert.deepEqual(await readdir(join(dir, "snap")), [snapFile(2)]);
  });

  it("compaction for an older snapshot keeps a prepared file; a superseded one is deleted", async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir);
    await s.load();
    s.write({ entries: entries(1, 9, 1) });
    await s.sync();
    await s.prepareSnapshot(snapshot(7, 1));
    // Another snapshot installed meanwhile (the old synchronous path) compacts the directory.
    s.write({ snapshot: snapshot(3, 1) });
    await s.sync();
    assert.deepEqual((await readdir(join(dir, "snap"))).sort(), [snapFile(3), snapFile(7)]);
    s.write({ snapshot: snapshot(7, 1) });
    await s.sync();
    assert.deepEqual(await readdir(join(dir, "snap")), [snapFile(7)]);
    // A prepared snapshot older than the installed one is ignored and cleaned up.
    await s.prepareSnapshot(snapshot(6, 1));
    s.write({ snapshot: snapshot(6, 1) });
    s.write({ snapshot: snapshot(8, 1) });
    await s.sync();
    assert.deepEqual(await readdir(join(dir, "snap")), [snapFile(8)]);
    await s.close();
    const want = expected([{ entries: entries(1, 9, 1) }, { snapshot: snapshot(8, 1) }]);
    assert.deepEqual(await reopenAndLoad(dir), want);
  });
});

describe("FileStorage lock", () => {
  it("refuses a second open of the same directory while the first is open", async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir);
    await assert.rejects(FileStorage.open(dir), StorageLockedError);
    await s.close();
    const again = await FileStorage.open(dir);
    await again.close();
  });

  it("lets exactly one of two concurrent opens win", async () => {
    const dir = await tempDir();
    const results = await Promise.allSettled([FileStorage.open(dir), FileStorage.open(dir)]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    assert.equal(won.length, 1);
    assert.ok(lost[0]?.reason instanceof StorageLockedError, String(lost[0]?.reason));
    await (won[0] as PromiseFulfilledResult<FileStorage>).value.close();
  });

  it("takes over a lock left behind by a dead process", async () => {
    const dir = await tempDir();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid as number;
    await writeFile(join(dir, "LOCK"), `${dead}\n`);
    const s = await FileStorage.open(dir);
    assert.equal((await readFile(join(dir, "LOCK"), "utf8")).trim(), String(process.pid));
    await s.close();
    await assert.rejects(readFile(join(dir, "LOCK")), { code: "ENOENT" });
  });
});

describe("FileStorage group commit", () => {
  it("concurrent syncs all resolve with every batch durable, across segment rolls", async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir, SMALL);
    await s.load();
    const batches = appendBatches(Array.from({ length: 50 }, () => 2));
    for (const b of batches) for (const e of b.entries ?? []) e.data = new Uint8Array(300);
    const syncs: Promise<void>[] = [];
    for (const b of batches) {
      s.write(b);
      syncs.push(s.sync());
    }
    await Promise.all(syncs);
    await s.close();
    assert.ok((await segmentFiles(dir)).length > 3);
    assert.deepEqual(await reopenAndLoad(dir), expected(batches));
  });

  it("a later load() returns the synced state", async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir);
    await s.load();
    const batches = appendBatches([3, 2]);
    s.write(batches[0] as WriteBatch);
    await s.sync();
    s.write(batches[1] as WriteBatch); // not synced: not part of the synced state
    assert.deepEqual(await s.load(), expected(batches.slice(0, 1)));
    await s.close();
  });
});
