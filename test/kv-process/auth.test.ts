// Auth on a 3-node `raftwork kv cluster` (README, "Security"), driven as users drive it:
// etcdctl 3.4 sets users and roles up and enables auth; etcdctl --user, the etcd3 npm
// client, raftwork's own CLI and plain HTTP are allowed and refused with etcd's messages; a
// token issued by one member works on the others; the auth state survives a restart of every
// node (with snapshots taken, so it comes back from them); auth disable opens the cluster.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Etcd3, Range } from "etcd3";
import { etcdClient } from "../kv/etcd/harness.js";
import {
  CLI,
  freeRange,
  killAll,
  launchCluster,
  removeTempDirs,
  runProcess,
  tempDir,
} from "./harness.js";

const ETCDCTL = process.env.ETCDCTL ?? "/usr/bin/etcdctl";
const missing = !existsSync(ETCDCTL);
if (missing && process.env.CI === "true") throw new Error(`CI=true but ${ETCDCTL} is missing`);

const run = runProcess;

describe("auth on a raftwork cluster", { skip: missing ? `${ETCDCTL} not found` : false }, () => {
  const data = tempDir("auth");
  let bases: { raft: number; http: number; grpc: number };
  let stop: () => Promise<void> = async () => {};
  let http: string[] = [];
  let grpcs: string[] = [];

  async function start() {
    const { child, out } = await launchCluster([
      "--nodes",
      "3",
      "--data",
      data,
      "--raft-port-base",
      String(bases.raft),
      "--http-port-base",
      String(bases.http),
      "--grpc-port-base",
      String(bases.grpc),
      "--election-timeout",
      "300ms",
      "--heartbeat",
      "50ms",
      "--snapshot-entries",
      "5",
      "--log-level",
      "warn",
    ]);
    assert.match(out, /cluster ready/, out);
    http = [...out.matchAll(/node \d+\s+(http:\/\/\S+)/g)].map((m) => m[1] as string);
    grpcs = [...out.matchAll(/grpc (\S+)/g)].map((m) => m[1] as string);
    assert.equal(http.length, 3, out);
    stop = async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      await exited;
    };
  }

  const etcdctl = (args: string[], input = "") =>
    run(
      ETCDCTL,
      [`--endpoints=${grpcs.join(",")}`, "--dial-timeout=10s", "--command-timeout=30s", ...args],
      input,
    );
  const ok = async (args: string[], input = "") => {
    const r = await etcdctl(args, input);
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const raftwork = (args: string[], input = "") =>
    run(process.execPath, [CLI, "kv", ...args, "--endpoints", http.join(",")], input);

  before(async () => {
    const raft = await freeRange(3);
    const h = await freeRange(3, [raft]);
    const g = await freeRange(3, [raft, h]);
    bases = { raft, http: h, grpc: g };
    await start();
  });
  after(async () => {
    await stop();
    killAll();
    removeTempDirs();
  });

  it("etcdctl sets up users and roles and enables auth (which needs root)", async () => {
    const noRoot = await etcdctl(["auth", "enable"]);
    assert.notEqual(noRoot.code, 0);
    assert.match(noRoot.stderr, /etcdserver: root user does not exist/);
    assert.match(
      await ok(["user", "add", "root:rootpw", "--interactive=false"]),
      /User root created/,
    );
    await ok(["user", "add", "alice:alicepw", "--interactive=false"]);
    await ok(["role", "add", "app"]);
    const dup = await etcdctl(["role", "add", "app"]);
    assert.match(dup.stderr, /etcdserver: role name already exists/);
    assert.match(
      await ok(["role", "grant-permission", "app", "readwrite", "app/", "--prefix"]),
      /Role app updated/,
    );
    await ok(["user", "grant-role", "alice", "app"]);
    // etcdctl adds the root role and grants it to root when AuthEnable asks for it.
    assert.match(await ok(["auth", "enable"]), /Authentication Enabled/);
  });

  it("etcdctl --user: allowed, and denied with etcd's exact messages", async () => {
    const anon = await etcdctl(["put", "app/x", "v"]);
    assert.notEqual(anon.code, 0);
    assert.match(anon.stderr, /etcdserver: user name is empty/);
    assert.match(await ok(["--user", "alice:alicepw", "put", "app/x", "hello"]), /OK/);
    assert.equal(
      await ok(["--user", "alice:alicepw", "get", "app/x", "--print-value-only"]),
      "hello\n",
    );
    const denied = await etcdctl(["--user", "alice:alicepw", "put", "other", "v"]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /etcdserver: permission denied/);
    const wide = await etcdctl(["--user", "alice:alicepw", "get", "", "--prefix"]);
    assert.match(wide.stderr, /etcdserver: permission denied/);
    const badpw = await etcdctl(["--user", "alice:nope", "get", "app/x"]);
    assert.notEqual(badpw.code, 0);
    assert.match(badpw.stderr, /etcdserver: authentication failed, invalid user ID or password/);
    const notRoot = await etcdctl(["--user", "alice:alicepw", "user", "list"]);
    assert.match(notRoot.stderr, /etcdserver: permission denied/);
    assert.match(await ok(["--user", "root:rootpw", "user", "list"]), /alice\nroot/);
    assert.match(await ok(["--user", "root:rootpw", "role", "get", "app"]), /\[app\/, app0\)/);
  });

  it("a token issued by one member is accepted by the others, over gRPC and HTTP", async () => {
    const first = etcdClient(grpcs[0] as string);
    const r = await first.Auth.Authenticate({ name: "alice", password: "alicepw" });
    first.close();
    const token = r.token as string;
    assert.equal(typeof token, "string");
    for (const address of grpcs.slice(1)) {
      const other = etcdClient(address);
      const md = new grpc.Metadata();
      md.set("token", token);
      const got = await other.KV.Range({ key: Buffer.from("app/x") }, md);
      assert.equal(
        Buffer.from((got.kvs as { value: Uint8Array }[])[0]?.value ?? []).toString(),
        "hello",
      );
      other.close();
    }
    for (const url of http) {
      const res = await fetch(`${url}/v1/kv/app/x`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "hello");
      assert.equal((await fetch(`${url}/v1/kv/app/x`)).status, 401);
      assert.equal((await fetch(`${url}/metrics`)).status, 200, "/metrics stays open");
    }
    // And the other way: HTTP's token over gRPC on another member.
    const login = await fetch(`${http[2]}/v1/auth/authenticate`, {
      method: "POST",
      body: JSON.stringify({ name: "alice", password: "alicepw" }),
    });
    const httpToken = ((await login.json()) as { token: string }).token;
    const c1 = etcdClient(grpcs[0] as string);
    const md = new grpc.Metadata();
    md.set("token", httpToken);
    await c1.KV.Put({ key: Buffer.from("app/h"), value: Buffer.from("1") }, md);
    c1.close();
  });

  it("raftwork's CLI: --user with the password on stdin, management as root", async () => {
    const put = await raftwork(["put", "app/cli", "v1", "--user", "alice"], "alicepw\n");
    assert.equal(put.code, 0, put.stderr);
    const got = await raftwork(["get", "app/cli", "--user", "alice:alicepw"]);
    assert.deepEqual([got.code, got.stdout], [0, "v1"]);
    const denied = await raftwork(["put", "other", "v", "--user", "alice:alicepw"]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /403 etcdserver: permission denied/);
    const anon = await raftwork(["get", "app/cli"]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /401/);
    const add = await raftwork(["user", "add", "bob", "--user", "root"], "rootpw\nbobpw\n");
    assert.equal(add.code, 0, add.stderr);
    assert.match(
      (await raftwork(["role", "add", "ro", "--user", "root:rootpw"])).stdout,
      /Role ro created/,
    );
    const grant = await raftwork([
      "role",
      "grant-permission",
      "ro",
      "read",
      "app/",
      "--prefix",
      "--user",
      "root:rootpw",
    ]);
    assert.equal(grant.code, 0, grant.stderr);
    assert.equal(
      (await raftwork(["user", "grant-role", "bob", "ro", "--user", "root:rootpw"])).code,
      0,
    );
    assert.equal((await raftwork(["get", "app/cli", "--user", "bob:bobpw"])).stdout, "v1");
    assert.match(
      (await raftwork(["put", "app/cli", "x", "--user", "bob:bobpw"])).stderr,
      /permission denied/,
    );
    assert.match(
      (await raftwork(["user", "list", "--user", "root:rootpw"])).stdout,
      /^alice\nbob\nroot\n$/,
    );
    assert.match(
      (await raftwork(["role", "get", "ro", "--user", "root:rootpw"])).stdout,
      /read\t"app\/" \.\. "app0"/,
    );
    const dup = await raftwork(["role", "add", "ro", "--user", "root:rootpw"]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /etcdserver: role name already exists/);
  });

  it("the etcd3 npm client manages users, roles and permissions as root", async () => {
    const admin = new Etcd3({
      hosts: grpcs.map((g) => `http://${g}`),
      auth: { username: "root", password: "rootpw" },
    });
    const carolClient = new Etcd3({
      hosts: grpcs.map((g) => `http://${g}`),
      auth: { username: "carol", password: "carolpw" },
    });
    try {
      const role = await admin.role("npm").create();
      await role.grant({ permission: "Readwrite", range: Range.prefix("npm/") });
      const perms = await role.permissions();
      assert.equal(perms.length, 1);
      assert.equal(perms[0]?.permission, "Readwrite");
      const carol = await admin.user("carol").create("carolpw");
      await carol.addRole("npm");
      assert.deepEqual(
        (await carol.roles()).map((r) => r.name),
        ["npm"],
      );
      assert.ok((await admin.getUsers()).some((u) => u.name === "carol"));
      assert.ok((await admin.getRoles()).some((r) => r.name === "npm"));
      await carolClient.put("npm/x").value("1");
      assert.equal(await carolClient.get("npm/x").string(), "1");
      await assert.rejects(admin.role("npm").create(), /role name already exists/i);
      await role.revoke({ permission: "Readwrite", range: Range.prefix("npm/") });
      await assert.rejects(carolClient.put("npm/y").value("2").exec(), /permission denied/i);
      await carol.removeRole("npm");
      await carol.delete();
      await role.delete();
    } finally {
      carolClient.close();
      admin.close();
    }
  });

  it("the etcd3 npm client authenticates and gets etcd's errors", async () => {
    const client = new Etcd3({
      hosts: grpcs.map((g) => `http://${g}`),
      auth: { username: "alice", password: "alicepw" },
    });
    try {
      await client.put("app/npm").value("n");
      assert.equal(await client.get("app/npm").string(), "n");
      await assert.rejects(client.put("other").value("n").exec(), /permission denied/i);
    } finally {
      client.close();
    }
  });

  it("the auth state survives a restart of every node; auth disable opens the cluster", async () => {
    await stop();
    await start();
    assert.equal(
      await ok(["--user", "alice:alicepw", "get", "app/x", "--print-value-only"]),
      "hello\n",
    );
    assert.match((await etcdctl(["get", "app/x"])).stderr, /etcdserver: user name is empty/);
    assert.match(
      (await etcdctl(["--user", "alice:alicepw", "auth", "disable"])).stderr,
      /permission denied/,
    );
    assert.match(await ok(["--user", "root:rootpw", "auth", "disable"]), /Authentication Disabled/);
    assert.match(await ok(["put", "open", "v"]), /OK/);
    assert.equal((await fetch(`${http[1]}/v1/kv/open`)).status, 200);
  });
});
