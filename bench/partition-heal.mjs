#!/usr/bin/env node
// Time from the heal of a silent network partition to the first acknowledged write, raftwork
// against etcd 3.4, same machine, same proxies, same timeouts (the performance
// target in bench/RESULTS.md: after a partition heals, writes are acknowledged again within 1 s).
//
//   npm run build && flock /tmp/raftwork-bench.lock node --import tsx bench/partition-heal.mjs \
//     [--trials 5] [--cut-ms 3000] [--scenarios leader,follower,all] [--systems raftwork,etcd]
//     [--election-timeout 300] [--heartbeat 50] [--mode hold|drop] [--cli dist/cli/main.js]
//     [--label raftwork] [--etcd /usr/bin/etcd] [--etcd-flags=--pre-vote=true] [--json FILE]
//     [--keep] [--log-level warn]
//
// Each system runs as a 3-member cluster on loopback whose peer (Raft) traffic goes through
// one BlackholeProxy per member (test/support/blackhole-proxy.ts): member i is reached at
// proxy i, and each proxy tags a connection with the member that dialed it (found through
// /proc: the process owning the other end), so a proxy can cut one member's connections
// selectively. Client traffic is direct. One writer per member starts a PUT every 10 ms
// (open loop, at most 50 in flight, 1 s timeout each) and records when each is acknowledged.
//
// A trial cuts, silently (bytes held, nothing closed: the proxy's "hold" mode), for --cut-ms:
//   leader    the current leader from the other two (a minority of one)
//   follower  one follower from the other two
//   all       every member from every other (no quorum anywhere)
// then heals every proxy at once, and measures
//   heal->write  heal to the first acknowledged write through the member that was cut off
//                ("all": through any member): the number the performance target bounds;
//   stall        the longest gap between acknowledged writes through the other members, from
//                0.5 s before the heal to 3 s after (a rejoining member that disrupts the
//                cluster shows here);
//   failover     ("leader" only) the longest gap in the majority's acknowledged writes during
//                the cut: the election of a new leader under a silent cut;
//   normal gap   the longest gap between acknowledged writes (all members) in the second
//                before the cut: what "stall" is when nothing goes wrong.
// Members keep running between trials; a trial starts once every member has acknowledged a
// write in the last 300 ms.
//
// etcd: Debian's etcd 3.4 (/usr/bin/etcd), `--election-timeout 300 --heartbeat-interval 50`
// (etcd's pre-vote is off by default in 3.4; --etcd-flags adds flags). Fidelity note: a proxy
// acknowledges what it receives, so a cut stalls the senders without TCP's exponentially
// backed-off retransmissions of real packet loss; what it reproduces is the silence.

import { spawn } from "node:child_process";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BlackholeProxy } from "../test/support/blackhole-proxy.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: a } = (() => {
  try {
    return parseArgs({
      options: {
        trials: { type: "string", default: "5" },
        "cut-ms": { type: "string", default: "3000" },
        scenarios: { type: "string", default: "leader,follower,all" },
        systems: { type: "string", default: "raftwork,etcd" },
        "election-timeout": { type: "string", default: "300" },
        heartbeat: { type: "string", default: "50" },
        mode: { type: "string", default: "hold" },
        cli: { type: "string", default: join(ROOT, "dist/cli/main.js") },
        label: { type: "string", default: "raftwork" },
        etcd: { type: "string", default: "/usr/bin/etcd" },
        "etcd-flags": { type: "string", default: "" },
        json: { type: "string" },
        keep: { type: "boolean", default: false },
        "log-level": { type: "string", default: "warn" },
      },
    });
  } catch (err) {
    console.error(`${err.message} (see the header of bench/partition-heal.mjs)`);
    process.exit(2);
  }
})();
const list = (v) => v.split(",").filter(Boolean);
const o = {
  trials: Number(a.trials),
  cutMs: Number(a["cut-ms"]),
  scenarios: list(a.scenarios),
  systems: list(a.systems),
  electionTimeout: Number(a["election-timeout"]),
  heartbeat: Number(a.heartbeat),
  mode: a.mode,
  cli: resolve(a.cli),
  label: a.label,
  etcd: a.etcd,
  etcdFlags: a["etcd-flags"].split(" ").filter(Boolean),
  json: a.json ?? null,
  keep: a.keep,
  logLevel: a["log-level"],
};
const problems = [
  !(o.trials >= 1 && o.trials <= 100) && "--trials must be 1..100",
  !(o.cutMs >= 100) && "--cut-ms must be at least 100",
  !(o.electionTimeout > 0 && o.heartbeat > 0) && "--election-timeout and --heartbeat must be > 0",
  !["hold", "drop"].includes(o.mode) && "--mode is hold or drop",
  o.scenarios.some((s) => !["leader", "follower", "all"].includes(s)) &&
    "--scenarios: leader, follower, all",
  o.systems.some((s) => !["raftwork", "etcd"].includes(s)) && "--systems: raftwork, etcd",
  !["trace", "debug", "info", "warn", "error"].includes(o.logLevel) &&
    "--log-level: trace, debug, info, warn or error",
].filter(Boolean);
if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(2);
}

const IDS = [1, 2, 3];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => console.error(`[partition-heal] ${s}`);

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// ---------------------------------------------------------------- who dialed a proxy

/** The inode of the TCP socket bound to 127.0.0.1:localPort and connected to :remotePort. */
function socketInode(localPort, remotePort) {
  const hex = (p) => `0100007F:${p.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === hex(localPort) && f[2] === hex(remotePort)) return f[9];
  }
  return null;
}

/** Which member's process owns the dialing end of `client` (a socket the proxy accepted). */
function dialerOf(client, pids) {
  const inode = socketInode(client.remotePort, client.localPort);
  if (inode === null) return undefined;
  const target = `socket:[${inode}]`;
  for (const [id, pid] of pids()) {
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return String(id);
      } catch {}
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- clusters

/** {name: value} -> ["--name", value, ...] */
function flags(named) {
  return Object.entries(named).flatMap(([k, v]) => [`--${k}`, v]);
}

class Cluster {
  constructor(kind) {
    this.kind = kind;
    this.dir = mkdtempSync(join(tmpdir(), `partition-heal-${kind}-`));
    this.procs = new Map();
    this.proxies = new Map();
  }

  pids() {
    return [...this.procs].map(([id, c]) => [id, c.pid]);
  }

  async start() {
    const raft = new Map();
    const client = new Map();
    for (const id of IDS) {
      raft.set(id, await freePort());
      client.set(id, await freePort());
    }
    for (const id of IDS) {
      const p = await BlackholeProxy.start({
        target: { host: "127.0.0.1", port: raft.get(id) },
        tag: (socket) => dialerOf(socket, () => this.pids()),
      });
      this.proxies.set(id, p);
    }
    this.endpoints = new Map(IDS.map((id) => [id, `http://127.0.0.1:${client.get(id)}`]));
    const via = (id) => `127.0.0.1:${this.proxies.get(id).address.port}`;
    for (const id of IDS) {
      const args =
        this.kind === "etcd"
          ? this.etcdArgs(id, raft, client, via)
          : this.kvArgs(id, raft, client, via);
      const child = spawn(args[0], args.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
      const logFile = join(this.dir, `member-${id}.log`);
      let logText = "";
      child.stderr.on("data", (b) => {
        if (logText.length < 1 << 20) logText += b;
      });
      child.stdout.on("data", () => {});
      child.once("exit", () => writeFileSync(logFile, logText));
      this.procs.set(id, child);
    }
    await this.waitHealthy(30_000);
  }

  kvArgs(id, raft, client, via) {
    // Node i listens at its real port and reaches the others through their proxies.
    const peers = IDS.map((j) => `${j}=${j === id ? `127.0.0.1:${raft.get(j)}` : via(j)}`);
    return [
      process.execPath,
      o.cli,
      "kv",
      "serve",
      ...flags({
        id: String(id),
        peers: peers.join(","),
        http: `127.0.0.1:${client.get(id)}`,
        data: join(this.dir, `node-${id}`),
        "election-timeout": `${o.electionTimeout}ms`,
        heartbeat: `${o.heartbeat}ms`,
        "log-level": o.logLevel,
      }),
    ];
  }

  etcdArgs(id, raft, client, via) {
    const url = (port) => `http://127.0.0.1:${port}`;
    return [
      o.etcd,
      ...flags({
        name: `m${id}`,
        "data-dir": join(this.dir, `m${id}.etcd`),
        "listen-client-urls": url(client.get(id)),
        "advertise-client-urls": url(client.get(id)),
        "listen-peer-urls": url(raft.get(id)),
        "initial-advertise-peer-urls": `http://${via(id)}`,
        "initial-cluster": IDS.map((j) => `m${j}=http://${via(j)}`).join(","),
        "initial-cluster-token": `partition-heal-${process.pid}`,
        "initial-cluster-state": "new",
        "election-timeout": String(o.electionTimeout),
        "heartbeat-interval": String(o.heartbeat),
        logger: "zap",
        "log-outputs": "stderr",
        "log-level": o.logLevel === "trace" ? "debug" : o.logLevel,
      }),
      ...o.etcdFlags,
    ];
  }

  /** The leader's member id (1..3), or null when no member names one. */
  async leader() {
    for (const [id, ep] of this.endpoints) {
      try {
        if (this.kind === "etcd") {
          const s = await post(`${ep}/v3/maintenance/status`, "{}", 500);
          if (s.status !== 200) continue;
          const j = JSON.parse(s.body);
          if (j.leader && j.leader === j.header?.member_id) return id;
        } else {
          const s = await get(`${ep}/v1/status`, 500);
          if (s.status === 200 && JSON.parse(s.body).role === "leader") return id;
        }
      } catch {}
    }
    return null;
  }

  async waitHealthy(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const [id, c] of this.procs) {
        if (c.exitCode !== null)
          throw new Error(`${this.kind} member ${id} exited: see ${this.dir}`);
      }
      const ok = await Promise.all(
        [...this.endpoints.keys()].map((id) => writeOnce(this, id, 1000)),
      );
      if (ok.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`${this.kind} not healthy after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async stop() {
    await Promise.all(
      [...this.procs.values()].map((c) => {
        if (c.exitCode !== null) return undefined;
        const gone = new Promise((r) => c.once("exit", r));
        c.kill("SIGTERM");
        const hard = setTimeout(() => c.kill("SIGKILL"), 5000);
        return gone.then(() => clearTimeout(hard));
      }),
    );
    this.procs.clear();
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    if (o.keep) log(`kept ${this.dir} (member-N.log holds each member's stderr)`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  /** Cuts `victims` ("all" or one id) from everyone, silently. */
  cut(victim) {
    for (const [id, p] of this.proxies) {
      if (victim === "all" || id === victim) p.blackhole({ mode: o.mode });
      else p.blackhole({ mode: o.mode, which: (tag) => tag === String(victim) });
    }
  }

  heal() {
    for (const p of this.proxies.values()) p.heal();
  }
}

// ---------------------------------------------------------------- HTTP and writers

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function call(method, url, body, timeoutMs, headers = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.hostname !== "127.0.0.1") throw new Error(`refusing non-loopback ${url}`);
    const data = body === null ? null : Buffer.from(body);
    const r = request(
      u,
      {
        method,
        agent,
        headers: data === null ? headers : { ...headers, "content-length": data.length },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }),
        );
        res.on("error", reject);
      },
    );
    r.setTimeout(timeoutMs, () => r.destroy(new Error("timeout")));
    r.on("error", reject);
    r.end(data ?? undefined);
  });
}
const get = (url, t) => call("GET", url, null, t);
const post = (url, body, t) => call("POST", url, body, t, { "content-type": "application/json" });

let seq = 0;
/** One write through member `id`; true once acknowledged. */
async function writeOnce(cluster, id, timeoutMs) {
  const ep = cluster.endpoints.get(id);
  const key = `w${id}-${seq++}`;
  try {
    if (cluster.kind === "etcd") {
      const b64 = (s) => Buffer.from(s).toString("base64");
      const body = JSON.stringify({ key: b64(key), value: b64("partition-heal") });
      const r = await post(`${ep}/v3/kv/put`, body, timeoutMs);
      return r.status === 200 && !JSON.parse(r.body).error;
    }
    const r = await call("PUT", `${ep}/v1/kv/${key}`, "partition-heal", timeoutMs);
    return r.status === 200;
  } catch {
    return false;
  }
}

/** Open-loop writers, one per member: acks[id] holds the times writes were acknowledged. */
function startWriters(cluster) {
  const acks = new Map(IDS.map((id) => [id, []]));
  const inFlight = new Map(IDS.map((id) => [id, 0]));
  const timer = setInterval(() => {
    for (const id of IDS) {
      if (inFlight.get(id) >= 50) continue;
      inFlight.set(id, inFlight.get(id) + 1);
      writeOnce(cluster, id, 1000).then((ok) => {
        inFlight.set(id, inFlight.get(id) - 1);
        if (ok) acks.get(id).push(performance.now());
      });
    }
  }, 10);
  return { acks, stop: () => clearInterval(timer) };
}

// ---------------------------------------------------------------- one trial

function firstAfter(times, t) {
  for (const x of times) if (x >= t) return x;
  return null;
}

/** Longest gap between successive acks of the merged lists within [from, to]. */
function longestGap(lists, from, to) {
  const all = lists
    .flat()
    .filter((x) => x >= from && x <= to)
    .sort((a, b) => a - b);
  let gap = 0;
  let prev = from;
  for (const x of all) {
    gap = Math.max(gap, x - prev);
    prev = x;
  }
  return Math.max(gap, to - prev);
}

async function trial(cluster, writers, scenario) {
  const { acks } = writers;
  // Healthy: every member acknowledged a write in the last 300 ms.
  const healthyBy = Date.now() + 30_000;
  while (!IDS.every((id) => (acks.get(id).at(-1) ?? 0) > performance.now() - 300)) {
    if (Date.now() > healthyBy) throw new Error(`${cluster.kind}: not healthy before a trial`);
    await sleep(20);
  }
  const leader = await cluster.leader();
  if (leader === null) throw new Error(`${cluster.kind}: no leader before a trial`);
  const victim =
    scenario === "leader"
      ? leader
      : scenario === "follower"
        ? IDS.find((i) => i !== leader)
        : "all";
  const others = IDS.filter((i) => victim !== "all" && i !== victim);
  const cutAt = performance.now();
  const cutEpoch = Date.now();
  cluster.cut(victim);
  await sleep(o.cutMs);
  const healAt = performance.now();
  const healEpoch = Date.now();
  cluster.heal();
  const watched = victim === "all" ? IDS : [victim];
  const deadline = healAt + 15_000;
  let healed = null;
  while (performance.now() < deadline) {
    const firsts = watched.map((id) => firstAfter(acks.get(id), healAt)).filter((x) => x !== null);
    if (firsts.length > 0) {
      healed = Math.min(...firsts) - healAt;
      break;
    }
    await sleep(10);
  }
  await sleep(3000); // the window in which a stall after the heal is measured
  const majority = others.map((id) => acks.get(id));
  const everyone = IDS.map((id) => acks.get(id));
  return {
    normalGapMs: longestGap(everyone, cutAt - 1000, cutAt),
    scenario,
    victim,
    cutEpoch,
    healEpoch,
    healToWriteMs: healed,
    stallMs: others.length ? longestGap(majority, healAt - 500, healAt + 3000) : null,
    failoverMs: scenario === "leader" ? longestGap(majority, cutAt, healAt) : null,
  };
}

// ---------------------------------------------------------------- main

function stats(xs) {
  const v = xs.filter((x) => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return { median: null, worst: null, n: 0, missing: xs.length };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, worst: v.at(-1), n: v.length, missing: xs.length - v.length };
}

const fmt = (x) => (x === null ? "-" : `${Math.round(x)}`);

const results = [];
const clusters = [];
const cleanup = async () => {
  for (const c of clusters) await c.stop().catch(() => {});
};
process.on("SIGINT", () => cleanup().then(() => process.exit(130)));

try {
  for (const kind of o.systems) {
    const label =
      kind === "etcd"
        ? `etcd 3.4${o.etcdFlags.length ? ` ${o.etcdFlags.join(" ")}` : ""}`
        : o.label;
    log(`${label}: starting 3 members behind proxies`);
    const cluster = new Cluster(kind);
    clusters.push(cluster);
    await cluster.start();
    const writers = startWriters(cluster);
    await sleep(2000); // warm-up: the first trial's "normal gap" must not be the start-up
    for (let t = 0; t < o.trials; t++) {
      // Rotate the order so no scenario always follows the same one.
      const order = o.scenarios.map((_, i) => o.scenarios[(i + t) % o.scenarios.length]);
      for (const scenario of order) {
        const r = await trial(cluster, writers, scenario);
        results.push({ system: label, trial: t + 1, ...r });
        log(
          `${label} trial ${t + 1} ${scenario} (cut ${r.victim} at ${r.cutEpoch}, heal ${r.healEpoch}): heal->write ${fmt(r.healToWriteMs)} ms, ` +
            `stall ${fmt(r.stallMs)} ms${r.failoverMs === null ? "" : `, failover ${fmt(r.failoverMs)} ms`}`,
        );
      }
    }
    writers.stop();
    await cluster.stop();
    clusters.pop();
  }
} finally {
  await cleanup();
  agent.destroy();
}

const systems = [...new Set(results.map((r) => r.system))];
console.log(
  `\n${o.trials} trials, cut ${o.cutMs} ms (${o.mode}), election timeout ${o.electionTimeout} ms, heartbeat ${o.heartbeat} ms\n`,
);
console.log(
  "| scenario | system | heal->write median / worst ms | stall after heal median / worst ms | failover during cut median / worst ms | normal gap median / worst ms |",
);
console.log("|---|---|---:|---:|---:|---:|");
for (const scenario of o.scenarios) {
  for (const system of systems) {
    const rs = results.filter((r) => r.scenario === scenario && r.system === system);
    const h = stats(rs.map((r) => r.healToWriteMs));
    const s = stats(rs.map((r) => r.stallMs));
    const f = stats(rs.map((r) => r.failoverMs));
    const g = stats(rs.map((r) => r.normalGapMs));
    const cell = (x) =>
      x.n === 0
        ? "-"
        : `${fmt(x.median)} / ${fmt(x.worst)}${x.missing ? ` (${x.missing} never)` : ""}`;
    console.log(`| ${scenario} | ${system} | ${cell(h)} | ${cell(s)} | ${cell(f)} | ${cell(g)} |`);
  }
}
if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results }, null, 2));
