// FileStorage under disk faults (docs/architecture.md, "The durability model"), injected through SimDisk: a failed
// WAL write or fsync fail-stops the store; a full disk met before any byte of a batch is
// written is retryable and loses nothing; stalls only delay.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  StorageCorruptionError,
  StorageFailedError,
  StorageNoSpaceError,
} from "../../src/storage/errors.js";
import { FileStorage, type FileStorageOptions } from "../../src/storage/file-storage.js";
import type { DiskOp, DiskOpKind } from "../../src/storage/fs/sim-disk.js";
import type { WriteBatch } from "../../src/storage/storage.js";
import { SEGMENT_HEADER_SIZE } from "../../src/storage/wal-format.js";
import { KEEP_ALL, KEEP_NONE, Machine } from "./machine.js";
import { entries, expected, hardState, isDeepEqual, snapshot } from "./suite.js";

const GROWING = { segmentSize: 4096, preallocate: false };
const SMALL = { segmentSize: 4096 };

/** Batches of three 300-byte entries: a 4 KiB segment holds four of them. */
function bigBatches(count: number, from = 1): WriteBatch[] {
  return Array.from({ length: count }, (_, i) => ({
    entries: entries(from + 3 * i, from + 3 * i + 2, 1).map((e) => ({
      ...e,
      data: new Uint8Array(300).fill(e.index),
    })),
    hardState: hardState(1, 0, from + 3 * i - 1),
  }));
}

/** A machine whose fault hook fails operations matching `when` once armed. */
function faulty(seed: string, when: (op: DiskOp) => DiskFault | undefined) {
  const state = { armed: false };
  const m = new Machine(seed, { faults: (op) => (state.armed ? when(op) : undefined) });
  return { m, arm: () => (state.armed = true), disarm: () => (state.armed = false) };
}
type DiskFault = { error?: "EIO" | "ENOSPC"; delayMs?: number };

/** Fails the `nth` (1-based) and later `kind` operations on the WAL. */
function onWal(kind: DiskOpKind, error: "EIO" | "ENOSPC" = "EIO", nth = 1) {
  let seen = 0;
  return (op: DiskOp): DiskFault | undefined =>
    op.kind === kind && op.path.startsWith("/data/wal") && ++seen >= nth ? { error } : undefined;
}

async function walFiles(m: Machine): Promise<string[]> {
  return (await m.run(m.disk.fs.readdir("/data/wal"))).sort();
}

async function writeSynced(m: Machine, s: FileStorage, batches: WriteBatch[]): Promise<void> {
  for (const b of batches) {
    s.write(b);
    await m.run(s.sync());
  }
}

/** A fresh machine whose store holds `batches`, each synced. */
async function startWith(seed: string, batches: WriteBatch[], opts: FileStorageOptions) {
  const m = new Machine(seed);
  const [s] = await m.reload(opts);
  await writeSynced(m, s, batches);
  return { m, s };
}

/** Asserts `p` rejects with exactly `err` (the same object). */
async function rejectsWithSame(p: Promise<unknown> | (() => unknown), err: Error): Promise<void> {
  await assert.rejects(
    async () => (typeof p === "function" ? p() : p),
    (got) => got === err,
  );
}

describe("FileStorage fail-stop on a failed WAL write or fsync", () => {
  // A growing segment is allocated (zeros written) before each batch: the first writeSync.
  for (const [kind, nth, op] of [
    ["datasync", 1, "datasync"],
    ["writeSync", 1, "allocate"],
    ["writeSync", 2, "write"],
  ] as const) {
    it(`a failed ${op} of the WAL fails the store for good, naming the file`, async () => {
      const { m, arm, disarm } = faulty(`fail-${op}`, onWal(kind, "EIO", nth));
      const [s] = await m.reload(GROWING);
      const batches = bigBatches(3);
      await writeSynced(m, s, batches.slice(0, 1));
      arm();
      s.write(batches[1] as WriteBatch);
      const first = s.sync();
      s.write(batches[2] as WriteBatch);
      const second = s.sync(); // queued behind the failing flush: never reported durable
      const err = await m.run(first).then(
        () => assert.fail("the sync succeeded"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof StorageFailedError, String(err));
      assert.equal(err.code, "storage-failed");
      assert.equal(err.op, op);
      assert.match(err.path, /^\/data\/wal\/0{16}-0{15}1\.wal$/);
      assert.equal((err.cause as { code?: string }).code, "EIO");
      assert.match(err.message, /\/data\/wal\/.*\.wal/);
      disarm(); // the disk is fine again: the store stays failed all the same
      await rejectsWithSame(m.run(second), err);
      await rejectsWithSame(() => s.write({ hardState: hardState(9) }), err);
      await rejectsWithSame(m.run(s.sync()), err);
      await rejectsWithSame(m.run(s.load()), err);
      await rejectsWithSame(m.run(s.prepareSnapshot(snapshot(1, 1))), err);
      m.crash();
      const [r, got] = await m.reload(GROWING);
      const k = [1, 2, 3].find((n) => isDeepEqual(got, expected(batches.slice(0, n))));
      assert.ok(k !== undefined, "the synced batch survives; the rest is a prefix");
      await m.run(r.close());
    });
  }

  it("a store restarted after a failed fsync, without power loss, makes what it read durable", async () => {
    // Linux marks pages clean after a writeback error: the batch is readable from the page
    // cache but not on disk. The restarted store must not rely on it before syncing it again.
    const { m, arm, disarm } = faulty("fsyncgate", onWal("datasync"));
    const [s] = await m.reload(GROWING);
    const batches = bigBatches(2);
    await writeSynced(m, s, batches.slice(0, 1));
    arm();
    s.write(batches[1] as WriteBatch);
    await assert.rejects(m.run(s.sync()), StorageFailedError);
    disarm();
    await m.run(s.close());
    const lock = await m.run(m.disk.fs.readdir("/data"));
    assert.ok(lock.includes("LOCK"), "a failed store leaves its lock: the stop was not clean");
    const [r, got] = await m.reload(GROWING);
    assert.deepEqual(got, expected(batches), "the cache still holds the failed batch");
    assert.match(r.repairs.join("\n"), /re-synced the newest WAL segment/);
    m.crash(KEEP_NONE); // power loss: only what is durable remains
    await m.assertReloads(expected(batches), GROWING);
  });

  for (const kind of ["rename", "syncDir"] as const) {
    it(`a failed ${kind} while rolling to a new segment fails the store`, async () => {
      const { m, arm } = faulty(`fail-${kind}`, onWal(kind));
      const [s] = await m.reload(GROWING);
      await writeSynced(m, s, bigBatches(4));
      arm();
      for (const b of bigBatches(2, 13)) s.write(b); // the second one rolls over
      await assert.rejects(m.run(s.sync()), (err) => {
        assert.ok(err instanceof StorageFailedError, String(err));
        assert.equal(err.op, kind === "rename" ? "rename" : "sync directory");
        return true;
      });
      assert.throws(() => s.write({ hardState: hardState(2) }), StorageFailedError);
    });
  }

  it("ENOSPC from an fsync (not while allocating) is a failed fsync: fatal", async () => {
    const { m, arm } = faulty("fsync-enospc", onWal("datasync", "ENOSPC"));
    const [s] = await m.reload(GROWING);
    arm();
    s.write({ hardState: hardState(1) });
    await assert.rejects(m.run(s.sync()), StorageFailedError);
  });
});

/** Asserts `p` rejects with StorageNoSpaceError. */
async function rejectsNoSpace(m: Machine, p: Promise<unknown>): Promise<StorageNoSpaceError> {
  const err = await m.run(p).then(
    () => assert.fail("expected no-space"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StorageNoSpaceError, String(err));
  assert.equal(err.code, "storage-no-space");
  return err;
}

describe("FileStorage on a full disk: retryable, nothing lost", () => {
  it("a roll that needs a new segment on a full disk writes no byte of the batch, and resumes when space returns", async () => {
    const before = bigBatches(4);
    const { m, s } = await startWith("full-roll", before, GROWING);
    const segments = await walFiles(m);
    const bytes = await m.run(m.disk.fs.readFile(`/data/wal/${segments.at(-1)}`));
    m.disk.capacity = m.disk.used; // not one byte more
    const roll = bigBatches(1, 13);
    s.write(roll[0] as WriteBatch);
    await rejectsNoSpace(m, s.sync());
    // Nothing of the batch reached the disk: the files are as they were, no temp file left.
    assert.deepEqual(await walFiles(m), segments);
    assert.deepEqual(await m.run(m.disk.fs.readFile(`/data/wal/${segments.at(-1)}`)), bytes);
    // The store is consistent and usable: load() is the synced state, writes queue behind.
    assert.deepEqual(await m.run(s.load()), expected(before));
    const more = bigBatches(1, 16);
    s.write(more[0] as WriteBatch);
    await rejectsNoSpace(m, s.sync()); // still full
    m.disk.capacity = Number.POSITIVE_INFINITY;
    await m.run(s.sync());
    await m.run(s.close());
    await m.assertReloads(expected([...before, ...roll, ...more]), GROWING);
  });

  it("a full disk while a segment grows: the allocation is undone, a crash keeps nothing of the batch", async () => {
    const before = bigBatches(1);
    const { m, s } = await startWith("full-grow", before, GROWING);
    const [segment] = await walFiles(m);
    const length = (await m.run(m.disk.fs.readFile(`/data/wal/${segment}`))).length;
    m.disk.capacity = m.disk.used + 100; // room for part of the next batch only
    s.write(bigBatches(1, 4)[0] as WriteBatch);
    await rejectsNoSpace(m, s.sync());
    const after = await m.run(m.disk.fs.readFile(`/data/wal/${segment}`));
    assert.equal(after.length, length, "the zeros written to allocate are cut off again");
    m.crash(KEEP_ALL); // even if every unsynced change reached the disk
    await m.assertReloads(expected(before), GROWING);
  });

  it("open on a full disk rejects with no-space and succeeds once space returns", async () => {
    const batches = bigBatches(1);
    const { m, s } = await startWith("full-open", batches, GROWING);
    await m.run(s.close());
    m.disk.capacity = m.disk.used; // the lock file needs a few bytes
    await rejectsNoSpace(m, FileStorage.open("/data", { ...GROWING, fs: m.disk.fs }));
    m.disk.capacity = Number.POSITIVE_INFINITY;
    await m.assertReloads(expected(batches), GROWING);
  });

  it("a roll into the preallocated spare needs no new space", async () => {
    const batches = bigBatches(2);
    const { m, s } = await startWith("full-spare", batches, SMALL);
    await m.clock.runUntil(m.clock.now); // the spare is filled in the background
    assert.ok((await walFiles(m)).includes("spare.wal.tmp"), "a spare is ready");
    m.disk.capacity = m.disk.used;
    const next = bigBatches(1, 7);
    s.write(next[0] as WriteBatch); // rolls into the spare
    await m.run(s.sync());
    await m.run(s.close());
    m.disk.capacity = Number.POSITIVE_INFINITY;
    const [r, got] = await m.reload(SMALL);
    assert.deepEqual(got, expected([...batches, ...next]));
    assert.equal((await walFiles(m)).filter((n) => n.endsWith(".wal")).length, 2);
    await m.run(r.close());
  });

  it("a spare that does not fit gives its space back and preallocation resumes later", async () => {
    const m = new Machine("spare-enospc");
    const [s] = await m.reload(SMALL);
    m.disk.capacity = m.disk.used + 3000; // the WAL fits for a while; a 4 KiB spare does not
    s.write({ entries: entries(1, 1, 1), hardState: hardState(1) });
    await m.run(s.sync());
    await m.clock.runUntil(m.clock.now);
    assert.ok(!(await walFiles(m)).includes("spare.wal.tmp"), "the partial spare is removed");
    const used = m.disk.used;
    m.disk.capacity = Number.POSITIVE_INFINITY;
    for (const b of bigBatches(1, 2)) s.write(b); // grows the segment past the retry point
    await m.run(s.sync());
    await m.clock.runUntil(m.clock.now);
    assert.ok((await walFiles(m)).includes("spare.wal.tmp"), "filled once space returned");
    assert.ok(m.disk.used > used + 4096);
    await m.run(s.close());
  });

  it("prepareSnapshot on a full disk rejects with no-space and leaves no trace; it succeeds later", async () => {
    const batches: WriteBatch[] = [{ entries: entries(1, 5, 1) }];
    const { m, s } = await startWith("full-prepare", batches, GROWING);
    m.disk.capacity = m.disk.used + 10;
    const snap = { ...snapshot(4, 1), data: new Uint8Array(5000).fill(4) };
    await rejectsNoSpace(m, s.prepareSnapshot(snap));
    assert.deepEqual(await m.run(m.disk.fs.readdir("/data/snap")), [], "no temp file left");
    assert.throws(() => s.write({ snapshot: { metadata: snap.metadata } }), /not prepared/);
    m.disk.capacity = Number.POSITIVE_INFINITY;
    await m.run(s.prepareSnapshot(snap));
    s.write({ snapshot: { metadata: snap.metadata } });
    await m.run(s.sync());
    batches.push({ snapshot: snap });
    await m.run(s.close());
    await m.assertReloads(expected(batches), GROWING);
  });

  it("a snapshot file written by a flush on a full disk: no WAL byte written, retried by the next sync", async () => {
    const batches: WriteBatch[] = [{ entries: entries(1, 5, 1) }];
    const { m, s } = await startWith("full-inline-snap", batches, GROWING);
    const [segment] = await walFiles(m);
    const wal = await m.run(m.disk.fs.readFile(`/data/wal/${segment}`));
    m.disk.capacity = m.disk.used + 1000;
    const snap = { ...snapshot(4, 1), data: new Uint8Array(5000).fill(4) };
    s.write({ snapshot: snap, hardState: hardState(1, 0, 4) });
    batches.push({ snapshot: snap, hardState: hardState(1, 0, 4) });
    await rejectsNoSpace(m, s.sync());
    assert.deepEqual(await m.run(m.disk.fs.readFile(`/data/wal/${segment}`)), wal);
    assert.deepEqual(await m.run(m.disk.fs.readdir("/data/snap")), []);
    m.disk.capacity = Number.POSITIVE_INFINITY;
    await m.run(s.sync());
    m.crash(); // synced: survives whatever the crash keeps of the rest
    await m.assertReloads(expected(batches), GROWING);
  });
});

describe("FileStorage under stalls", () => {
  it("a stalled fsync delays sync() until it completes; later syncs wait behind it", async () => {
    let stalls = 0; // how many WAL fsyncs to stall
    const m = new Machine("stall", {
      faults: (op) =>
        op.kind === "datasync" && op.path.startsWith("/data/wal/") && stalls-- > 0
          ? { delayMs: 5000 }
          : undefined,
    });
    const [s] = await m.reload(GROWING);
    stalls = 1;
    s.write({ hardState: hardState(1) });
    const start = m.clock.now;
    const order: string[] = [];
    const first = s.sync().then(() => order.push(`first at ${m.clock.now - start}`));
    s.write({ hardState: hardState(2) });
    const second = s.sync().then(() => order.push(`second at ${m.clock.now - start}`));
    await m.run(Promise.all([first, second]));
    assert.deepEqual(order, ["first at 5000", "second at 5000"]);
    await m.run(s.close());
  });
});

describe("FileStorage corruption on a simulated disk", () => {
  it("damage in a synced record that is not the last is refused, naming the file and offset", async () => {
    const { m, s } = await startWith("corrupt", bigBatches(3), GROWING);
    await m.run(s.close());
    const [segment] = await walFiles(m);
    const path = `/data/wal/${segment}`;
    const fh = await m.run(m.disk.fs.open(path, "r+"));
    // The opening state batch ends the header's batch; the first big batch starts after it.
    const buf = Buffer.alloc(1);
    const at = SEGMENT_HEADER_SIZE + 40;
    await m.run(fh.read(buf, at));
    await m.run(fh.write(Buffer.from([(buf[0] as number) ^ 0xff]), at));
    await m.run(fh.close());
    await assert.rejects(m.open(GROWING), (err) => {
      assert.ok(err instanceof StorageCorruptionError, String(err));
      assert.equal(err.path, path);
      assert.ok(err.offset >= SEGMENT_HEADER_SIZE && err.offset <= at, `offset ${err.offset}`);
      return true;
    });
  });
});
