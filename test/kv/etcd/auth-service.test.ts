// etcd's Auth service and the permission checks of the other services over gRPC
// (src/kv/etcd/auth-service.ts): etcd's codes and exact messages, tokens accepted by another
// member, forwarded writes named by their token only.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { encodeCommand } from "../../../src/kv/commands.js";
import { b, failure, startNodes, stopNodes, type TestNode, type Wire } from "./harness.js";

const INVALID_ARGUMENT = 3;
const PERMISSION_DENIED = 7;
const FAILED_PRECONDITION = 9;
const UNAUTHENTICATED = 16;

const md = (token: string) => {
  const m = new grpc.Metadata();
  m.set("token", token);
  return m;
};

describe("etcd Auth service", () => {
  let nodes: TestNode[];
  let leader: TestNode;
  let follower: TestNode;
  let root: grpc.Metadata;
  let alice: grpc.Metadata;
  before(async () => {
    nodes = await startNodes(2);
    leader = nodes[0] as TestNode;
    follower = nodes[1] as TestNode;
  });
  after(() => stopNodes(nodes));

  it("sets up users and roles with etcd's answers, and enables auth only with a root user", async () => {
    const A = follower.client.Auth; // through the leader link
    const e0 = await failure(A.AuthEnable({}));
    assert.deepEqual(
      [e0.code, e0.details],
      [FAILED_PRECONDITION, "etcdserver: root user does not exist"],
    );
    await A.UserAdd({ name: "root", password: "rootpw" });
    const e1 = await failure(A.AuthEnable({}));
    assert.equal(e1.details, "etcdserver: root user does not have root role");
    await A.RoleAdd({ name: "root" });
    await A.UserGrantRole({ user: "root", role: "root" });
    await A.UserAdd({ name: "alice", password: "alicepw" });
    assert.equal(
      (await failure(A.UserAdd({ name: "alice", password: "x" }))).details,
      "etcdserver: user name already exists",
    );
    await A.RoleAdd({ name: "app" });
    assert.equal(
      (await failure(A.RoleAdd({ name: "app" }))).details,
      "etcdserver: role name already exists",
    );
    await A.RoleGrantPermission({
      name: "app",
      perm: { permType: 2, key: b("app/"), range_end: b("app0") },
    });
    await A.RoleGrantPermission({ name: "app", perm: { permType: 0, key: b("pub") } });
    assert.equal(
      (await failure(A.UserGrantRole({ user: "alice", role: "nope" }))).details,
      "etcdserver: role name not found",
    );
    assert.equal(
      (await failure(A.UserGrantRole({ user: "bob", role: "app" }))).details,
      "etcdserver: user name not found",
    );
    await A.UserGrantRole({ user: "alice", role: "app" });
    assert.equal(
      (await failure(A.UserRevokeRole({ name: "alice", role: "root" }))).details,
      "etcdserver: role is not granted to the user",
    );
    const e2 = await failure(A.Authenticate({ name: "root", password: "rootpw" }));
    assert.deepEqual(
      [e2.code, e2.details],
      [FAILED_PRECONDITION, "etcdserver: authentication is not enabled"],
    );
    await A.AuthEnable({});
    assert.equal(leader.service.sm.auth.enabled, true);
    // Hashes, never passwords, are in the replicated state.
    const hash = leader.service.sm.auth.user("alice")?.hash ?? "";
    assert.match(hash, /^scrypt\$/);
    assert.doesNotMatch(hash, /alicepw/);
  });

  it("authenticates with etcd's failure message; a token from one member works on another", async () => {
    const bad = await failure(leader.client.Auth.Authenticate({ name: "alice", password: "nope" }));
    assert.deepEqual(
      [bad.code, bad.details],
      [INVALID_ARGUMENT, "etcdserver: authentication failed, invalid user ID or password"],
    );
    const ghost = await failure(leader.client.Auth.Authenticate({ name: "ghost", password: "x" }));
    assert.equal(ghost.details, "etcdserver: authentication failed, invalid user ID or password");
    const r = await leader.client.Auth.Authenticate({ name: "root", password: "rootpw" });
    root = md(r.token as string);
    const a = await follower.client.Auth.Authenticate({ name: "alice", password: "alicepw" });
    alice = md(a.token as string);
    // Issued by the follower, used on the leader and the other way round.
    await leader.client.KV.Put({ key: b("app/1"), value: b("v") }, alice);
    await follower.client.KV.Put({ key: b("top"), value: b("v") }, root);
  });

  it("checks every KV request: no token, a bad token, outside the user's permissions", async () => {
    for (const node of [leader, follower]) {
      const none = await failure(node.client.KV.Put({ key: b("app/x"), value: b("v") }));
      assert.deepEqual(
        [none.code, none.details],
        [INVALID_ARGUMENT, "etcdserver: user name is empty"],
      );
      const forged = await failure(
        node.client.KV.Range({ key: b("app/x") }, md("eyJ1Ijoicm9vdCJ9.AAAA")),
      );
      assert.deepEqual(
        [forged.code, forged.details],
        [UNAUTHENTICATED, "etcdserver: invalid auth token"],
      );
      const denied = await failure(node.client.KV.Put({ key: b("other"), value: b("v") }, alice));
      assert.deepEqual(
        [denied.code, denied.details],
        [PERMISSION_DENIED, "etcdserver: permission denied"],
      );
      const ro = await failure(node.client.KV.Put({ key: b("pub"), value: b("v") }, alice));
      assert.equal(ro.details, "etcdserver: permission denied", "read-only grant");
      await node.client.KV.Range({ key: b("pub") }, alice);
      await node.client.KV.Range({ key: b("app/"), range_end: b("app0") }, alice);
      const wide = await failure(
        node.client.KV.Range({ key: b("app/"), range_end: b("\0") }, alice),
      );
      assert.equal(wide.details, "etcdserver: permission denied");
      const txn = await failure(
        node.client.KV.Txn(
          {
            compare: [],
            success: [{ request_put: { key: b("app/t"), value: b("1") } }],
            failure: [{ request_range: { key: b("secret") } }],
          },
          alice,
        ),
      );
      assert.equal(txn.details, "etcdserver: permission denied", "both branches are checked");
      const compact = await failure(node.client.KV.Compact({ revision: 1 }, alice));
      assert.equal(compact.details, "etcdserver: permission denied", "compaction is root's");
    }
  });

  it("a forwarded proposal's user comes from its token, never from the follower's bytes", async () => {
    const forged = {
      op: "etcd-put" as const,
      ts: Date.now(),
      req: { key: b("top"), value: b("forged") },
      user: "root",
    };
    const noToken = await follower.etcd.link.propose(1, forged);
    assert.ok(noToken.ok);
    assert.deepEqual(noToken.result, { kind: "auth", error: "UserEmpty" });
    const aliceToken = alice.get("token")[0] as string;
    const asAlice = await follower.etcd.link.propose(1, forged, false, aliceToken);
    assert.ok(asAlice.ok);
    assert.deepEqual(asAlice.result, { kind: "auth", error: "PermissionDenied" });
    assert.ok(encodeCommand(forged).length > 0);
    // Nor may a follower's bytes pass a compaction off as the leader's own auto-compaction.
    const auto = { op: "compact" as const, ts: Date.now(), revision: 2, auto: true as const };
    const compact = await follower.etcd.link.propose(1, auto);
    assert.ok(compact.ok);
    assert.deepEqual(compact.result, { kind: "auth", error: "UserEmpty" });
  });

  it("watch outside the permissions: created, then canceled with etcd's reason", async () => {
    const Watch = follower.client.raw.Watch as unknown as {
      Watch(m?: grpc.Metadata): grpc.ClientDuplexStream<Wire, Wire>;
    };
    const call = Watch.Watch(alice);
    const got: Wire[] = [];
    const done = new Promise<void>((resolve) =>
      call.on("data", (w: Wire) => got.push(w) === 2 && resolve()),
    );
    call.on("error", () => {});
    call.write({ create_request: { key: b("secret") } });
    call.write({ create_request: { key: b("app/"), range_end: b("app0") } });
    await done;
    assert.equal(got[0]?.created, true);
    assert.equal(got[0]?.canceled, true);
    assert.match(String(got[0]?.cancel_reason), /etcdserver: permission denied/);
    assert.equal(got[1]?.created, true);
    assert.equal(got[1]?.canceled, false, "the permitted watch stays");
    call.cancel();
  });

  it("leases, cluster and maintenance need a user; their admin calls need root", async () => {
    const c = follower.client;
    assert.equal(
      (await failure(c.Lease.LeaseGrant({ TTL: 10 }))).details,
      "etcdserver: user name is empty",
    );
    const lease = await c.Lease.LeaseGrant({ TTL: 10 }, alice);
    await c.KV.Put({ key: b("app/l"), value: b("v"), lease: lease.ID }, alice);
    await c.Lease.LeaseLeases({}, alice);
    assert.equal(
      (await failure(c.Lease.LeaseLeases({}))).details,
      "etcdserver: user name is empty",
    );
    assert.equal(
      (await failure(c.Cluster.MemberList({}))).details,
      "etcdserver: user name is empty",
    );
    await c.Cluster.MemberList({}, alice);
    assert.equal(
      (await failure(c.Maintenance.Status({}))).details,
      "etcdserver: user name is empty",
    );
    await c.Maintenance.Status({}, alice);
    const defrag = await failure(c.Maintenance.Defragment({}, alice));
    assert.deepEqual(
      [defrag.code, defrag.details],
      [PERMISSION_DENIED, "etcdserver: permission denied"],
    );
    await c.Maintenance.Defragment({}, root);
    // A streaming call (Snapshot) is refused with the same status, ending the stream.
    const raw = c.raw.Maintenance as unknown as {
      Snapshot(req: Wire, md: grpc.Metadata): grpc.ClientReadableStream<Wire>;
    };
    const snap = await new Promise<{ code: number; details: string }>((resolve) => {
      const s = raw.Snapshot({}, alice);
      s.on("data", () => {});
      s.on("error", (e) => resolve(e as unknown as { code: number; details: string }));
      s.on("end", () => resolve({ code: 0, details: "ended without an error" }));
    });
    assert.deepEqual(
      [snap.code, snap.details],
      [PERMISSION_DENIED, "etcdserver: permission denied"],
    );
    assert.equal(
      (await failure(c.Auth.UserList({}, alice))).details,
      "etcdserver: permission denied",
    );
    // A user reads its own record and its roles; root reads all.
    assert.deepEqual((await c.Auth.UserGet({ name: "alice" }, alice)).roles, ["app"]);
    assert.equal(
      (await failure(c.Auth.UserGet({ name: "root" }, alice))).details,
      "etcdserver: permission denied",
    );
    const perms = (await c.Auth.RoleGet({ role: "app" }, alice)).perm as Wire[];
    assert.deepEqual(
      perms.map((p) => [p.permType, Buffer.from(p.key as Uint8Array).toString()]),
      [
        [2, "app/"],
        [0, "pub"],
      ],
    );
    assert.deepEqual((await c.Auth.UserList({}, root)).users, ["alice", "root"]);
    assert.deepEqual((await c.Auth.RoleList({}, root)).roles, ["app", "root"]);
    await c.Lease.LeaseRevoke({ ID: lease.ID }, alice);
  });

  it("a password change ends the user's tokens; root cannot be deleted while auth is on; disable", async () => {
    const c = leader.client;
    await c.Auth.UserChangePassword({ name: "alice", password: "new" }, root);
    const old = await failure(c.KV.Range({ key: b("pub") }, alice));
    assert.equal(old.details, "etcdserver: invalid auth token");
    const fresh = await c.Auth.Authenticate({ name: "alice", password: "new" });
    await c.KV.Range({ key: b("pub") }, md(fresh.token as string));
    assert.equal(
      (await failure(c.Auth.UserDelete({ name: "root" }, root))).details,
      "etcdserver: invalid auth management",
    );
    assert.equal(
      (await failure(c.Auth.AuthDisable({}, md(fresh.token as string)))).details,
      "etcdserver: permission denied",
    );
    await c.Auth.AuthDisable({}, root);
    await c.KV.Put({ key: b("anything"), value: b("v") });
    await c.KV.Put({ key: b("anything"), value: b("v") }, root); // a stale token is ignored
  });
});
