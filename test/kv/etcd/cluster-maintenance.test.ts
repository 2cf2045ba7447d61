// etcd's Cluster and Maintenance services over gRPC (cluster-service.ts,
// maintenance-service.ts).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { decodeBackup } from "../../../src/kv/backup-format.js";
import { KvStateMachine } from "../../../src/kv/state-machine.js";
import { b, failure, startNodes, stopNodes, type TestNode, type Wire } from "./harness.js";

describe("etcd Cluster and Maintenance services", () => {
  let nodes: TestNode[];
  let leader: TestNode;
  let follower: TestNode;
  before(async () => {
    nodes = await startNodes(3);
    [leader, follower] = nodes as [TestNode, TestNode];
  });
  after(() => stopNodes(nodes));

  it("MemberList: ids, names, peer and client URLs, answered through the leader", async () => {
    const list = await follower.client.Cluster.MemberList({});
    assert.equal((list.header as Wire).member_id, "2");
    const members = (list.members as Wire[]).map((m) => [
      m.ID,
      m.name,
      m.peerURLs,
      (m.clientURLs as string[]).length,
    ]);
    assert.deepEqual(members, [
      ["1", "member-1", ["http://127.0.0.1:7001"], 1],
      ["2", "member-2", ["http://127.0.0.1:7002"], 1],
      ["3", "member-3", ["http://127.0.0.1:7003"], 1],
    ]);
    assert.equal(
      (((list.members as Wire[])[1] as Wire).clientURLs as string[])[0],
      `http://${follower.etcd.address}`,
    );
  });

  it("membership changes answer Unimplemented with a message on a node without membership operations", async () => {
    const e = await failure(
      leader.client.Cluster.MemberAdd({ peerURLs: ["http://127.0.0.1:7009"] }),
    );
    assert.equal(e.code, 12);
    assert.match(e.details, /membership changes are not served here/);
  });

  it("Status, Alarm, Defragment", async () => {
    await leader.client.KV.Put({ key: b("s"), value: b("v") });
    const s = await leader.client.Maintenance.Status({});
    assert.ok(String(s.version).length > 0);
    assert.ok(Number(s.dbSize) > 0 && Number(s.dbSizeInUse) > 0);
    assert.equal(s.leader, "1");
    assert.ok(Number(s.raftIndex) > 0 && Number(s.raftAppliedIndex) > 0 && Number(s.raftTerm) > 0);
    assert.deepEqual((await leader.client.Maintenance.Alarm({ action: 0 })).alarms, []);
    assert.ok((await leader.client.Maintenance.Defragment({})).header);
  });

  it("HashKV is the same on members at the same revision and changes with the state", async () => {
    const h1 = await leader.client.Maintenance.HashKV({ revision: 0 });
    const h2 = await follower.client.Maintenance.HashKV({ revision: 0 });
    assert.equal(h1.hash, h2.hash);
    await leader.client.KV.Put({ key: b("s"), value: b("changed") });
    const h3 = await leader.client.Maintenance.HashKV({ revision: 0 });
    assert.notEqual(h3.hash, h1.hash);
    const past = await leader.client.Maintenance.HashKV({ revision: (h1.header as Wire).revision });
    assert.equal(past.hash, h1.hash);
  });

  it("Snapshot: a raftwork backup (512k + 32 bytes ending with its SHA-256), as GET /v1/snapshot serves", async () => {
    const call = (
      leader.client.raw.Maintenance as unknown as {
        Snapshot(req: Wire): ClientReadableStream<Wire>;
      }
    ).Snapshot({});
    const parts: Buffer[] = [];
    let lastRemaining = "";
    await new Promise<void>((resolve, reject) => {
      call.on("data", (w: Wire) => {
        parts.push(w.blob as Buffer);
        lastRemaining = String(w.remaining_bytes);
      });
      call.on("end", resolve);
      call.on("error", reject);
    });
    const file = Buffer.concat(parts);
    assert.equal(file.length % 512, 32, "what etcdctl snapshot save checks");
    assert.equal(lastRemaining, "0");
    const body = file.subarray(0, file.length - 32);
    assert.deepEqual(createHash("sha256").update(body).digest(), file.subarray(file.length - 32));
    const backup = decodeBackup(file);
    assert.ok(backup.ok, backup.ok ? "" : backup.error);
    assert.equal(backup.value.meta.index, leader.service.status().appliedIndex);
    assert.equal(backup.value.meta.node, leader.id);
    assert.deepEqual(backup.value.data, Buffer.from(leader.service.sm.snapshot()));
    const copy = new KvStateMachine();
    copy.restore(backup.value.data);
    assert.equal(copy.revision, leader.service.sm.revision);
  });

  it("Snapshot of a service that cannot say where it is: an error status, not a hang", async () => {
    const svc = leader.service as unknown as { appliedPoint?: unknown };
    const saved = svc.appliedPoint;
    svc.appliedPoint = undefined;
    try {
      const call = (
        leader.client.raw.Maintenance as unknown as {
          Snapshot(req: Wire): ClientReadableStream<Wire>;
        }
      ).Snapshot({});
      const failure = await new Promise<Error>((resolve) => {
        call.on("data", () => {});
        call.on("end", () => resolve(new Error("ended without an error")));
        call.on("error", resolve);
      });
      assert.match(failure.message, /appliedPoint|internal/i);
    } finally {
      svc.appliedPoint = saved;
    }
  });

  it("MoveLeader: only the leader, only to a member; answered once the target leads", async () => {
    const notLeader = await failure(follower.client.Maintenance.MoveLeader({ targetID: "3" }));
    assert.equal(notLeader.details, "etcdserver: not leader");
    const bad = await failure(leader.client.Maintenance.MoveLeader({ targetID: "9" }));
    assert.equal(bad.details, "etcdserver: bad leader transferee");
    await leader.client.Maintenance.MoveLeader({ targetID: "3" });
    assert.deepEqual(leader.service.transfers, [3]);
  });
});
