// etcd's KV service over gRPC (src/kv/etcd/kv-service.ts): headers, etcd's errors, reads,
// writes through the (fake) log, a follower forwarding to the leader, exactly-once metadata.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { b, CLUSTER_ID, failure, startNodes, stopNodes, str, type TestNode } from "./harness.js";

describe("etcd KV service", () => {
  let nodes: TestNode[];
  let leader: TestNode;
  let follower: TestNode;
  before(async () => {
    nodes = await startNodes(2);
    [leader, follower] = nodes as [TestNode, TestNode];
  });
  after(() => stopNodes(nodes));

  it("Put and Range with etcd's header: cluster id, member id, revision, term", async () => {
    const put = await leader.client.KV.Put({ key: b("k1"), value: b("v1") });
    const header = put.header as Record<string, string>;
    assert.equal(header.cluster_id, CLUSTER_ID.toString());
    assert.equal(header.member_id, "1");
    assert.equal(header.raft_term, "1");
    const rev = Number(header.revision);
    assert.equal(rev, leader.service.sm.revision);
    const got = await leader.client.KV.Range({ key: b("k1") });
    const kvs = got.kvs as Record<string, unknown>[];
    assert.equal(str(kvs[0]?.value), "v1");
    assert.equal(kvs[0]?.create_revision, String(rev));
    assert.equal(kvs[0]?.version, "1");
    assert.equal(got.count, "1");
  });

  it("Range: prefix, limit with more, sort, keys_only, count_only, a past revision", async () => {
    for (const k of ["p/a", "p/b", "p/c"]) await leader.client.KV.Put({ key: b(k), value: b(k) });
    const first = Number(
      (await leader.client.KV.Range({ key: b("p/a") })).header && leader.service.sm.revision,
    );
    await leader.client.KV.Put({ key: b("p/a"), value: b("changed") });
    const prefix = { key: b("p/"), range_end: b("p0") };
    const limited = await leader.client.KV.Range({ ...prefix, limit: 2, sort_order: 2 });
    assert.deepEqual(
      (limited.kvs as Wire[]).map((kv) => str(kv.key)),
      ["p/c", "p/b"],
    );
    assert.equal(limited.more, true);
    assert.equal(limited.count, "3");
    const keys = await leader.client.KV.Range({ ...prefix, keys_only: true });
    assert.deepEqual(
      (keys.kvs as Wire[]).map((kv) => str(kv.value)),
      ["", "", ""],
    );
    const counted = await leader.client.KV.Range({ ...prefix, count_only: true });
    assert.deepEqual(counted.kvs, []);
    assert.equal(counted.count, "3");
    const past = await leader.client.KV.Range({ key: b("p/a"), revision: first });
    assert.equal(str((past.kvs as Wire[])[0]?.value), "p/a");
  });

  it("etcd's errors: empty key, future and compacted revisions, bad lease", async () => {
    const empty = await failure(leader.client.KV.Put({ key: b(""), value: b("x") }));
    assert.deepEqual([empty.code, empty.details], [3, "etcdserver: key is not provided"]);
    const future = await failure(leader.client.KV.Range({ key: b("k1"), revision: 1e6 }));
    assert.deepEqual(
      [future.code, future.details],
      [11, "etcdserver: mvcc: required revision is a future revision"],
    );
    const rev = leader.service.sm.revision;
    await leader.client.KV.Compact({ revision: rev - 1 });
    const compacted = await failure(leader.client.KV.Range({ key: b("k1"), revision: rev - 2 }));
    assert.deepEqual(
      [compacted.code, compacted.details],
      [11, "etcdserver: mvcc: required revision has been compacted"],
    );
    const lease = await failure(leader.client.KV.Put({ key: b("k"), value: b("v"), lease: "77" }));
    assert.deepEqual([lease.code, lease.details], [5, "etcdserver: requested lease not found"]);
  });

  it("Txn: compares, both branches, nested responses carry a header; a read-only txn is a read", async () => {
    await leader.client.KV.Put({ key: b("t"), value: b("1") });
    const before = leader.service.proposals;
    const txn = (value: string) =>
      leader.client.KV.Txn({
        compare: [{ key: b("t"), target: 3, result: 0, value: b(value) }],
        success: [
          { request_put: { key: b("t"), value: b("2") } },
          { request_range: { key: b("t") } },
        ],
        failure: [{ request_range: { key: b("t") } }],
      });
    const hit = await txn("1");
    assert.equal(hit.succeeded, true);
    const [put, range] = hit.responses as [Wire, Wire];
    assert.equal(str(((range.response_range as Wire).kvs as Wire[])[0]?.value), "2");
    assert.ok((put.response_put as Wire).header, "nested responses carry a header");
    const miss = await txn("1");
    assert.equal(miss.succeeded, false);
    assert.equal(leader.service.proposals, before + 2);
    await leader.client.KV.Txn({ success: [{ request_range: { key: b("t") } }] });
    assert.equal(leader.service.proposals, before + 2, "read-only: no proposal");
  });

  it("DeleteRange with prev_kv", async () => {
    await leader.client.KV.Put({ key: b("d/1"), value: b("a") });
    await leader.client.KV.Put({ key: b("d/2"), value: b("b") });
    const del = await leader.client.KV.DeleteRange({
      key: b("d/"),
      range_end: b("d0"),
      prev_kv: true,
    });
    assert.equal(del.deleted, "2");
    assert.deepEqual(
      (del.prev_kvs as Wire[]).map((kv) => str(kv.value)),
      ["a", "b"],
    );
  });

  it("a follower forwards writes to the leader and reads linearizably; the header is its own", async () => {
    const before = leader.service.proposals;
    const put = await follower.client.KV.Put({
      key: b("f"),
      value: b("via follower"),
      prev_kv: true,
    });
    assert.equal((put.header as Wire).member_id, "2");
    assert.equal(leader.service.proposals, before + 1, "proposed by the leader");
    const got = await follower.client.KV.Range({ key: b("f") });
    assert.equal(str((got.kvs as Wire[])[0]?.value), "via follower");
    const serial = await follower.client.KV.Range({ key: b("f"), serializable: true });
    assert.equal(str((serial.kvs as Wire[])[0]?.value), "via follower");
  });

  it("no leader: Unavailable with etcd's message, nothing applied", async () => {
    follower.service.leader = null;
    try {
      const e = await failure(follower.client.KV.Put({ key: b("x"), value: b("y") }));
      assert.deepEqual([e.code, e.details], [14, "etcdserver: no leader"]);
      const r = await failure(follower.client.KV.Range({ key: b("x") }));
      assert.equal(r.code, 14);
    } finally {
      follower.service.leader = 1;
    }
  });

  it("x-client-id/x-request-id make a write exactly-once, also through a follower", async () => {
    const md = new Metadata();
    md.set("x-client-id", "grpc-client");
    md.set("x-request-id", "1");
    const first = await follower.client.KV.Put({ key: b("once"), value: b("1") }, md);
    const again = await leader.client.KV.Put({ key: b("once"), value: b("1") }, md);
    assert.deepEqual(
      (again.header as Wire).revision,
      (first.header as Wire).revision,
      "applied once",
    );
    const got = await leader.client.KV.Range({ key: b("once") });
    assert.equal((got.kvs as Wire[])[0]?.version, "1");
    md.set("x-request-id", "0");
    const bad = await failure(leader.client.KV.Put({ key: b("once"), value: b("2") }, md));
    assert.equal(bad.code, 3);
  });

  it("out-of-range numbers answer etcd's errors, not a crash or a precision loss", async () => {
    const huge = "9223372036854775807";
    const compact = await failure(leader.client.KV.Compact({ revision: huge }));
    assert.equal(compact.details, "etcdserver: mvcc: required revision is a future revision");
    const ttl = await failure(leader.client.Lease.LeaseGrant({ TTL: huge }));
    assert.equal(ttl.details, "etcdserver: too large lease TTL");
    const range = await failure(leader.client.KV.Range({ key: b("k1"), revision: huge }));
    assert.equal(range.code, 11);
    const odd = await leader.client.KV.Range({ key: b("k1"), sort_order: 99, limit: -5 });
    assert.ok(odd.header, "unknown enum values and negative limits read as etcd reads them");
    assert.ok((await leader.client.KV.Put({ key: b("still"), value: b("serving") })).header);
  });

  it("keys written over gRPC that are not UTF-8 are skipped by HTTP listings", async () => {
    await leader.client.KV.Put({ key: Buffer.from([0x68, 0xff]), value: b("bin") });
    await leader.client.KV.Put({ key: b("h2"), value: b("text") });
    assert.deepEqual(
      leader.service.sm.list("h", 10).map((e) => e.key),
      ["h2"],
    );
  });
});

type Wire = Record<string, unknown>;
