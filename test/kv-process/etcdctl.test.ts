// etcdctl 3.4 (Debian's etcd-client) against a 3-node raftwork cluster: every command the etcd
// API contract lists (README, "etcd compatibility"), with the outputs etcdctl prints against etcd. With CI=true
// the test must run; elsewhere, without etcdctl, it is skipped with a loud message.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type EtcdTestCluster, startEtcdCluster } from "./etcd-cluster.js";
import { killAll, removeTempDirs, runProcess, sleep, tempDir } from "./harness.js";

const ETCDCTL = process.env.ETCDCTL ?? "/usr/bin/etcdctl";
const HOW = "install Debian's etcd-client (apt-get install etcd-client) or set ETCDCTL";
const missing = !existsSync(ETCDCTL);
if (missing) {
  if (process.env.CI === "true") throw new Error(`CI=true but ${ETCDCTL} is missing: ${HOW}`);
  const line = "!".repeat(100);
  process.stderr.write(
    `\n${line}\n!!! etcdctl tests SKIPPED: ${ETCDCTL} not found; ${HOW}\n${line}\n\n`,
  );
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs etcdctl to completion (killed after 60 s), feeding `input` on stdin. */
function etcdctl(args: string[], input = ""): Promise<Run> {
  return runProcess(ETCDCTL, ["--dial-timeout=10s", "--command-timeout=30s", ...args], input);
}

/** A long-running etcdctl (watch, elect): its output so far, and a way to end it. */
function background(args: string[]) {
  const child = spawn(ETCDCTL, args, { env: { ...process.env, ETCDCTL_API: "3" } });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", () => {});
  return {
    output: () => out,
    /** Polls until the output matches `re` (60 s at most). */
    async until(re: RegExp): Promise<string> {
      const deadline = Date.now() + 60_000;
      while (!re.test(out) && Date.now() < deadline && child.exitCode === null) await sleep(50);
      assert.match(out, re);
      return out;
    },
    stop: () => child.kill("SIGKILL"),
  };
}

describe("etcdctl 3.4 against raftwork", { skip: missing ? `${ETCDCTL} not found` : false }, () => {
  let c: EtcdTestCluster;
  let all: string;
  /** etcdctl with every endpoint; fails the test on a non-zero status. */
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await etcdctl([`--endpoints=${all}`, ...args], input);
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    c = await startEtcdCluster();
    all = c.endpoints.join(",");
  });
  after(async () => {
    await c?.stop();
    killAll();
    removeTempDirs();
  });

  it("version", async () => {
    assert.match(await ok(["version"]), /^etcdctl version: 3\.4\.\d+\nAPI version: 3\.4\n?$/);
  });

  it("put and get with every flag", async () => {
    assert.equal(await ok(["put", "foo", "bar"]), "OK\n");
    assert.equal(await ok(["get", "foo"]), "foo\nbar\n");
    const first = JSON.parse(await ok(["get", "foo", "-w", "json"]));
    assert.ok(BigInt(first.header.cluster_id) >= 2n ** 60n, "cluster id of at least 2^60");
    assert.equal(Buffer.from(first.kvs[0].value, "base64").toString(), "bar");
    const rev = first.kvs[0].mod_revision as number;
    await ok(["put", "foo", "baz"]);
    for (const k of ["dir/a", "dir/b", "dir/c"]) await ok(["put", k, `v-${k}`]);
    assert.equal(await ok(["get", "foo", `--rev=${rev}`]), "foo\nbar\n");
    assert.equal(await ok(["get", "foo", "--print-value-only"]), "baz\n");
    assert.equal(
      await ok(["get", "dir/", "--prefix"]),
      "dir/a\nv-dir/a\ndir/b\nv-dir/b\ndir/c\nv-dir/c\n",
    );
    assert.equal(
      await ok(["get", "dir/", "--prefix", "--limit=2"]),
      "dir/a\nv-dir/a\ndir/b\nv-dir/b\n",
    );
    assert.equal(
      await ok(["get", "dir/", "--prefix", "--sort-by=KEY", "--order=DESCEND", "--keys-only"]),
      "dir/c\n\ndir/b\n\ndir/a\n\n",
    );
    assert.equal(
      await ok([
        "get",
        "dir/",
        "--prefix",
        "--sort-by=MODIFY",
        "--order=ASCEND",
        "--print-value-only",
      ]),
      "v-dir/a\nv-dir/b\nv-dir/c\n",
    );
    const counted = JSON.parse(await ok(["get", "dir/", "--prefix", "--limit=1", "-w", "json"]));
    assert.equal(counted.count, 3);
    assert.equal(counted.more, true);
    assert.equal(await ok(["get", "dir/b", "--consistency=s"]), "dir/b\nv-dir/b\n");
    assert.equal(
      await ok(["get", "dir/a", "dir/c"]),
      "dir/a\nv-dir/a\ndir/b\nv-dir/b\n",
      "a range",
    );
    // Through one follower only: it forwards the write and reads linearizably.
    const follower = c.endpoints[2] as string;
    const one = await etcdctl([`--endpoints=${follower}`, "put", "via", "follower"]);
    assert.equal(one.stdout, "OK\n", one.stderr);
    assert.equal(
      (await etcdctl([`--endpoints=${follower}`, "get", "via"])).stdout,
      "via\nfollower\n",
    );
  });

  it("del, and txn -i from stdin", async () => {
    await ok(["put", "gone/1", "x"]);
    await ok(["put", "gone/2", "y"]);
    assert.equal(await ok(["del", "gone/1"]), "1\n");
    assert.equal(await ok(["del", "gone/", "--prefix"]), "1\n");
    assert.equal(await ok(["del", "gone/", "--prefix"]), "0\n");
    const script = 'value("foo") = "baz"\n\nput txn-result yes\n\nput txn-result no\n\n';
    assert.match(await ok(["txn", "-i"], script), /SUCCESS\n\nOK\n$/);
    assert.equal(await ok(["get", "txn-result", "--print-value-only"]), "yes\n");
    const miss = 'value("foo") = "nope"\n\nput txn-result yes\n\nput txn-result no\n\n';
    assert.match(await ok(["txn", "-i"], miss), /FAILURE\n\nOK\n$/);
    assert.equal(await ok(["get", "txn-result", "--print-value-only"]), "no\n");
  });

  it("watch: a prefix from a revision, with prev_kv", async () => {
    const rev = JSON.parse(await ok(["get", "foo", "-w", "json"])).header.revision as number;
    const w = background([
      `--endpoints=${all}`,
      "watch",
      "w/",
      "--prefix",
      "--prev-kv",
      `--rev=${rev + 1}`,
    ]);
    try {
      await ok(["put", "w/1", "a"]);
      await ok(["put", "w/1", "b"]);
      await ok(["del", "w/1"]);
      const out = await w.until(/DELETE\n/);
      assert.equal(out, "PUT\nw/1\na\nPUT\nw/1\na\nw/1\nb\nDELETE\nw/1\nb\nw/1\n\n");
    } finally {
      w.stop();
    }
  });

  it("lease grant, put --lease, keep-alive --once, timetolive, list, revoke", async () => {
    const granted = await ok(["lease", "grant", "60"]);
    const m = /^lease ([0-9a-f]+) granted with TTL\(60s\)\n$/.exec(granted);
    assert.ok(m, granted);
    const id = m[1] as string;
    await ok(["put", "leased", "v", `--lease=${id}`]);
    assert.equal(
      await ok(["lease", "keep-alive", "--once", id]),
      `lease ${id} keepalived with TTL(60)\n`,
    );
    assert.match(
      await ok(["lease", "timetolive", "--keys", id]),
      new RegExp(
        `^lease ${id} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[leased\\]\\)\\n$`,
      ),
    );
    assert.match(await ok(["lease", "list"]), new RegExp(`^found 1 leases\\n${id}\\n$`));
    assert.equal(await ok(["lease", "revoke", id]), `lease ${id} revoked\n`);
    assert.equal(await ok(["get", "leased"]), "");
    assert.equal(
      await ok(["lease", "timetolive", "1234"]),
      "lease 0000000000001234 already expired\n",
    );
  });

  it("a lease expires on its own within a second of its TTL", async () => {
    const id = /lease ([0-9a-f]+)/.exec(await ok(["lease", "grant", "2"]))?.[1] as string;
    await ok(["put", "short", "v", `--lease=${id}`]);
    const deadline = Date.now() + 30_000;
    while ((await ok(["get", "short"])) !== "" && Date.now() < deadline) await sleep(200);
    assert.equal(await ok(["get", "short"]), "");
  });

  it("lock and elect", async () => {
    assert.equal(await ok(["lock", "mylock", "echo", "got the lock"]), "got the lock\n");
    const candidate = background([`--endpoints=${all}`, "elect", "myelection", "alice"]);
    const observer = background([`--endpoints=${all}`, "elect", "-l", "myelection"]);
    try {
      await candidate.until(/^myelection\/[0-9a-f]+\nalice\n/);
      await observer.until(/^myelection\/[0-9a-f]+\nalice\n/);
    } finally {
      candidate.stop();
      observer.stop();
    }
  });

  it("member list", async () => {
    const lines = (await ok(["member", "list"])).trim().split("\n");
    assert.deepEqual(
      lines,
      [1, 2, 3].map(
        (i) =>
          `${i}, started, node-${i}, http://127.0.0.1:${c.raftBase + i}, http://127.0.0.1:${c.grpcBase + i}, false`,
      ),
    );
  });

  it("member add (learner), update, promote, remove, with etcd's errors", async () => {
    const fail = async (args: string[], message: RegExp) => {
      const r = await etcdctl([`--endpoints=${all}`, ...args]);
      assert.equal(r.code, 1, `etcdctl ${args.join(" ")}: ${r.stdout}`);
      assert.match(r.stderr, message);
    };
    const peer = `http://127.0.0.1:${c.raftBase + 9}`;
    const moved = `http://127.0.0.1:${c.raftBase + 8}`;
    const added = await ok(["member", "add", "n4", `--peer-urls=${peer}`, "--learner"]);
    assert.match(added, /^Member\s+4 added to cluster\s+[0-9a-f]{16}\n/);
    assert.match(added, new RegExp(`ETCD_INITIAL_CLUSTER=".*n4=${peer}"`));
    const listed = (await ok(["member", "list"])).trim().split("\n");
    assert.equal(listed[3], `4, unstarted, , ${peer}, , true`);
    await fail(
      ["member", "add", "n5", `--peer-urls=${peer}`],
      /etcdserver: Peer URLs already exists/,
    );
    await fail(
      ["member", "add", "n5", "--peer-urls=http://127.0.0.1:1,http://127.0.0.1:2"],
      /etcdserver: given member URLs are invalid/,
    );
    await fail(
      ["member", "promote", "4"],
      /can only promote a learner member which is in sync with leader/,
    );
    await fail(["member", "promote", "1"], /etcdserver: can only promote a learner member$/m);
    assert.match(
      await ok(["member", "update", "4", `--peer-urls=${moved}`]),
      /^Member\s+4 updated in cluster\s+[0-9a-f]{16}\n$/,
    );
    assert.match((await ok(["member", "list"])).trim().split("\n")[3] as string, new RegExp(moved));
    assert.match(
      await ok(["member", "remove", "4"]),
      /^Member\s+4 removed from cluster\s+[0-9a-f]{16}\n$/,
    );
    await fail(["member", "remove", "4"], /etcdserver: member not found/);
    await fail(["member", "update", "9", `--peer-urls=${peer}`], /etcdserver: member not found/);
    // etcd's add-then-start: a voter that is not running yet is accepted while 3 of the 4 voters
    // are live (the strict reconfiguration check), and removed again.
    // (A removed id is never reused: the new member gets 5.)
    assert.match(await ok(["member", "add", "n5", `--peer-urls=${peer}`]), /^Member\s+5 added/);
    assert.equal(
      (await ok(["member", "list"])).trim().split("\n")[3],
      `5, unstarted, , ${peer}, , false`,
    );
    assert.match(await ok(["member", "remove", "5"]), /^Member\s+5 removed/);
    assert.equal((await ok(["member", "list"])).trim().split("\n").length, 3);
  });

  it("endpoint status, health and hashkv, also with http:// endpoints", async () => {
    const status = JSON.parse(await ok(["endpoint", "status", "-w", "json"])) as {
      Endpoint: string;
      Status: {
        header: { member_id: number };
        version: string;
        dbSize: number;
        leader: number;
        raftIndex: number;
      };
    }[];
    assert.equal(status.length, 3);
    const leaders = new Set(status.map((s) => s.Status.leader));
    assert.equal(leaders.size, 1, "every member names the same leader");
    for (const s of status) {
      assert.ok(s.Status.version.length > 0 && s.Status.dbSize > 0 && s.Status.raftIndex > 0);
    }
    const withScheme = c.endpoints.map((e) => `http://${e}`);
    const one = await etcdctl([`--endpoints=${withScheme[1]}`, "endpoint", "status"]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(
      one.stdout,
      new RegExp(
        `^http://${c.endpoints[1]}, 2, \\S+, \\d+ kB, (true|false), false, \\d+, \\d+, \\d+, \\n$`,
      ),
    );
    // etcdctl 3.4 prints the health lines on stderr (as against etcd).
    const probe = await etcdctl([`--endpoints=${all}`, "endpoint", "health"]);
    assert.equal(probe.code, 0, probe.stderr);
    const health = probe.stderr.trim().split("\n");
    assert.equal(health.length, 3);
    for (const line of health)
      assert.match(line, /^127\.0\.0\.1:\d+ is healthy: successfully committed proposal: took = /);
    const hashes = async (endpoints: string) => {
      const r = await etcdctl([`--endpoints=${endpoints}`, "endpoint", "hashkv"]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(", ")[1]);
    };
    // Members may be a write apart for a moment: ask until they agree.
    const deadline = Date.now() + 30_000;
    let seen = await hashes(all);
    while (new Set(seen).size !== 1 && Date.now() < deadline) seen = await hashes(all);
    assert.equal(new Set(seen).size, 1, `hashes ${seen}`);
    assert.deepEqual(await hashes(withScheme.join(",")), seen);
  });

  it("snapshot save", async () => {
    const file = join(tempDir("etcdctl-snap"), "snap.db");
    const r = await etcdctl([`--endpoints=${c.endpoints[1]}`, "snapshot", "save", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Snapshot saved at ${file}\n`);
    assert.equal(statSync(file).size % 512, 32);
  });

  it("compaction, then reads below it fail with etcd's error; defrag", async () => {
    const rev = JSON.parse(await ok(["get", "foo", "-w", "json"])).header.revision as number;
    assert.equal(await ok(["compaction", String(rev)]), `compacted revision ${rev}\n`);
    const old = await etcdctl([`--endpoints=${all}`, "get", "foo", `--rev=${rev - 1}`]);
    assert.notEqual(old.code, 0);
    assert.match(old.stderr, /etcdserver: mvcc: required revision has been compacted/);
    assert.equal(
      await ok(["defrag"]),
      c.endpoints.map((e) => `Finished defragmenting etcd member[${e}]\n`).join(""),
    );
    const one = await etcdctl([`--endpoints=http://${c.endpoints[0]}`, "defrag"]);
    assert.equal(
      one.stdout,
      `Finished defragmenting etcd member[http://${c.endpoints[0]}]\n`,
      one.stderr,
    );
  });

  it("alarm list is empty", async () => {
    assert.equal(await ok(["alarm", "list"]), "");
  });

  it("move-leader", async () => {
    const leaderOf = async () => {
      const s = JSON.parse(await ok(["endpoint", "status", "-w", "json"])) as {
        Status: { leader: number };
      }[];
      return s[0]?.Status.leader as number;
    };
    const from = await leaderOf();
    const to = from === 3 ? 1 : from + 1;
    const r = await etcdctl([
      `--endpoints=${c.endpoints.map((e) => `http://${e}`).join(",")}`,
      "move-leader",
      to.toString(16),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `Leadership transferred from ${from.toString(16)} to ${to.toString(16)}\n`,
    );
    const deadline = Date.now() + 30_000;
    while ((await leaderOf()) !== to && Date.now() < deadline) await sleep(100);
    assert.equal(await leaderOf(), to);
    assert.equal(await ok(["put", "after-move", "ok"]), "OK\n");
  });
});
