// Auth on the native HTTP API (src/kv/auth/http.ts, src/kv/http-api.ts): POST
// /v1/auth/authenticate, bearer tokens, 401/403, the session cookie for reads only, and a
// follower forwarding reads and batched writes with the caller's token.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SESSION_COOKIE } from "../../../src/kv/auth/http.js";
import { b, startNodes, stopNodes, type TestNode } from "../etcd/harness.js";
import { request } from "../fake-service.js";

describe("HTTP API auth", () => {
  let nodes: TestNode[];
  let leader: TestNode;
  let follower: TestNode;
  let token = "";
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  before(async () => {
    nodes = await startNodes(2);
    leader = nodes[0] as TestNode;
    follower = nodes[1] as TestNode;
    const A = leader.client.Auth;
    await A.UserAdd({ name: "root", password: "rootpw" });
    await A.UserGrantRole({ user: "root", role: "root" });
    await A.UserAdd({ name: "alice", password: "alicepw" });
    await A.RoleAdd({ name: "app" });
    await A.RoleGrantPermission({
      name: "app",
      perm: { permType: 2, key: b("app/"), range_end: b("app0") },
    });
    await A.UserGrantRole({ user: "alice", role: "app" });
    await A.AuthEnable({});
  });
  after(() => stopNodes(nodes));

  const login = (url: string, name: string, password: string) =>
    request(url, "POST", "/v1/auth/authenticate", {
      body: JSON.stringify({ name, password }),
      headers: { "content-type": "application/json" },
    });

  it("POST /v1/auth/authenticate gives a token for the right password, 401 otherwise", async () => {
    const bad = await login(follower.http.url, "alice", "wrong");
    assert.equal(bad.status, 401);
    assert.match(bad.body, /authentication failed, invalid user ID or password/);
    assert.equal((await login(follower.http.url, "nobody", "x")).status, 401);
    const garbage = await request(follower.http.url, "POST", "/v1/auth/authenticate", {
      body: "{",
    });
    assert.equal(garbage.status, 400);
    const huge = await request(follower.http.url, "POST", "/v1/auth/authenticate", {
      body: "x".repeat(64 * 1024),
    });
    assert.equal(huge.status, 413);
    const good = await login(follower.http.url, "alice", "alicepw");
    assert.equal(good.status, 200);
    token = JSON.parse(good.body).token;
    assert.equal(typeof token, "string");
  });

  it("every API route answers 401 without credentials and 403 outside the permissions", async () => {
    for (const node of [leader, follower]) {
      const url = node.http.url;
      const none = await request(url, "GET", "/v1/kv/app/x");
      assert.equal(none.status, 401);
      assert.match(String(none.headers["www-authenticate"]), /^Bearer/);
      assert.equal((await request(url, "PUT", "/v1/kv/app/x", { body: "v" })).status, 401);
      assert.equal((await request(url, "GET", "/v1/kv?prefix=app/")).status, 401);
      assert.equal((await request(url, "GET", "/v1/status")).status, 200, "status stays open");
      const forged = await request(url, "GET", "/v1/kv/app/x", { headers: bearer(`${token}x`) });
      assert.equal(forged.status, 401);
      assert.match(forged.body, /etcdserver: invalid auth token/);
      const out = await request(url, "PUT", "/v1/kv/other", { body: "v", headers: bearer(token) });
      assert.equal(out.status, 403);
      assert.match(out.body, /etcdserver: permission denied/);
      const all = await request(url, "GET", "/v1/kv?prefix=", { headers: bearer(token) });
      assert.equal(all.status, 403);
      // Routes beyond the keys and auth (membership, snapshots, ...) are root's by default.
      const other = await request(url, "GET", "/v1/anything", { headers: bearer(token) });
      assert.equal(other.status, 403);
      assert.equal((await request(url, "GET", "/v1/anything")).status, 401);
      // /metrics and /health are never behind auth (these test nodes serve neither: 404).
      assert.equal((await request(url, "GET", "/metrics")).status, 404);
      assert.equal((await request(url, "GET", "/health")).status, 404);
    }
    assert.equal(leader.service.sm.get("other"), undefined);
  });

  it("a follower forwards writes and reads with the caller's token", async () => {
    const before = leader.service.proposals;
    const put = await request(follower.http.url, "PUT", "/v1/kv/app/x", {
      body: "hello",
      headers: bearer(token),
    });
    assert.equal(put.status, 200);
    assert.ok(leader.service.proposals > before, "the leader proposed it");
    assert.equal(Buffer.from(leader.service.sm.get("app/x") ?? []).toString(), "hello");
    const get = await request(follower.http.url, "GET", "/v1/kv/app/x", { headers: bearer(token) });
    assert.deepEqual([get.status, get.body], [200, "hello"]);
    const list = await request(follower.http.url, "GET", "/v1/kv?prefix=app/", {
      headers: bearer(token),
    });
    assert.equal(list.status, 200);
    assert.deepEqual(JSON.parse(list.body), [{ key: "app/x", value: "hello" }]);
  });

  it("the session cookie works for reads only", async () => {
    const cookie = { cookie: `${SESSION_COOKIE}=${token}` };
    const get = await request(leader.http.url, "GET", "/v1/kv/app/x", { headers: cookie });
    assert.equal(get.status, 200);
    const put = await request(leader.http.url, "PUT", "/v1/kv/app/x", {
      body: "v",
      headers: cookie,
    });
    assert.equal(put.status, 401);
  });
});
