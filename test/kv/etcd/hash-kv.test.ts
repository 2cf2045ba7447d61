// HashKV and Hash (src/kv/etcd/hash-kv.ts): what `etcdctl endpoint hashkv` and corruption
// checks compare must be the same on members with the same replicated history, whatever their
// background pruning did, and must differ when the histories differ.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashKv, hashStore } from "../../../src/kv/etcd/hash-kv.js";
import { MvccStore } from "../../../src/kv/mvcc/index.js";

const b = (s: string) => Buffer.from(s);

function hash(store: MvccStore, revision = 0): number {
  const r = hashKv(store, revision);
  if (!r.ok) throw new Error(r.error.message);
  return r.value.hash;
}

/** Two members: the same writes applied to both. */
function pair(writes: (s: MvccStore) => void): [MvccStore, MvccStore] {
  const a = new MvccStore();
  const c = new MvccStore();
  writes(a);
  writes(c);
  return [a, c];
}

describe("HashKV", () => {
  it("is the same on members with the same history, pruned or not", () => {
    const [a, c] = pair((s) => {
      for (let i = 0; i < 50; i++) s.put({ key: b(`k${i % 7}`), value: b(`v${i}`) });
      s.deleteRange({ key: b("k3") });
      s.compact(30);
      s.put({ key: b("k9"), value: b("after") });
    });
    assert.equal(hash(a), hash(c));
    // Only one member has pruned the compacted history so far (maintain runs on a timer).
    while (a.maintain()) {}
    assert.equal(hash(a), hash(c));
    assert.equal(hash(a, 40), hash(c, 40));
  });

  it("covers history, not only the state: the same state reached differently differs", () => {
    const a = new MvccStore();
    const c = new MvccStore();
    a.put({ key: b("k"), value: b("1") });
    a.put({ key: b("k"), value: b("2") });
    c.put({ key: b("k"), value: b("9") });
    c.put({ key: b("k"), value: b("2") });
    const at = (s: MvccStore) => s.range({ key: b("k") });
    assert.deepEqual(at(a), at(c), "same state, same revisions");
    assert.notEqual(hash(a), hash(c));
    // Once both compacted past the difference, only what compaction keeps is hashed.
    a.compact(3);
    c.compact(3);
    assert.equal(hash(a), hash(c));
  });

  it("a past revision's hash does not change with later writes; etcd's revision rules", () => {
    const s = new MvccStore();
    s.put({ key: b("a"), value: b("1") });
    s.put({ key: b("b"), value: b("2") });
    const then = hashKv(s, 0);
    assert.ok(then.ok);
    assert.equal(then.value.revision, 3);
    s.put({ key: b("a"), value: b("3") });
    assert.notEqual(hash(s), then.value.hash);
    const past = hashKv(s, 3);
    assert.ok(past.ok);
    assert.equal(past.value.hash, then.value.hash);
    assert.equal(past.value.revision, 4, "the header carries the current revision, as etcd's");
    const future = hashKv(s, 5);
    assert.ok(!future.ok && future.error.code === "FutureRev");
    s.compact(3);
    const compacted = hashKv(s, 3);
    assert.ok(!compacted.ok && compacted.error.code === "Compacted");
    const after = hashKv(s, 0);
    assert.ok(after.ok && after.value.compactRevision === 3);
  });

  it("Hash also covers the lease table", () => {
    const s = new MvccStore();
    s.put({ key: b("a"), value: b("1") });
    const before = hashStore(s);
    assert.equal(hashStore(s), before);
    s.leaseGrant(7n, 60, 0);
    assert.equal(s.revision, 2, "a grant does not bump the revision");
    assert.notEqual(hashStore(s), before);
  });
});
