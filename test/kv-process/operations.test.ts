// Cluster operations with real processes (README, "Operations"): `kv health`, `kv move-leader`
// and `kv status` exit statuses; a backup taken under writes and restored into a NEW 3-node
// cluster; an etcdctl-saved backup restored with `kv snapshot restore`; disaster recovery with
// `--force-new-cluster` after two of three members are lost for good.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { startEtcdCluster } from "./etcd-cluster.js";
import {
  CLI,
  Client,
  killAll,
  type ProcessResult,
  removeTempDirs,
  request,
  runCli,
  sleep,
  TestCluster,
  tempDir,
} from "./harness.js";

const ETCDCTL = process.env.ETCDCTL ?? "/usr/bin/etcdctl";

after(() => {
  killAll();
  removeTempDirs();
});

/** The CLI without blocking this process (writers keep running meanwhile). */
function runCliAsync(args: string[], timeoutMs = 60_000): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI until it exits with `want` (polling: the cluster needs time to notice). */
async function until(args: string[], want: number, timeoutMs = 20_000): Promise<ProcessResult> {
  const deadline = Date.now() + timeoutMs;
  let r = await runCliAsync(args);
  while (r.code !== want && Date.now() < deadline) {
    await sleep(100);
    r = await runCliAsync(args);
  }
  assert.equal(r.code, want, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r;
}

async function listAll(url: string, prefix: string): Promise<Map<string, string>> {
  const a = await request(
    `${url}/v1/kv?prefix=${encodeURIComponent(prefix)}&limit=10000`,
    {},
    10_000,
  );
  assert.equal(a?.status, 200, a?.body);
  const rows = JSON.parse(a.body) as { key: string; value: string }[];
  return new Map(rows.map((r) => [r.key, r.value]));
}

describe("kv health, move-leader and status", () => {
  it("answer with the contract's exit statuses as members stop", async () => {
    const c = await TestCluster.create(3, ["--log-level", "warn"]);
    await c.startAll();
    const eps = ["--endpoints", c.urls.join(",")];
    const leader = await c.leader();
    const h = await until(["kv", "health", ...eps], 0);
    assert.equal(h.stdout.match(/is healthy: leader \d+/g)?.length, 3, h.stdout);

    const follower = c.nodes.map((n) => n.id).find((id) => id !== leader) as number;
    const moved = await runCliAsync(["kv", "move-leader", String(follower), ...eps]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(await c.leader(), follower);
    // Asked of a follower, the request is relayed to the leader.
    const back = await runCliAsync([
      "kv",
      "move-leader",
      String(leader),
      "--endpoints",
      c.url(leader),
    ]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(await c.leader(), leader);

    const stranger = await runCliAsync(["kv", "move-leader", "99", ...eps]);
    assert.equal(stranger.code, 1, stranger.stderr);
    assert.match(stranger.stderr, /node 99 is not a voter/);
    const bad = await request(`${c.url(leader)}/v1/leader`, { method: "POST", body: '{"id":"2"}' });
    assert.equal(bad?.status, 400, bad?.body);
    const usage = runCli(["kv", "move-leader", "x", ...eps]);
    assert.equal(usage.code, 2, usage.stderr);

    // A target that cannot answer: the transfer is abandoned after an election timeout (504).
    const sleeper = c.nodes.map((n) => n.id).find((id) => id !== leader) as number;
    c.pause(sleeper);
    const stuck = await runCliAsync(["kv", "move-leader", String(sleeper), ...eps]);
    c.resume(sleeper);
    assert.equal(stuck.code, 3, stuck.stdout + stuck.stderr);
    assert.match(stuck.stderr, /did not take over/);
    await until(["kv", "health", ...eps], 0);

    const [a, b] = c.nodes.map((n) => n.id).filter((id) => id !== leader) as [number, number];
    await c.kill9(a);
    const some = await until(["kv", "health", ...eps], 1);
    assert.match(some.stdout, /is unhealthy: unreachable/);
    assert.equal(some.stdout.match(/is healthy/g)?.length, 2, some.stdout);
    const status = await runCliAsync(["kv", "status", ...eps]);
    assert.equal(status.code, 0, status.stderr);

    await c.kill9(b);
    const none = await until(["kv", "health", ...eps], 3);
    assert.match(none.stdout, new RegExp(`${c.url(leader)} is unhealthy: `));
    const open = await request(`${c.url(leader)}/health`);
    assert.equal(open?.status, 503);
    assert.equal(JSON.parse(open.body).health, false);
    // Check-quorum makes the lone leader step down; then no node knows a leader.
    const st = await until(["kv", "status", ...eps], 3);
    assert.match(st.stderr, /no node knows a leader/);
    await c.stopAll();
  });
});

describe("kv snapshot save and restore", () => {
  it("a backup taken under writes restores into a new 3-node cluster with every write acknowledged before it", async () => {
    const old = await TestCluster.create(3, ["--log-level", "warn", "--snapshot-entries", "200"]);
    await old.startAll();
    await old.leader();
    const acked = new Map<string, { value: string; at: number }>();
    let writing = true;
    const failures: string[] = [];
    const writers = [0, 1, 2, 3].map(async (w) => {
      const client = new Client(`writer-${w}`, () => old.urls);
      for (let n = 0; writing; n++) {
        const key = `w-${w}-${String(n).padStart(6, "0")}`;
        const value = `${w}:${n}`;
        const a = await client.write("PUT", `/v1/kv/${key}`, value);
        // Unanswered, it may or may not be in the backup: stop this writer's sequence here.
        if (a?.status !== 200) return void failures.push(`${key}: ${a?.status} ${a?.body}`);
        acked.set(key, { value, at: Date.now() });
      }
    });
    while (acked.size < 300) await sleep(20);
    const file = join(tempDir("backup"), "cluster.backup");
    const started = Date.now();
    const saved = await runCliAsync([
      "kv",
      "snapshot",
      "save",
      file,
      "--endpoints",
      old.urls.join(","),
    ]);
    await sleep(300);
    writing = false;
    await Promise.all(writers);
    assert.deepEqual(failures, []);
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stdout, /sha256 verified/);
    const before = [...acked].filter(([, v]) => v.at < started);
    assert.ok(before.length >= 300);
    assert.ok(acked.size > before.length, "no write was acknowledged after the backup started");
    assert.equal(readFileSync(file).length % 512, 32);
    assert.deepEqual(
      readdirSync(join(file, "..")),
      ["cluster.backup"],
      "the temp file was left behind",
    );
    await old.stopAll();

    const fresh = await TestCluster.create(3, ["--log-level", "warn"]);
    for (const n of fresh.nodes) {
      const r = runCli([
        "kv",
        "snapshot",
        "restore",
        file,
        "--data",
        n.data,
        "--id",
        String(n.id),
        "--peers",
        fresh.peers,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /new cluster/);
      assert.match(r.stdout, /old voters 1,2,3\)/);
    }
    await fresh.startAll();
    const leader = await fresh.leader();
    const got = await listAll(fresh.url(leader), "w-");
    for (const [key, { value }] of before) assert.equal(got.get(key), value, `${key} is missing`);
    // A consistent cut: each writer's keys present form a prefix of what it wrote in order.
    for (const w of [0, 1, 2, 3]) {
      const mine = [...got.keys()].filter((k) => k.startsWith(`w-${w}-`)).sort();
      mine.forEach((k, i) => {
        assert.equal(k, `w-${w}-${String(i).padStart(6, "0")}`);
      });
    }
    const st = await fresh.status(leader);
    assert.deepEqual(st?.members, [1, 2, 3]);
    const after = await new Client("after", () => fresh.urls).write("PUT", "/v1/kv/new", "x");
    assert.equal(after?.status, 200);
    const health = await until(["kv", "health", "--endpoints", fresh.urls.join(",")], 0);
    assert.match(health.stdout, /is healthy/);
    await fresh.stopAll();

    // Damage and misuse: a clear error, and nothing created.
    const target = join(tempDir("restore"), "member");
    const peers = ["--id", "1", "--peers", "1=127.0.0.1:1"];
    const bytes = readFileSync(file);
    const flipped = Buffer.from(bytes);
    const mid = Math.floor(bytes.length / 2);
    flipped[mid] = (flipped[mid] as number) ^ 0x10;
    const damagedFile = `${file}.flipped`;
    writeFileSync(damagedFile, flipped);
    const d1 = runCli(["kv", "snapshot", "restore", damagedFile, "--data", target, ...peers]);
    assert.equal(d1.code, 1);
    assert.match(d1.stderr, /damaged: its sha256 checksum does not match/);
    const cutFile = `${file}.cut`;
    writeFileSync(cutFile, bytes.subarray(0, bytes.length - 100));
    const d2 = runCli(["kv", "snapshot", "restore", cutFile, "--data", target, ...peers]);
    assert.equal(d2.code, 1);
    assert.match(d2.stderr, /truncated/);
    assert.ok(!existsSync(target), "a refused restore created the directory");
    const used = old.spec(1).data;
    const d3 = runCli(["kv", "snapshot", "restore", file, "--data", used, ...peers]);
    assert.equal(d3.code, 1);
    assert.match(d3.stderr, /is not empty/);
    const d4 = runCli([
      "kv",
      "snapshot",
      "restore",
      file,
      "--data",
      target,
      "--id",
      "2",
      "--peers",
      "1=127.0.0.1:1",
    ]);
    assert.equal(d4.code, 2);
    const nowhere = runCli([
      "kv",
      "snapshot",
      "save",
      "/nonexistent-dir/x",
      "--endpoints",
      "http://127.0.0.1:1",
    ]);
    assert.equal(nowhere.code, 3, nowhere.stderr);
  });

  it("restores a backup etcdctl saved through the etcd API", {
    skip: !existsSync(ETCDCTL),
  }, async () => {
    const etcd = await startEtcdCluster();
    const env = { ...process.env, ETCDCTL_API: "3" };
    const ctl = (endpoints: string[], args: string[]) =>
      spawnSync(ETCDCTL, [`--endpoints=${endpoints.join(",")}`, "--command-timeout=30s", ...args], {
        encoding: "utf8",
        env,
        timeout: 60_000,
      });
    for (let i = 0; i < 20; i++) {
      assert.equal(ctl(etcd.endpoints, ["put", `etcd-${i}`, `v${i}`]).status, 0);
    }
    const file = join(tempDir("etcdctl"), "etcd.db");
    // etcdctl saves from exactly one endpoint.
    const save = ctl(etcd.endpoints.slice(0, 1), ["snapshot", "save", file]);
    assert.equal(save.status, 0, save.stderr);
    await etcd.stop();

    const one = await TestCluster.create(1, ["--log-level", "warn"]);
    const r = runCli([
      "kv",
      "snapshot",
      "restore",
      file,
      "--data",
      one.spec(1).data,
      "--id",
      "1",
      "--peers",
      one.peers,
    ]);
    assert.equal(r.code, 0, r.stderr);
    await one.start(1);
    await one.leader();
    const got = await listAll(one.url(1), "etcd-");
    assert.equal(got.size, 20);
    assert.equal(got.get("etcd-7"), "v7");
    await one.stopAll();
  });
});

describe("kv serve --force-new-cluster", () => {
  it("brings the data of the last member back online as a one-member cluster, once", async () => {
    const c = await TestCluster.create(3, ["--log-level", "warn"]);
    await c.startAll();
    await c.leader();
    const client = new Client("dr", () => c.urls);
    for (let i = 0; i < 30; i++) {
      assert.equal((await client.write("PUT", `/v1/kv/k${i}`, `v${i}`))?.status, 200);
    }
    // Members 2 and 3 are lost for good; member 1 survives (stopped too, to restart it).
    await c.stopAll();
    const flag = ["--force-new-cluster"];
    await c.start(1, flag);
    assert.match(c.logs.get(1) ?? "", /members 2, 3 are discarded/);
    assert.equal(await c.leader(), 1);
    assert.deepEqual((await c.status(1))?.members, [1]);
    const one = new Client("dr-after", () => [c.url(1)]);
    assert.equal((await one.write("PUT", "/v1/kv/after", "yes"))?.status, 200);
    const got = await listAll(c.url(1), "k");
    for (let i = 0; i < 30; i++) assert.equal(got.get(`k${i}`), `v${i}`);
    // A backup now records the configuration the forced entry put in effect.
    const file = join(tempDir("fnc-backup"), "one.backup");
    const saved = runCli(["kv", "snapshot", "save", file, "--endpoints", c.url(1)]);
    assert.equal(saved.code, 0, saved.stderr);
    const target = join(tempDir("fnc-restore"), "m");
    const r = runCli([
      "kv",
      "snapshot",
      "restore",
      file,
      "--data",
      target,
      "--id",
      "1",
      "--peers",
      "1=127.0.0.1:1",
    ]);
    assert.match(r.stdout, /old voters 1\)/, r.stdout + r.stderr);

    // The flag left on the command line: warned about and ignored.
    await c.kill9(1);
    c.logs.set(1, "");
    await c.start(1, flag);
    assert.match(c.logs.get(1) ?? "", /--force-new-cluster ignored/);
    assert.equal(await c.leader(), 1);
    assert.equal((await one.read("/v1/kv/after"))?.body, "yes");
    assert.deepEqual((await c.status(1))?.members, [1]);
    await c.stopAll();

    const empty = runCli([
      "kv",
      "serve",
      "--id",
      "1",
      "--peers",
      "1=127.0.0.1:1",
      "--http",
      "127.0.0.1:1",
      "--data",
      join(tempDir("fnc"), "none"),
      "--force-new-cluster",
    ]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /needs the data of an existing member/);
  });
});
