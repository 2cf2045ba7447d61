// Snapshots of the MVCC store: a clean cut at the revision of the call, whatever is applied
// while the chunks are produced; the same bytes on every member whatever each has pruned;
// chunks of bounded size; damaged streams rejected without touching the target store.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  restoreSnapshot,
  SnapshotAbortedError,
  SnapshotFormatError,
  SnapshotReader,
  snapshotChunks,
} from "../../../src/kv/mvcc/snapshot.js";
import { MvccStore } from "../../../src/kv/mvcc/store.js";
import { bytes as b, plain, SEED } from "./model.js";

const ALL = { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) };

/** A store with history, tombstones, leases and a compaction, built from `seed`. */
function busyStore(seed: number, keys = 200, writes = 2000): MvccStore {
  const s = new MvccStore();
  let x = seed;
  const next = (n: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
  s.leaseGrant(11n, 30, 0);
  s.leaseGrant(-12n, 60, 0);
  s.leaseGrant(13n, 90, 0);
  for (let i = 0; i < writes; i++) {
    const key = b(`key/${next(keys)}`);
    const r = next(10);
    if (r < 7) {
      const lease = [0n, 0n, 11n, -12n][next(4)] as bigint;
      s.put({ key, value: new Uint8Array(next(40)).fill(i % 251), lease });
    } else s.deleteRange({ key });
    if (i === writes / 2) s.compact(s.revision - 50);
  }
  return s;
}

const bytesOf = (chunks: Iterable<Uint8Array>) => Buffer.concat([...chunks]);

/** Every readable revision of `s`, as plain data. */
function history(s: MvccStore): unknown[] {
  const out: unknown[] = [];
  for (let r = Math.max(s.compactRevision, 1); r <= s.revision; r++) {
    const got = s.range({ ...ALL, revision: r });
    assert.ok(got.ok);
    out.push(plain(got.value.kvs));
  }
  return out;
}

describe("MVCC snapshots", () => {
  it("restore gives back every readable revision, the leases with their keys, and the extras", () => {
    const s = busyStore(1);
    const sessions = b("opaque session bytes");
    const chunks = [
      ...snapshotChunks(s, {
        extras: [
          ["sessions", sessions],
          ["empty", new Uint8Array()],
        ],
      }),
    ];
    const copy = new MvccStore();
    let told = 0;
    copy.observe({ restored: () => told++ });
    const extras = restoreSnapshot(copy, chunks);
    assert.equal(told, 1);
    assert.deepEqual([...(extras.get("sessions") as Uint8Array)], [...sessions]);
    assert.equal(extras.get("empty")?.length, 0);
    assert.equal(copy.revision, s.revision);
    assert.equal(copy.compactRevision, s.compactRevision);
    assert.deepEqual(history(copy), history(s));
    assert.deepEqual(copy.leases.ids(), s.leases.ids());
    for (const id of s.leases.ids()) {
      assert.equal(copy.leases.get(id)?.ttl, s.leases.get(id)?.ttl);
      assert.deepEqual(
        [...(copy.leases.get(id)?.keys ?? [])].sort(),
        [...(s.leases.get(id)?.keys ?? [])].sort(),
      );
    }
    // The restored store carries on like the original.
    for (const t of [s, copy]) t.put({ key: b("key/1"), value: b("after") });
    assert.deepEqual(history(copy), history(s));
  });

  it("encodes the same bytes whatever pruning each member has done", () => {
    const pruned = busyStore(2);
    while (pruned.maintain(10));
    const lazy = busyStore(2);
    assert.ok(bytesOf(snapshotChunks(pruned)).equals(bytesOf(snapshotChunks(lazy))));
    assert.ok(pruned.stats().versions <= lazy.stats().versions);
  });

  it("is a clean cut: writes, deletes, compactions and revokes during encoding change nothing", () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.integer({ min: 64, max: 2048 }), (seed, chunkBytes) => {
        const s = busyStore(seed, 600, 3000);
        const expected = bytesOf(snapshotChunks(s, { chunkBytes }));
        const it = snapshotChunks(s, { chunkBytes });
        const got: Uint8Array[] = [];
        let i = 0;
        for (let step = it.next(); !step.done; step = it.next()) {
          got.push(step.value);
          i++;
          s.put({
            key: b(`key/${(i * 7) % 600}`),
            value: b(`during ${i}`),
            lease: i % 5 === 0 ? 13n : 0n,
          });
          s.deleteRange({ key: b(`key/${(i * 13) % 600}`) });
          if (i % 3 === 0) s.compact(s.revision - 1);
          if (i === 4) s.leaseRevoke(11n);
          s.maintain(50);
        }
        assert.ok(bytesOf(got).equals(expected));
      }),
      { seed: SEED, numRuns: 15 },
    );
  });

  it("yields chunks of about chunkBytes; one larger only for a record that needs it", () => {
    const s = busyStore(3);
    s.put({ key: b("big"), value: new Uint8Array(10_000) });
    const chunks = [...snapshotChunks(s, { chunkBytes: 1024 })];
    assert.ok(chunks.length > 10);
    for (const c of chunks.filter((c) => c.length > 1024)) {
      const buf = Buffer.from(c);
      assert.equal(buf.readUInt32LE(0) + 5, c.length, "an oversized chunk holds one record");
      assert.equal(buf.readUInt32LE(5), 1, "... of one key");
    }
    assert.ok(chunks.some((c) => c.length > 10_000));
  });

  it("a restore stops a snapshot of the state it replaces", () => {
    const s = busyStore(4, 2000, 4000);
    const it = snapshotChunks(s, { chunkBytes: 512 });
    it.next();
    restoreSnapshot(s, snapshotChunks(busyStore(5)));
    assert.throws(() => {
      for (let step = it.next(); !step.done; step = it.next());
    }, SnapshotAbortedError);
  });

  it("holds pruning back only while it runs, even when returned before it starts", () => {
    const s = busyStore(6);
    const it = snapshotChunks(s);
    s.compact(s.revision);
    assert.equal(s.maintenancePending, false, "the snapshot needs the history from its cut");
    it.return?.();
    assert.equal(s.maintenancePending, true);
    while (s.maintain(100));
    // Left: each key's value; for a key changed at the compact revision itself, also the
    // version before (the prev_kv of a replayed event), and a delete's tombstone.
    const atCut = s.changesAt(s.revision);
    let extra = 0;
    for (let i = 0; i < (atCut?.size ?? 0); i++) {
      if (atCut?.isDelete(i)) extra += 2;
      else if (atCut?.event(i, true).prevKv) extra += 1;
    }
    assert.equal(s.stats().versions, s.keyCount + extra);
  });

  it("rejects damaged streams with SnapshotFormatError and leaves the target untouched", () => {
    const good = bytesOf(snapshotChunks(busyStore(7)));
    const target = busyStore(8);
    const before = bytesOf(snapshotChunks(target));
    const attempt = (data: Uint8Array) => {
      const r = new SnapshotReader();
      r.push(data);
      target.adopt(r.finish().image);
    };
    assert.throws(() => attempt(good.subarray(0, good.length - 3)), SnapshotFormatError);
    const badMagic = Buffer.from(good);
    badMagic[5] = 0;
    assert.throws(() => attempt(badMagic), SnapshotFormatError);
    assert.throws(() => attempt(Buffer.concat([good, good.subarray(0, 40)])), SnapshotFormatError);
    assert.ok(bytesOf(snapshotChunks(target)).equals(before));
    // Any single flipped byte: rejected, or decoded into some other valid state; never a crash.
    let rejected = 0;
    for (let i = 0; i < good.length; i += Math.max(1, Math.floor(good.length / 3000))) {
      const bad = Buffer.from(good);
      bad[i] = (bad[i] as number) ^ 0x5a;
      try {
        const r = new SnapshotReader();
        r.push(bad);
        r.finish();
      } catch (e) {
        assert.ok(e instanceof SnapshotFormatError, `byte ${i}: ${(e as Error).stack}`);
        rejected++;
      }
    }
    assert.ok(rejected > 0);
  });
});
