// The two clusters the KV benchmarks compare, started the same way by each of them: raftwork
// (3 `kv serve` processes of a given build) and etcd 3.4 (the shared kv-bench's scripts).
// Loopback only; every process is stopped by stop().
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const RAFT_BASE = 27200;
const HTTP_BASE = 28200;
const GRPC_BASE = 29200;

export class RaftworkCluster {
  /**
   * opts: { cli, nodeArgs (node's own flags), electionTimeout, heartbeat (ms),
   * snapshotEntries, grpc (serve etcd's API too), portOffset, members (default 3) }
   */
  constructor(opts) {
    this.o = { portOffset: 0, members: 3, grpc: false, ...opts };
    const off = this.o.portOffset;
    this.ids = Array.from({ length: this.o.members }, (_, i) => i + 1);
    this.dir = mkdtempSync(join(tmpdir(), "raftwork-bench-"));
    this.procs = new Map();
    this.httpBase = HTTP_BASE + off;
    this.peers = this.ids.map((i) => `${i}=127.0.0.1:${RAFT_BASE + off + i}`).join(",");
    this.endpoints = this.ids.map((i) => `http://127.0.0.1:${this.httpBase + i}`);
    this.grpcEndpoints = this.ids.map((i) => `127.0.0.1:${GRPC_BASE + off + i}`);
  }

  async start(id) {
    const o = this.o;
    const grpc = o.grpc ? ["--grpc", this.grpcEndpoints[id - 1]] : [];
    const child = spawn(
      process.execPath,
      [
        ...o.nodeArgs,
        o.cli,
        "kv",
        "serve",
        "--id",
        String(id),
        "--peers",
        this.peers,
        "--http",
        `127.0.0.1:${this.httpBase + id}`,
        ...grpc,
        "--data",
        join(this.dir, `node-${id}`),
        "--election-timeout",
        `${o.electionTimeout}ms`,
        "--heartbeat",
        `${o.heartbeat}ms`,
        "--snapshot-entries",
        String(o.snapshotEntries),
        "--log-level",
        "warn",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    this.procs.set(id, child);
    await new Promise((res, rej) => {
      let out = "";
      child.stdout.on("data", (b) => {
        out += b;
        if (out.includes("ready")) res();
      });
      child.once("exit", (code) => rej(new Error(`node ${id} exited (${code})`)));
    });
  }

  async startAll() {
    await Promise.all(this.ids.map((i) => this.start(i)));
    return this.leader();
  }

  async leader(timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const ep of this.endpoints) {
        try {
          const r = await fetch(`${ep}/v1/status`, { signal: AbortSignal.timeout(500) });
          const s = await r.json();
          if (s.role === "leader") return s.id;
        } catch {}
      }
      await sleep(20);
    }
    throw new Error("raftwork: no leader");
  }

  kill9(id) {
    const child = this.procs.get(id);
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    this.procs.delete(id);
    return gone;
  }

  async stop() {
    await Promise.all(
      [...this.procs.values()].map((c) => {
        const gone = new Promise((r) => c.once("exit", r));
        c.kill("SIGTERM");
        return gone;
      }),
    );
    this.procs.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }

  pids() {
    return [...this.procs.values()].map((c) => c.pid);
  }
}

/** A 3-member etcd 3.4 cluster from kv-bench's start-cluster.sh, with the given timeouts. */
export function etcdStart(kvBench, electionTimeout, heartbeat) {
  const r = spawnSync(
    "bash",
    [
      join(kvBench, "start-cluster.sh"),
      "--",
      `--election-timeout=${electionTimeout}`,
      `--heartbeat-interval=${heartbeat}`,
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`etcd start failed: ${r.stderr}`);
  const env = Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("=")),
  );
  return {
    dir: env.ETCD_BENCH_DIR,
    endpoints: env.ETCD_ENDPOINTS.split(","),
    pids: env.ETCD_PIDS.split(",").map(Number),
  };
}

export function etcdStop(kvBench, c) {
  spawnSync("bash", [join(kvBench, "stop-cluster.sh"), c.dir], { stdio: "inherit" });
}
