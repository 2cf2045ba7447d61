// etcd's Lease service over gRPC (src/kv/etcd/lease-service.ts) and the leader's expiry
// (src/kv/lease-keeper.ts), on a controlled clock.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { LeaseKeeper } from "../../../src/kv/lease-keeper.js";
import { b, failure, startNodes, stopNodes, type TestNode, type Wire } from "./harness.js";

describe("etcd Lease service", () => {
  let nodes: TestNode[];
  let leader: TestNode;
  let follower: TestNode;
  let clock = 1_000_000;
  let keeper: LeaseKeeper;
  before(async () => {
    nodes = await startNodes(2, () => clock);
    [leader, follower] = nodes as [TestNode, TestNode];
    keeper = new LeaseKeeper({
      service: leader.service,
      sm: leader.service.sm,
      electionTimeoutMs: 300,
      autoCompactRevisions: 0,
      now: () => clock,
      checkMs: 60_000,
    });
    keeper.check(); // the leader becomes primary
  });
  after(async () => {
    keeper.stop();
    await stopNodes(nodes);
  });

  it("grant (the leader picks the id), time-to-live with keys, list, revoke deletes the keys", async () => {
    const g = await follower.client.Lease.LeaseGrant({ TTL: 30 });
    assert.notEqual(g.ID, "0");
    assert.equal(g.TTL, "30");
    await leader.client.KV.Put({ key: b("lk"), value: b("v"), lease: g.ID });
    const ttl = await follower.client.Lease.LeaseTimeToLive({ ID: g.ID, keys: true });
    assert.equal(ttl.grantedTTL, "30");
    assert.ok(
      Number(ttl.TTL) >= 30,
      `remaining ${ttl.TTL}: the full TTL (the test clock stands still)`,
    );
    assert.deepEqual((ttl.keys as Buffer[]).map(String), ["lk"]);
    const list = await leader.client.Lease.LeaseLeases({});
    assert.ok((list.leases as Wire[]).some((l) => l.ID === g.ID));
    const before = leader.service.sm.revision;
    await follower.client.Lease.LeaseRevoke({ ID: g.ID });
    assert.equal(leader.service.sm.revision, before + 1);
    assert.deepEqual((await leader.client.KV.Range({ key: b("lk") })).kvs, []);
    const gone = await failure(leader.client.Lease.LeaseRevoke({ ID: g.ID }));
    assert.deepEqual([gone.code, gone.details], [5, "etcdserver: requested lease not found"]);
  });

  it("an unknown lease: time-to-live -1, keep-alive TTL 0", async () => {
    const ttl = await leader.client.Lease.LeaseTimeToLive({ ID: "4242" });
    assert.equal(ttl.TTL, "-1");
    assert.equal(ttl.grantedTTL, "0");
    const call = (
      follower.client.raw.Lease as unknown as {
        LeaseKeepAlive(): ClientDuplexStream<Wire, Wire>;
      }
    ).LeaseKeepAlive();
    const answers: Wire[] = [];
    const two = new Promise<void>((resolve) =>
      call.on("data", (w: Wire) => {
        answers.push(w);
        if (answers.length === 2) resolve();
      }),
    );
    const g = await leader.client.Lease.LeaseGrant({ TTL: 10 });
    call.write({ ID: "4242" });
    call.write({ ID: g.ID });
    await two;
    assert.deepEqual(
      answers.map((a) => [a.ID, a.TTL]),
      [
        ["4242", "0"],
        [g.ID, "10"],
      ],
    );
    call.end();
  });

  it("the leader expires a lease past its TTL: its keys go in one revision; keep-alives postpone it", async () => {
    const g = await leader.client.Lease.LeaseGrant({ TTL: 5 });
    await leader.client.KV.Put({ key: b("e1"), value: b("v"), lease: g.ID });
    await leader.client.KV.Put({ key: b("e2"), value: b("v"), lease: g.ID });
    clock += 4000;
    keeper.check();
    assert.equal((await leader.client.KV.Range({ key: b("e1") })).count, "1", "not yet");
    const call = (
      leader.client.raw.Lease as unknown as {
        LeaseKeepAlive(): ClientDuplexStream<Wire, Wire>;
      }
    ).LeaseKeepAlive();
    const renewed = new Promise<Wire>((resolve) => call.once("data", resolve));
    call.write({ ID: g.ID });
    assert.equal((await renewed).TTL, "5");
    call.end();
    clock += 4000;
    keeper.check();
    assert.equal((await leader.client.KV.Range({ key: b("e1") })).count, "1", "renewed");
    const before = leader.service.sm.revision;
    clock += 1500;
    keeper.check();
    // The expiry is a proposal: wait for it to be applied (the fake log applies at once).
    await new Promise((r) => setImmediate(r));
    assert.equal(leader.service.sm.revision, before + 1);
    assert.equal((await leader.client.KV.Range({ key: b("e"), range_end: b("f") })).count, "0");
  });

  it("keep-alives during and right after an election wait for the new leader, then are answered", {
    timeout: 20_000,
  }, async () => {
    const g = await leader.client.Lease.LeaseGrant({ TTL: 20 });
    const open = (n: TestNode) =>
      (
        n.client.raw.Lease as unknown as {
          LeaseKeepAlive(): ClientDuplexStream<Wire, Wire>;
        }
      ).LeaseKeepAlive();
    // An election: first no leader at all, then node 1 leads again but its lease keeper has not
    // taken the deadlines over yet (it does on its next check, up to 100 ms later).
    for (const n of nodes) n.service.leader = null;
    leader.service.sm.store.leases.demote();
    const streams = [open(leader), open(follower)];
    const answers = streams.map(
      (call) =>
        new Promise<Wire>((resolve, reject) => {
          call.once("data", resolve);
          call.once("error", reject);
        }),
    );
    let answered = 0;
    for (const a of answers)
      void a.then(
        () => answered++,
        () => undefined,
      );
    for (const call of streams) call.write({ ID: g.ID });
    await new Promise((r) => setTimeout(r, 150)); // the election
    for (const n of nodes) n.service.leader = leader.id;
    await new Promise((r) => setTimeout(r, 150)); // the keeper's check interval
    assert.equal(answered, 0, "no answer while the leader's lease table is not primary");
    keeper.check();
    for (const a of answers) assert.equal((await a).TTL, "20");
    for (const call of streams) call.end();
  });

  it("a keep-alive with no leader for the whole request timeout fails with etcd's timeout", {
    timeout: 20_000,
  }, async () => {
    const g = await leader.client.Lease.LeaseGrant({ TTL: 20 });
    for (const n of nodes) n.service.leader = null;
    const call = (
      follower.client.raw.Lease as unknown as {
        LeaseKeepAlive(): ClientDuplexStream<Wire, Wire>;
      }
    ).LeaseKeepAlive();
    const started = Date.now();
    const failed = new Promise<{ code?: number; details?: string }>((resolve, reject) => {
      call.once("data", () => reject(new Error("answered without a leader")));
      call.once("error", resolve);
    });
    call.write({ ID: g.ID });
    const err = await failed;
    for (const n of nodes) n.service.leader = leader.id;
    assert.deepEqual([err.code, err.details], [14, "etcdserver: request timed out"]);
    // etcd's request timeout: 5 s plus two election timeouts (300 ms here).
    assert.ok(Date.now() - started >= 5000, `failed after ${Date.now() - started} ms`);
  });
});
