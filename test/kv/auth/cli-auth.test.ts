// `raftwork kv auth|user|role` and `--user`, run in-process against a fake single-node service
// (test/kv-process/auth.test.ts drives the built CLI against a real cluster).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createKvHttpServer, type KvHttpServer } from "../../../src/kv/http-api.js";
import { runKv as run } from "../../support/run-kv.js";
import { FakeService } from "../fake-service.js";

describe("raftwork kv auth, user and role", () => {
  let svc: FakeService;
  let server: KvHttpServer;
  let ep: string[];
  const root = ["--user", "root:rootpw"];
  before(async () => {
    svc = new FakeService(1, 1);
    server = await createKvHttpServer("127.0.0.1", 0, { service: svc, sm: svc.sm, id: 1 });
    ep = ["--endpoints", server.url];
  });
  after(() => server.close());

  it("auth enable needs root, then gives root the root role itself (as etcdctl does)", async () => {
    const none = await run("auth", "enable", ...ep);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /etcdserver: root user does not exist/);
    assert.equal((await run("user", "add", "root:rootpw", ...ep)).code, 0);
    assert.deepEqual(svc.sm.auth.user("root")?.roles, [], "user add grants nothing");
    const on = await run("auth", "enable", ...ep);
    assert.deepEqual([on.code, on.stdout], [0, "Authentication Enabled\n"]);
    assert.deepEqual(svc.sm.auth.user("root")?.roles, ["root"]);
    assert.equal(svc.sm.auth.enabled, true);
  });

  it("users, roles and permissions; --user on every command; refusals exit 1", async () => {
    assert.equal((await run("role", "add", "app", ...ep)).code, 1, "needs --user now");
    assert.equal((await run("role", "add", "app", ...root, ...ep)).code, 0);
    const bad = await run("role", "grant-permission", "app", "all", "k", ...root, ...ep);
    assert.equal(bad.code, 2);
    const both = await run(
      "role",
      "grant-permission",
      "app",
      "read",
      "a",
      "b",
      "--prefix",
      ...root,
      ...ep,
    );
    assert.equal(both.code, 2);
    for (const args of [
      ["role", "grant-permission", "app", "readwrite", "app/", "--prefix"],
      ["role", "grant-permission", "app", "read", "pub"],
      ["role", "grant-permission", "app", "read", "r1", "r5"],
      ["user", "add", "alice:alicepw"],
      ["user", "grant-role", "alice", "app"],
    ]) {
      const r = await run(...args, ...root, ...ep);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
    const got = await run("role", "get", "app", ...root, ...ep);
    assert.equal(
      got.stdout,
      'Role app\nKV permissions:\n\treadwrite\t"app/" .. "app0"\n\tread\t"pub"\n\tread\t"r1" .. "r5"\n',
    );
    assert.equal((await run("user", "list", ...root, ...ep)).stdout, "alice\nroot\n");
    assert.equal((await run("role", "list", ...root, ...ep)).stdout, "app\nroot\n");
    assert.equal(
      (await run("user", "get", "alice", "--user", "alice:alicepw", ...ep)).stdout,
      "User: alice\nRoles: app\n",
    );
    assert.equal((await run("put", "app/k", "v", "--user", "alice:alicepw", ...ep)).code, 0);
    const denied = await run("put", "pub", "v", "--user", "alice:alicepw", ...ep);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /403 etcdserver: permission denied/);
    const wrong = await run("get", "app/k", "--user", "alice:nope", ...ep);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /401 etcdserver: authentication failed, invalid user ID or password/,
    );
    assert.equal((await run("user", "list", "--user", "alice:alicepw", ...ep)).code, 1);
    const revoke = await run("role", "revoke-permission", "app", "pub", ...root, ...ep);
    assert.equal(revoke.code, 0, revoke.stderr);
    const again = await run("role", "revoke-permission", "app", "pub", ...root, ...ep);
    assert.match(again.stderr, /etcdserver: permission is not granted to the role/);
    assert.equal((await run("user", "revoke-role", "alice", "app", ...root, ...ep)).code, 0);
    assert.equal((await run("put", "app/k", "v", "--user", "alice:alicepw", ...ep)).code, 1);
    assert.equal((await run("user", "delete", "alice", ...root, ...ep)).code, 0);
    assert.equal((await run("role", "delete", "app", ...root, ...ep)).code, 0);
    const rootGone = await run("user", "delete", "root", ...root, ...ep);
    assert.match(rootGone.stderr, /etcdserver: invalid auth management/);
    const off = await run("auth", "disable", ...root, ...ep);
    assert.deepEqual([off.code, off.stdout], [0, "Authentication Disabled\n"]);
    assert.equal((await run("put", "any", "v", ...ep)).code, 0);
  });

  it("--user with an empty name is a usage error", async () => {
    const r = await run("get", "k", "--user", ":pw", ...ep);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /NAME must not be empty/);
  });
});
