// Hostile and mistaken input to `kv serve`: garbage on the Raft port, a corrupt WAL, bad flags,
// a data directory that belongs to another node or is in use. Nothing crashes; nothing changes
// data; refusals name what is wrong.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Rng } from "../../src/sim/rng.js";
import {
  Client,
  freePorts,
  freeRange,
  killAll,
  launchCluster,
  removeTempDirs,
  request,
  runCli,
  sleep,
  TestCluster,
  tempDir,
} from "./harness.js";

const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
const clusters: TestCluster[] = [];
after(() => {
  killAll();
  for (const c of clusters) c.cleanup();
  removeTempDirs();
});

async function cluster(n: number): Promise<TestCluster> {
  const c = await TestCluster.create(n);
  clusters.push(c);
  await c.startAll();
  await c.leader();
  return c;
}

function sendBytes(port: number, chunks: Uint8Array[]): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      for (const c of chunks) s.write(c);
      s.end();
    });
    s.on("error", () => resolve());
    s.on("close", () => resolve());
    s.setTimeout(3000, () => s.destroy());
  });
}

describe("kv serve under bad input", () => {
  it(`random bytes on the Raft port change nothing and crash nothing (SEED=${SEED})`, async () => {
    console.log(`bad-input: SEED=${SEED}`);
    const rng = new Rng(SEED);
    const c = await cluster(3);
    const client = new Client("garbage-test", () => c.urls);
    assert.equal((await client.write("PUT", "/v1/kv/stable", "before"))?.status, 200);
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => rng.u32() & 0xff);
    for (const n of c.nodes) {
      for (let i = 0; i < 10; i++) {
        // Pure noise, then a plausible frame header (small length) followed by noise.
        const header = Buffer.alloc(4);
        header.writeUInt32BE(1 + (rng.u32() % 200));
        await sendBytes(n.raftPort, [bytes(1 + (rng.u32() % 4096))]);
        await sendBytes(n.raftPort, [header, bytes(1 + (rng.u32() % 300))]);
      }
    }
    for (const n of c.nodes) assert.ok(c.running(n.id), `node ${n.id} still running`);
    await c.leader();
    assert.deepEqual(await client.read("/v1/kv/stable"), { status: 200, body: "before" });
    assert.equal((await client.write("PUT", "/v1/kv/after", "works"))?.status, 200);
  });

  it("a corrupt WAL: the node refuses to start, naming the file and offset, and changes nothing", async () => {
    const c = await TestCluster.create(1);
    clusters.push(c);
    await c.startAll();
    await c.leader();
    const client = new Client("wal-test", () => c.urls);
    for (let i = 0; i < 40; i++) {
      assert.equal((await client.write("PUT", `/v1/kv/k${i}`, "x".repeat(100)))?.status, 200);
    }
    await c.kill9(1);
    const walDir = join(c.spec(1).data, "raft", "wal");
    const segment = readdirSync(walDir)
      .map((f) => join(walDir, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0] as string;
    const original = readFileSync(segment);
    const damaged = Buffer.from(original);
    const at = Math.floor(damaged.length / 2);
    damaged[at] = (damaged[at] as number) ^ 0xff;
    writeFileSync(segment, damaged);

    const r = runCli(c.serveArgs(1));
    assert.notEqual(r.code, 0, "refuses to start");
    assert.notEqual(r.code, null, "exits rather than hangs");
    assert.match(r.stderr, /corrupt/i);
    assert.ok(r.stderr.includes(segment), `names the file: ${r.stderr}`);
    assert.match(r.stderr, /byte \d+/, "names the offset");
    assert.ok(readFileSync(segment).equals(damaged), "the damaged file is left as it was");
  });

  it("usage errors exit 2 and name the flag", async () => {
    const dir = tempDir("usage");
    const peers = "1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103";
    const base = ["kv", "serve", "--http", "127.0.0.1:8101", "--data", dir];
    const cases: [string[], RegExp][] = [
      [["--id", "4", "--peers", peers], /--id: node 4 is not listed in --peers/],
      [["--id", "1", "--peers", "1=127.0.0.1:7101,2=127.0.0.1:7101"], /--peers.*listed twice/],
      [["--id", "1", "--peers", "1=127.0.0.1:7101,1=127.0.0.1:7102"], /--peers.*listed twice/],
      [["--id", "1", "--peers", "1=localhost"], /--peers.*HOST:PORT/],
      [
        ["--id", "1", "--peers", peers, "--heartbeat", "1s"],
        /--heartbeat.*shorter than the election timeout/,
      ],
      [
        ["--id", "1", "--peers", peers, "--election-timeout", "soon"],
        /--election-timeout.*not a duration/,
      ],
      [["--id", "0", "--peers", peers], /--id/],
    ];
    for (const [args, pattern] of cases) {
      const r = runCli([...base, ...args]);
      assert.equal(r.code, 2, `${args.join(" ")} -> ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(" "));
    }
    const noData = runCli([
      "kv",
      "serve",
      "--id",
      "1",
      "--peers",
      peers,
      "--http",
      "127.0.0.1:8101",
    ]);
    assert.equal(noData.code, 2);
    assert.match(noData.stderr, /--data/);
  });

  it("refuses a data directory of another node, or one in use", async () => {
    const c = await cluster(1);
    // In use: the same node started again on the same directory.
    const again = runCli(c.serveArgs(1));
    assert.equal(again.code, 1);
    assert.match(again.stderr, /in use|held by/);
    await c.kill9(1);
    const [raft, http] = await freePorts(2);
    const other = runCli([
      "kv",
      "serve",
      "--id",
      "2",
      "--peers",
      `2=127.0.0.1:${raft}`,
      "--http",
      `127.0.0.1:${http}`,
      "--data",
      c.spec(1).data,
    ]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /belongs to node 1, not node 2/);
    // An empty directory needs --peers (the founders, or with --join the members); --join
    // without them is a usage error.
    const fresh = ["--http", `127.0.0.1:${http}`, "--data", `${c.spec(1).data}-new`];
    const bare = runCli(["kv", "serve", "--id", "1", ...fresh]);
    assert.equal(bare.code, 1, bare.stderr);
    assert.match(bare.stderr, /--peers is required for an empty data directory/);
    const join = runCli(["kv", "serve", "--id", "1", "--join", ...fresh]);
    assert.equal(join.code, 2, join.stderr);
    assert.match(join.stderr, /--join needs --peers/);
  });
});

/**
 * Runs `kv cluster --nodes 3` on DIR with ports BASE+i and waits until it says it is ready;
 * returns the process and the nodes' URLs and pids it printed.
 */
async function startCluster(
  dir: string,
  raftBase: number,
  httpBase: number,
  extra: string[] = [],
): Promise<{ child: ChildProcess; urls: string[]; pids: number[] }> {
  const { child, out } = await launchCluster(
    [
      "--nodes",
      "3",
      "--data",
      dir,
      "--raft-port-base",
      String(raftBase),
      "--http-port-base",
      String(httpBase),
      // These tests are about the native API; the etcd API's ports have their own test.
      "--no-grpc",
      ...extra,
    ],
    30_000,
  );
  assert.match(out, /cluster ready/, out);
  const urls = [...out.matchAll(/node \d+\s+(http:\/\/\S+)/g)].map((m) => m[1] as string);
  const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  assert.equal(urls.length, 3, out);
  assert.equal(pids.length, 3, out);
  return { child, urls, pids };
}

describe("kv cluster", () => {
  it("a port already in use is a clear error", async () => {
    const [port] = await freePorts(1);
    const server = createServer();
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    try {
      const dir = tempDir("cluster-busy");
      const r = runCli([
        "kv",
        "cluster",
        "--nodes",
        "1",
        "--data",
        dir,
        "--raft-port-base",
        String((port as number) - 1),
        "--http-port-base",
        String((port as number) + 100),
        "--no-grpc",
      ]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(`127\\.0\\.0\\.1:${port} \\(node 1 Raft port\\).*already in use`),
      );
      assert.match(r.stderr, /^starting 1 node \(/, "one node, not 1 nodes");
    } finally {
      server.close();
    }
  });

  it("a busy gRPC port names --grpc-port-base; overlapping ranges are a usage error", async () => {
    const [port] = (await freePorts(1)) as [number];
    const raftBase = await freeRange(1, [port - 1]);
    const httpBase = await freeRange(1, [raftBase, port - 1]);
    const server = createServer();
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    try {
      const args = ["kv", "cluster", "--nodes", "1", "--data", tempDir("cluster-grpc")];
      const ports = ["--raft-port-base", String(raftBase), "--http-port-base", String(httpBase)];
      const r = runCli([...args, ...ports, "--grpc-port-base", String(port - 1)]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(
          `127\\.0\\.0\\.1:${port} \\(node 1 gRPC port\\).*already in use.*--grpc-port-base`,
        ),
      );
      const overlap = runCli([...args, ...ports, "--grpc-port-base", String(httpBase)]);
      assert.equal(overlap.code, 2);
      assert.match(
        overlap.stderr,
        /--http-port-base: its port range overlaps the one of --grpc-port-base/,
      );
    } finally {
      server.close();
    }
  });

  it("starts, stops on SIGINT, and restarts with its data", async () => {
    const dir = tempDir("cluster");
    // Node i uses BASE+i: bases whose ports BASE+1..BASE+3 are free now.
    const raftBase = await freeRange(3);
    const httpBase = await freeRange(3, [raftBase]);
    const start = () =>
      startCluster(dir, raftBase, httpBase, ["--election-timeout", "300ms", "--heartbeat", "50ms"]);
    const stop = async (child: ChildProcess): Promise<number | null> => {
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGINT");
      return exited;
    };

    const first = await start();
    // "ready" means every node knows the leader: a client's first request may go to any.
    const leaders = await Promise.all(
      first.urls.map(
        async (u) => JSON.parse((await request(`${u}/v1/status`))?.body ?? "{}").leader,
      ),
    );
    assert.ok(typeof leaders[0] === "number", `a leader: ${leaders}`);
    assert.deepEqual(leaders, [leaders[0], leaders[0], leaders[0]], "every node knows the leader");
    const client = new Client("cluster-cmd", () => first.urls);
    assert.equal((await client.write("PUT", "/v1/kv/persisted", "across restarts"))?.status, 200);
    assert.equal(await stop(first.child), 0);
    for (const u of first.urls)
      assert.equal(await request(`${u}/v1/status`, {}, 500), null, `${u} stopped`);

    const second = await start();
    const reader = new Client("cluster-cmd-2", () => second.urls);
    assert.deepEqual(await reader.read("/v1/kv/persisted"), {
      status: 200,
      body: "across restarts",
    });
    assert.equal(await stop(second.child), 0);

    // The same data directory with other flags: refused in the flags' terms, nothing created.
    const files = readdirSync(dir).sort();
    const flags = ["--data", dir, "--http-port-base", String(httpBase)];
    const more = runCli([
      "kv",
      "cluster",
      "--nodes",
      "5",
      "--raft-port-base",
      String(raftBase),
      ...flags,
    ]);
    assert.equal(more.code, 1, more.stderr);
    assert.match(
      more.stderr,
      /^raftwork: --nodes 5: .* holds a 3-node cluster \(node-1 to node-3\), not 5 nodes; start it with --nodes 3/,
    );
    const moved = runCli([
      "kv",
      "cluster",
      "--nodes",
      "3",
      "--raft-port-base",
      String(raftBase + 10),
      ...flags,
    ]);
    assert.equal(moved.code, 1, moved.stderr);
    assert.match(moved.stderr, /was created with other Raft ports than --raft-port-base/);
    assert.deepEqual(readdirSync(dir).sort(), files, "nothing was created");
  });

  it("kill -9 of kv cluster: its nodes notice and stop", async () => {
    const dir = tempDir("cluster-kill");
    const raftBase = await freeRange(3);
    const httpBase = await freeRange(3, [raftBase]);
    const { child, pids } = await startCluster(dir, raftBase, httpBase);
    // A node that exited but whose zombie nobody reaped yet (its parent is gone) counts as gone.
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
      } catch {
        return false;
      }
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    try {
      assert.ok(pids.every(alive));
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await gone;
      const until = Date.now() + 20_000;
      while (pids.some(alive) && Date.now() < until) await sleep(50);
      assert.deepEqual(pids.filter(alive), [], "every node stopped after its parent died");
    } finally {
      for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL");
    }
  });
});
