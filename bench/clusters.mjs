// The two clusters the KV benchmarks compare, started the same way by each of them: raftwork
// (3 `kv serve` processes of a given build) and etcd 3.4 (the shared kv-bench's scripts).
// Loopback only; every process is stopped by stop().
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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

/**
 * An etcd 3.4 cluster from kv-bench's start-cluster.sh with the given timeouts: `members`
 * members (default 3), clients on basePort+i and peers on basePort+10+i (the script refuses
 * ports in use), `extra` further etcd flags.
 */
export function etcdStart(kvBench, electionTimeout, heartbeat, opts = {}) {
  const { members = 3, basePort = 23790, extra = [] } = opts;
  const r = spawnSync(
    "bash",
    [
      join(kvBench, "start-cluster.sh"),
      "-n",
      String(members),
      "-p",
      String(basePort),
      "--",
      `--election-timeout=${electionTimeout}`,
      `--heartbeat-interval=${heartbeat}`,
      ...extra,
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
    grpcEndpoints: env.ETCD_ENDPOINTS.split(",").map((e) => e.replace(/^http:\/\//, "")),
    pids: env.ETCD_PIDS.split(",").map(Number),
  };
}

/** Index (0-based) of the etcd member all members name as leader, from the JSON gateway. */
export async function etcdLeaderIndex(c, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const st = await Promise.all(
        c.endpoints.map(async (ep) => {
          const r = await fetch(`${ep}/v3/maintenance/status`, {
            method: "POST",
            body: "{}",
            signal: AbortSignal.timeout(1000),
          });
          return r.json();
        }),
      );
      const leader = st[0].leader;
      const i = st.findIndex((s) => s.header.member_id === leader);
      if (i >= 0 && st.every((s) => s.leader === leader)) return i;
    } catch {}
    await sleep(50);
  }
  throw new Error("etcd: members do not agree on a leader");
}

/** Resident set of a process in MiB, from /proc (Linux). */
export function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Math.round(Number(m[1]) / 102.4) / 10;
}

/**
 * The bench scripts' command line: every key of `defaults` is a flag (`--kebab-case`), typed
 * by its default (number, list of numbers, boolean switch, or string). Exits with the usage
 * hint on an unknown flag or a value that does not parse.
 */
export function parseOptions(defaults, script, argv = process.argv.slice(2)) {
  const o = { ...defaults };
  const fail = (msg) => {
    console.error(`${msg} (see the header of bench/${script})`);
    process.exit(2);
  };
  const flags = new Map(
    Object.keys(defaults).map((k) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, k]),
  );
  for (let i = 0; i < argv.length; i++) {
    const key = flags.get(argv[i]);
    if (key === undefined) fail(`unknown option ${argv[i]}`);
    const d = defaults[key];
    if (typeof d === "boolean") {
      o[key] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) fail(`${argv[i - 1]} needs a value`);
    if (typeof d === "number") {
      o[key] = Number(v);
      if (!Number.isFinite(o[key])) fail(`${argv[i - 1]} wants a number, got ${v}`);
    } else if (Array.isArray(d)) {
      o[key] = v.split(",").map(Number);
      if (o[key].some((n) => !Number.isInteger(n) || n < 1)) fail(`${argv[i - 1]} wants N,N,...`);
    } else o[key] = v;
  }
  return o;
}

export function etcdStop(kvBench, c) {
  spawnSync("bash", [join(kvBench, "stop-cluster.sh"), c.dir], { stdio: "inherit" });
}
