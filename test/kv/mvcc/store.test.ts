// The MVCC store's behaviours, one etcd rule per test (names follow etcd's own tests where it
// has one: TestV3PutOverwrite, TestV3TxnRevision, TestV3TxnDuplicateKeys, ...).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { prefixEnd } from "../../../src/kv/mvcc/keys.js";
import { MvccStore, type StoreResult } from "../../../src/kv/mvcc/store.js";
import {
  CompareResult,
  CompareTarget,
  type RangeRequest,
  type RequestOp,
  SortOrder,
  SortTarget,
} from "../../../src/kv/mvcc/types.js";
import { bytes, kvOf, text } from "./model.js";

const b = bytes;
const ALL = { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) };

function value<T>(r: StoreResult<T>): T {
  if (!r.ok) assert.fail(`unexpected error: ${r.error.message}`);
  return r.value;
}

function error<T>(r: StoreResult<T>): string {
  if (r.ok) assert.fail("expected an error");
  return r.error.message;
}

/** a[i], which the test expects to be there. */
function nth<T>(a: readonly T[] | undefined, i = 0): T {
  const v = a?.[i];
  assert.ok(v !== undefined, `no element ${i}`);
  return v;
}

function keys(s: MvccStore, req: RangeRequest = ALL): string[] {
  return value(s.range(req)).kvs.map((kv) => text(kv.key));
}

function storeWith(...pairs: Array<[string, string]>): MvccStore {
  const s = new MvccStore();
  for (const [k, v] of pairs) value(s.put({ key: b(k), value: b(v) }));
  return s;
}

describe("revisions", () => {
  it("a fresh store is at revision 1 and answers reads with it", () => {
    const s = new MvccStore();
    assert.equal(s.revision, 1);
    assert.deepEqual(value(s.range({ key: b("foo") })), {
      revision: 1,
      kvs: [],
      more: false,
      count: 0,
    });
  });

  it("TestV3PutOverwrite: each put makes one revision; create_revision stays, version counts", () => {
    const s = new MvccStore();
    assert.equal(value(s.put({ key: b("foo"), value: b("bar") })).revision, 2);
    const second = value(s.put({ key: b("foo"), value: b("baz"), prevKv: true }));
    assert.equal(second.revision, 3);
    assert.deepEqual(kvOf(nth(second.prevKv ? [second.prevKv] : [])), {
      key: "foo",
      value: "bar",
      create: 2,
      mod: 2,
      ver: 1,
      lease: 0n,
    });
    assert.deepEqual(kvOf(nth(value(s.range({ key: b("foo") })).kvs)), {
      key: "foo",
      value: "baz",
      create: 2,
      mod: 3,
      ver: 2,
      lease: 0n,
    });
  });

  it("a delete leaves a tombstone: the key comes back at version 1 with a new create_revision", () => {
    const s = storeWith(["k", "1"], ["k", "2"]);
    assert.equal(value(s.deleteRange({ key: b("k") })).revision, 4);
    value(s.put({ key: b("k"), value: b("3") }));
    const kv = kvOf(nth(value(s.range({ key: b("k") })).kvs));
    assert.deepEqual([kv.create, kv.mod, kv.ver], [5, 5, 1]);
    // History is still there below.
    assert.deepEqual(value(s.range({ key: b("k"), revision: 3 })).kvs.map(kvOf)[0]?.value, "2");
    assert.equal(value(s.range({ key: b("k"), revision: 4 })).count, 0);
  });

  it("a DeleteRange that deletes nothing makes no revision", () => {
    const s = storeWith(["a", "1"]);
    assert.deepEqual(value(s.deleteRange({ key: b("zzz") })), {
      revision: 2,
      deleted: 0,
      prevKvs: [],
    });
    assert.equal(s.revision, 2);
  });

  it("Range reports the store's revision in the header, also when reading an older one", () => {
    const s = storeWith(["a", "1"], ["a", "2"]);
    assert.equal(value(s.range({ key: b("a"), revision: 2 })).revision, 3);
  });
});

describe("Range", () => {
  const s = storeWith(
    ["a", "1"],
    ["ab", "2"],
    ["abc", "3"],
    ["b", "4"],
    ["\u00ff", "5"],
    ["\u007f", "6"],
  );

  it("reads etcd's key ranges: one key, [key, end), \\0 for every key >= key, a prefix", () => {
    assert.deepEqual(keys(s, { key: b("ab") }), ["ab"]);
    assert.deepEqual(keys(s, { key: b("a"), rangeEnd: b("b") }), ["a", "ab", "abc"]);
    assert.deepEqual(keys(s, { key: b("b"), rangeEnd: new Uint8Array([0]) }), [
      "b",
      "\u007f",
      "\u00ff",
    ]);
    assert.deepEqual(keys(s, { key: b("ab"), rangeEnd: prefixEnd(b("ab")) }), ["ab", "abc"]);
    assert.deepEqual(
      keys(s, { key: b("b"), rangeEnd: b("a") }),
      [],
      "an end below the key is empty",
    );
  });

  it("orders keys as unsigned bytes", () => {
    assert.deepEqual(keys(s), ["a", "ab", "abc", "b", "\u007f", "\u00ff"]);
    assert.deepEqual([...prefixEnd(b("a\u00ff"))], [...b("b")]);
    assert.deepEqual([...prefixEnd(b("\u00ff\u00ff"))], [0]);
  });

  it("limit cuts the answer, sets more, and count counts the whole range", () => {
    const r = value(s.range({ ...ALL, limit: 2 }));
    assert.deepEqual(
      r.kvs.map((kv) => text(kv.key)),
      ["a", "ab"],
    );
    assert.equal(r.more, true);
    assert.equal(r.count, 6);
    assert.equal(value(s.range({ ...ALL, limit: 6 })).more, false);
  });

  it("keys_only drops values; count_only answers only the count", () => {
    const k = value(s.range({ key: b("a"), keysOnly: true }));
    assert.deepEqual(kvOf(nth(k.kvs)).value, "");
    assert.equal(kvOf(nth(k.kvs)).ver, 1);
    assert.deepEqual(value(s.range({ ...ALL, countOnly: true })), {
      revision: s.revision,
      kvs: [],
      more: false,
      count: 6,
    });
  });

  it("a large range counts right across index blocks", () => {
    const big = new MvccStore();
    for (let i = 0; i < 3000; i++) value(big.put({ key: b(`k${String(i).padStart(5, "0")}`) }));
    for (let i = 0; i < 3000; i += 3)
      value(big.deleteRange({ key: b(`k${String(i).padStart(5, "0")}`) }));
    const r = value(big.range({ key: b("k00100"), rangeEnd: b("k02900"), limit: 5 }));
    const live = Array.from({ length: 2800 }, (_, i) => i + 100).filter((i) => i % 3 !== 0);
    assert.equal(r.count, live.length);
    assert.equal(r.more, true);
    assert.deepEqual(
      r.kvs.map((kv) => text(kv.key)),
      live.slice(0, 5).map((i) => `k${String(i).padStart(5, "0")}`),
    );
    assert.equal(big.keyCount, 2000);
  });
});

describe("Range sorting and filters", () => {
  // versions: a=3, b=1, c=2; create: a=2, b=3, c=4; mod: b=3, c=6, a=7; values: a<c<b by bytes
  const s = new MvccStore();
  value(s.put({ key: b("a"), value: b("m1") })); // 2
  value(s.put({ key: b("b"), value: b("z") })); // 3
  value(s.put({ key: b("c"), value: b("n") })); // 4
  value(s.put({ key: b("a"), value: b("m2") })); // 5
  value(s.put({ key: b("c"), value: b("n") })); // 6
  value(s.put({ key: b("a"), value: b("m") })); // 7
  value(s.put({ key: b("d"), value: b("m") })); // 8: same value as a, version 1 as b
  const sorted = (sortTarget: SortTarget, sortOrder: SortOrder) =>
    keys(s, { ...ALL, sortTarget, sortOrder });

  it("sorts by each target, ascending and descending, with equal sort keys in key order", () => {
    assert.deepEqual(sorted(SortTarget.KEY, SortOrder.DESCEND), ["d", "c", "b", "a"]);
    assert.deepEqual(sorted(SortTarget.VERSION, SortOrder.ASCEND), ["b", "d", "c", "a"]);
    assert.deepEqual(sorted(SortTarget.VERSION, SortOrder.DESCEND), ["a", "c", "b", "d"]);
    assert.deepEqual(sorted(SortTarget.CREATE, SortOrder.DESCEND), ["d", "c", "b", "a"]);
    assert.deepEqual(sorted(SortTarget.MOD, SortOrder.ASCEND), ["b", "c", "a", "d"]);
    assert.deepEqual(sorted(SortTarget.VALUE, SortOrder.ASCEND), ["a", "d", "c", "b"]);
    assert.deepEqual(sorted(SortTarget.VALUE, SortOrder.DESCEND), ["b", "c", "a", "d"]);
  });

  it("a target other than the key with no order sorts ascending (etcd's default)", () => {
    assert.deepEqual(sorted(SortTarget.MOD, SortOrder.NONE), ["b", "c", "a", "d"]);
  });

  it("sorts before the limit cuts", () => {
    const r = value(
      s.range({ ...ALL, sortTarget: SortTarget.MOD, sortOrder: SortOrder.DESCEND, limit: 1 }),
    );
    assert.deepEqual(
      r.kvs.map((kv) => text(kv.key)),
      ["d"],
    );
    assert.equal(r.more, true);
  });

  it("min/max mod and create revision filters; count is taken before them", () => {
    const r = value(s.range({ ...ALL, minModRevision: 6, maxModRevision: 7 }));
    assert.deepEqual(
      r.kvs.map((kv) => text(kv.key)),
      ["a", "c"],
    );
    assert.equal(r.count, 4);
    assert.deepEqual(keys(s, { ...ALL, minCreateRevision: 3, maxCreateRevision: 4 }), ["b", "c"]);
    const limited = value(s.range({ ...ALL, minCreateRevision: 3, limit: 1 }));
    assert.equal(limited.more, true, "more counts what the filters let through");
  });
});

describe("past revisions and compaction", () => {
  it("Range at a past revision, a future one, and compacted ones", () => {
    const s = storeWith(["a", "1"], ["b", "1"], ["a", "2"]);
    assert.deepEqual(keys(s, { ...ALL, revision: 2 }), ["a"]);
    assert.equal(
      error(s.range({ ...ALL, revision: 5 })),
      "etcdserver: mvcc: required revision is a future revision",
    );
    value(s.compact(3));
    assert.equal(
      error(s.range({ ...ALL, revision: 2 })),
      "etcdserver: mvcc: required revision has been compacted",
    );
    const atCompact = value(s.range({ ...ALL, revision: 3 }));
    assert.deepEqual(
      atCompact.kvs.map(kvOf).map((kv) => [kv.key, kv.value]),
      [
        ["a", "1"],
        ["b", "1"],
      ],
    );
  });

  it("Compact: not at or below the last compaction, not above the current revision, no new revision", () => {
    const s = storeWith(["a", "1"], ["a", "2"]);
    assert.equal(error(s.compact(4)), "etcdserver: mvcc: required revision is a future revision");
    assert.deepEqual(value(s.compact(2)), { revision: 3 });
    assert.equal(error(s.compact(2)), "etcdserver: mvcc: required revision has been compacted");
    assert.equal(error(s.compact(1)), "etcdserver: mvcc: required revision has been compacted");
    assert.equal(s.compactRevision, 2);
    assert.equal(s.revision, 3);
  });

  it("compaction keeps memory bounded under endless writes", () => {
    const s = new MvccStore();
    const payload = new Uint8Array(100);
    let most = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) {
        value(s.put({ key: b(`k${i % 50}`), value: payload }));
        if (i % 7 === 0) value(s.deleteRange({ key: b(`k${(i + 3) % 50}`) }));
      }
      value(s.compact(s.revision - 10));
      while (s.maintain(1000));
      most = Math.max(most, s.stats().versions);
    }
    // 50 keys, and at most the last 10 revisions' versions besides one per key.
    assert.ok(most <= 50 + 10 + 10, `versions held after compaction: ${most}`);
    assert.ok(s.stats().records <= 50);
  });

  it("pruning keeps pace with writes even when maintain() is never called", () => {
    const s = new MvccStore();
    for (let i = 0; i < 20_000; i++) {
      value(s.put({ key: b(`k${i % 10}`), value: b(String(i)) }));
      if (i % 1000 === 999) value(s.compact(s.revision - 5));
    }
    assert.ok(s.stats().versions < 2000, `versions: ${s.stats().versions}`);
  });
});

describe("Put options", () => {
  it("TestV3PutIgnoreValue: ignore_value keeps the value and needs the key", () => {
    const s = new MvccStore();
    assert.equal(error(s.put({ key: b("k"), ignoreValue: true })), "etcdserver: key not found");
    value(s.put({ key: b("k"), value: b("v") }));
    value(s.put({ key: b("k"), ignoreValue: true }));
    assert.equal(kvOf(nth(value(s.range({ key: b("k") })).kvs)).value, "v");
    assert.equal(
      error(s.put({ key: b("k"), value: b("x"), ignoreValue: true })),
      "etcdserver: value is provided",
    );
  });

  it("TestV3PutIgnoreLease: ignore_lease keeps the lease and needs the key", () => {
    const s = new MvccStore();
    value(s.leaseGrant(7n, 10, 0));
    value(s.put({ key: b("k"), value: b("v"), lease: 7n }));
    value(s.put({ key: b("k"), value: b("w"), ignoreLease: true }));
    assert.equal(kvOf(nth(value(s.range({ key: b("k") })).kvs)).lease, 7n);
    assert.equal(
      error(s.put({ key: b("k"), lease: 7n, ignoreLease: true })),
      "etcdserver: lease is provided",
    );
    assert.equal(error(s.put({ key: b("x"), ignoreLease: true })), "etcdserver: key not found");
  });

  it("a put with a lease that does not exist fails and changes nothing", () => {
    const s = new MvccStore();
    assert.equal(error(s.put({ key: b("k"), lease: 9n })), "etcdserver: requested lease not found");
    assert.equal(s.revision, 1);
  });

  it("an empty key is not provided; a request over max-request-bytes is too large", () => {
    const s = new MvccStore({ maxRequestBytes: 1000 });
    assert.equal(error(s.put({ key: new Uint8Array() })), "etcdserver: key is not provided");
    assert.equal(error(s.range({ key: new Uint8Array() })), "etcdserver: key is not provided");
    assert.equal(
      error(s.put({ key: b("k"), value: new Uint8Array(1000) })),
      "etcdserver: request is too large",
    );
    value(s.put({ key: b("k"), value: new Uint8Array(900) }));
  });
});

const put = (k: string, v = "v"): RequestOp => ({ put: { key: b(k), value: b(v) } });
const get = (k: string): RequestOp => ({ range: { key: b(k) } });
const del = (k: string, end?: string): RequestOp => ({
  deleteRange: { key: b(k), rangeEnd: end === undefined ? undefined : b(end) },
});

describe("Txn", () => {
  it("compares on value, version, create, mod and lease with each result", () => {
    const s = storeWith(["k", "b"]); // k: create 2, mod 2, version 1, value "b"
    const holds = (c: Parameters<MvccStore["txn"]>[0]["compare"]) =>
      value(s.txn({ compare: c })).succeeded;
    const k = b("k");
    assert.equal(holds([{ key: k, target: CompareTarget.VALUE, value: b("b") }]), true);
    assert.equal(
      holds([
        { key: k, target: CompareTarget.VALUE, result: CompareResult.GREATER, value: b("a") },
      ]),
      true,
    );
    assert.equal(
      holds([{ key: k, target: CompareTarget.VALUE, result: CompareResult.LESS, value: b("a") }]),
      false,
    );
    assert.equal(holds([{ key: k, target: CompareTarget.VERSION, version: 1 }]), true);
    assert.equal(
      holds([
        {
          key: k,
          target: CompareTarget.CREATE,
          result: CompareResult.NOT_EQUAL,
          createRevision: 2,
        },
      ]),
      false,
    );
    assert.equal(
      holds([{ key: k, target: CompareTarget.MOD, result: CompareResult.LESS, modRevision: 3 }]),
      true,
    );
    assert.equal(holds([{ key: k, target: CompareTarget.LEASE, lease: 0n }]), true);
    // A missing key: a value compare fails; the others compare against zero.
    const none = b("none");
    assert.equal(
      holds([{ key: none, target: CompareTarget.VALUE, value: new Uint8Array() }]),
      false,
    );
    assert.equal(
      holds([
        { key: none, target: CompareTarget.VALUE, result: CompareResult.NOT_EQUAL, value: b("x") },
      ]),
      false,
    );
    assert.equal(holds([{ key: none, target: CompareTarget.CREATE, createRevision: 0 }]), true);
    // A range compare holds only if every key in it does.
    value(s.put({ key: b("k2"), value: b("c") }));
    assert.equal(
      holds([{ key: k, rangeEnd: prefixEnd(k), target: CompareTarget.VERSION, version: 1 }]),
      true,
    );
    value(s.put({ key: b("k2"), value: b("d") }));
    assert.equal(
      holds([{ key: k, rangeEnd: prefixEnd(k), target: CompareTarget.VERSION, version: 1 }]),
      false,
    );
  });

  it("TestV3TxnRevision: a read-only txn makes no revision; a txn's writes share one", () => {
    const s = storeWith(["a", "1"]);
    assert.equal(value(s.txn({ success: [get("a")] })).revision, 2);
    const r = value(s.txn({ success: [put("x"), put("y"), del("a")] }));
    assert.equal(r.revision, 3);
    assert.equal(s.revision, 3);
    const mods = value(s.range(ALL)).kvs.map((kv) => kv.modRevision);
    assert.deepEqual(mods, [3, 3]);
    // A write txn whose branch taken only reads, or deletes nothing, makes none either.
    value(
      s.txn({
        compare: [{ key: b("none"), target: CompareTarget.VERSION, version: 5 }],
        success: [put("z")],
        failure: [del("none")],
      }),
    );
    assert.equal(s.revision, 3);
  });

  it("the failure branch runs when a compare fails; responses follow the branch's operations", () => {
    const s = storeWith(["a", "1"]);
    const r = value(
      s.txn({
        compare: [{ key: b("a"), target: CompareTarget.VALUE, value: b("2") }],
        success: [put("a", "3")],
        failure: [get("a"), put("b")],
      }),
    );
    assert.equal(r.succeeded, false);
    assert.equal(r.responses.length, 2);
    const [read, written] = [nth(r.responses, 0), nth(r.responses, 1)];
    assert.ok("range" in read && read.range.count === 1);
    assert.ok("put" in written && written.put.revision === 3);
  });

  it("reads in a txn see its own writes; nested compares see the state before the txn", () => {
    const s = storeWith(["a", "1"]);
    const r = value(
      s.txn({
        success: [
          put("a", "2"),
          get("a"),
          {
            txn: {
              compare: [{ key: b("a"), target: CompareTarget.VALUE, value: b("1") }],
              success: [put("nested")],
            },
          },
        ],
      }),
    );
    const read = nth(r.responses, 1);
    assert.ok("range" in read);
    assert.equal(kvOf(nth(read.range.kvs)).value, "2");
    assert.equal(read.range.revision, 3, "a read after a write reports the txn's revision");
    const nested = nth(r.responses, 2);
    assert.ok("txn" in nested);
    assert.equal(nested.txn.succeeded, true, "the nested compare read a=1, from before the txn");
    assert.equal(nested.txn.revision, 3, "nested txn responses carry header.revision");
    assert.deepEqual(keys(s), ["a", "nested"]);
  });

  it("TestV3TxnDuplicateKeys: no key put twice or put and deleted in one txn", () => {
    const s = new MvccStore();
    const dup = "etcdserver: duplicate key given in txn request";
    assert.equal(error(s.txn({ success: [put("a"), put("a")] })), dup);
    assert.equal(error(s.txn({ success: [put("b"), del("a", "c")] })), dup);
    assert.equal(error(s.txn({ success: [del("a", "c"), put("b")] })), dup);
    assert.equal(error(s.txn({ success: [put("a"), { txn: { success: [put("a")] } }] })), dup);
    // Side by side, a nested put and another nested txn's delete collide (etcd misses this one).
    assert.equal(
      error(
        s.txn({ success: [{ txn: { success: [put("a")] } }, { txn: { failure: [del("a")] } }] }),
      ),
      dup,
    );
    // The two branches of one txn exclude each other.
    value(s.txn({ success: [{ txn: { success: [put("a")], failure: [put("a")] } }] }));
    value(s.txn({ success: [put("a")], failure: [put("a")] }));
    value(s.txn({ success: [{ txn: { success: [del("a")], failure: [put("a")] } }] }));
    // Overlapping deletes are fine.
    value(s.txn({ success: [del("a", "c"), del("b")] }));
  });

  it("TestV3TxnTooManyOps: more operations than max-txn-ops on any level", () => {
    const s = new MvccStore({ maxTxnOps: 4 });
    const many = (n: number) => Array.from({ length: n }, (_, i) => put(`k${i}`));
    const tooMany = "etcdserver: too many operations in txn request";
    assert.equal(error(s.txn({ success: many(5) })), tooMany);
    assert.equal(error(s.txn({ compare: many(5).map((_, i) => ({ key: b(`k${i}`) })) })), tooMany);
    value(s.txn({ success: many(4) }));
    // A nested txn gets what its parent's level left (etcd: maxTxnOps - opc).
    assert.equal(error(s.txn({ success: [{ txn: { success: many(4) } }] })), tooMany);
    value(s.txn({ success: [{ txn: { success: many(3) } }] }));
    assert.equal(new MvccStore().txn({ success: many(128) }).ok, true, "128 by default");
    assert.equal(error(new MvccStore().txn({ success: many(129) })), tooMany);
  });

  it("an empty operation is etcd's 'key not found'; an empty compare key is not provided", () => {
    const s = new MvccStore();
    assert.equal(error(s.txn({ success: [{}] })), "etcdserver: key not found");
    assert.equal(
      error(s.txn({ compare: [{ key: new Uint8Array() }] })),
      "etcdserver: key is not provided",
    );
  });

  it("checks run before anything is applied: a failing put leaves the txn's other writes undone", () => {
    const s = storeWith(["a", "1"]);
    assert.equal(
      error(s.txn({ success: [put("b"), { put: { key: b("c"), lease: 5n } }] })),
      "etcdserver: requested lease not found",
    );
    assert.equal(
      error(s.txn({ success: [put("b"), { range: { key: b("a"), revision: 9 } }] })),
      "etcdserver: mvcc: required revision is a future revision",
    );
    assert.deepEqual(keys(s), ["a"]);
    assert.equal(s.revision, 2);
  });
});

describe("DeleteRange", () => {
  it("deletes a range in one revision and returns prev_kvs in key order", () => {
    const s = storeWith(["c", "3"], ["a", "1"], ["b", "2"], ["d", "4"]);
    const r = value(s.deleteRange({ key: b("a"), rangeEnd: b("d"), prevKv: true }));
    assert.equal(r.deleted, 3);
    assert.equal(r.revision, 6);
    assert.deepEqual(
      r.prevKvs.map(kvOf).map((kv) => kv.key),
      ["a", "b", "c"],
    );
    assert.deepEqual(keys(s), ["d"]);
    assert.equal(value(s.deleteRange({ key: b("a"), rangeEnd: new Uint8Array([0]) })).deleted, 1);
  });
});

describe("leases in the store", () => {
  it("a revoke deletes every key of the lease in one revision, and none without keys", () => {
    const s = new MvccStore();
    value(s.leaseGrant(1n, 10, 0));
    value(s.leaseGrant(2n, 10, 0));
    assert.equal(s.revision, 1, "grants make no revision");
    value(s.put({ key: b("x"), lease: 1n }));
    value(s.put({ key: b("y"), lease: 1n }));
    value(s.put({ key: b("z") }));
    assert.deepEqual(value(s.leaseRevoke(1n)), { revision: 5 });
    assert.deepEqual(keys(s), ["z"]);
    assert.equal(value(s.range({ key: b("x"), revision: 4 })).count, 1);
    assert.deepEqual(value(s.leaseRevoke(2n)), { revision: 5 });
    assert.equal(error(s.leaseRevoke(2n)), "etcdserver: requested lease not found");
  });

  it("a key follows its latest put's lease; a delete or a lease-less put detaches it", () => {
    const s = new MvccStore();
    value(s.leaseGrant(1n, 10, 0));
    value(s.leaseGrant(2n, 10, 0));
    value(s.put({ key: b("k"), lease: 1n }));
    value(s.put({ key: b("k"), lease: 2n }));
    assert.deepEqual([...(s.leases.get(1n)?.keys ?? [])], []);
    assert.deepEqual([...(s.leases.get(2n)?.keys ?? [])], ["k"]);
    value(s.put({ key: b("k") }));
    assert.deepEqual([...(s.leases.get(2n)?.keys ?? [])], []);
    value(s.put({ key: b("j"), lease: 2n }));
    value(s.deleteRange({ key: b("j") }));
    assert.deepEqual([...(s.leases.get(2n)?.keys ?? [])], []);
    value(s.leaseRevoke(2n));
    assert.deepEqual(keys(s), ["k"]);
  });

  it("grant: id 0 is not found, a TTL over etcd's maximum is too large, a TTL below the minimum is raised", () => {
    const s = new MvccStore({ minLeaseTtl: 5 });
    assert.equal(error(s.leaseGrant(0n, 10, 0)), "etcdserver: requested lease not found");
    assert.equal(error(s.leaseGrant(1n, 9_000_000_001, 0)), "etcdserver: too large lease TTL");
    assert.equal(value(s.leaseGrant(1n, 1, 0)).ttl, 5);
    assert.equal(error(s.leaseGrant(1n, 60, 0)), "etcdserver: lease already exists");
  });
});

describe("RevisionChanges (what watchers receive)", () => {
  it("lists one revision's events in key order; a DELETE carries only the key and mod_revision", () => {
    const s = storeWith(["b", "old"]);
    const seen: Array<{ rev: number; events: unknown[] }> = [];
    s.observe({
      changed: (c) =>
        seen.push({
          rev: c.revision,
          events: Array.from({ length: c.size }, (_, i) => {
            const e = c.event(i, true);
            return { type: e.type, kv: kvOf(e.kv), prev: e.prevKv && kvOf(e.prevKv).value };
          }),
        }),
    });
    value(s.txn({ success: [put("c"), del("b"), put("a")] }));
    assert.deepEqual(seen, [
      {
        rev: 3,
        events: [
          {
            type: 0,
            kv: { key: "a", value: "v", create: 3, mod: 3, ver: 1, lease: 0n },
            prev: undefined,
          },
          {
            type: 1,
            kv: { key: "b", value: "", create: 0, mod: 3, ver: 0, lease: 0n },
            prev: "old",
          },
          {
            type: 0,
            kv: { key: "c", value: "v", create: 3, mod: 3, ver: 1, lease: 0n },
            prev: undefined,
          },
        ],
      },
    ]);
    assert.equal(s.changesAt(3)?.size, 3);
    assert.equal(s.changesAt(4), null);
  });
});
