#!/usr/bin/env node
// raftwork KV vs etcd, same machine, same load generator, same run (bench/RESULTS.md
// has the targets and results). Starts a 3-member cluster of each store on loopback and runs the shared closed-loop
// load generator (kv-bench/load.mjs) against them in turn, for each concurrency and round.
// Then leader failover: kill -9 the leader, time until the next acknowledged PUT (etcd through
// kv-bench/failover.mjs, raftwork the same way here).
//
//   npm run build && node bench/kv.mjs [--kv-bench ../shared/kv-bench] [--clients 64,256]
//     [--duration 10] [--rounds 1] [--failover-trials 5] [--election-timeout 1000]
//     [--heartbeat 100] [--snapshot-entries 10000] [--get-clients 64] [--skip-etcd] [--cli dist/cli/main.js] [--json FILE]
//     [--node-args "FLAGS"] [--ab-node-args "FLAGS"]
//
// Members run with the product's V8 flags (SERVE_V8_FLAGS, as `kv cluster` starts them) unless
// --node-args replaces them ("" for V8's defaults). --ab-node-args starts a second raftwork
// cluster ("raftwork-B") with other flags, measured point by point in the same run.
// --get-clients N adds a linearizable-GET point per round (0 skips it); --cli runs another build
// of raftwork (e.g. a copy of dist/ from before a change) for A/B runs.
//
// etcd comes from `apt-get install -y etcd-server etcd-client`. Nothing is copied from
// kv-bench: its scripts run from where they are.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  median,
  RaftworkCluster,
  sleep,
  etcdStart as startEtcd,
  etcdStop as stopEtcd,
} from "./clusters.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ADAPTER = join(ROOT, "bench/kv-adapter.mjs");

const o = {
  kvBench: resolve(ROOT, "../shared/kv-bench"),
  clients: [64, 256],
  duration: 10,
  rounds: 1,
  failoverTrials: 5,
  electionTimeout: 1000,
  heartbeat: 100,
  getClients: 64,
  snapshotEntries: 10_000,
  cli: join(ROOT, "dist/cli/main.js"),
  skipEtcd: false,
  json: null,
  nodeArgs: null,
  abNodeArgs: null,
};
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = () => a[++i];
    switch (a[i]) {
      case "--kv-bench":
        o.kvBench = resolve(v());
        break;
      case "--clients":
        o.clients = v()
          .split(",")
          .map(Number)
          .filter((n) => n > 0); // --clients 0: failover only
        break;
      case "--duration":
        o.duration = Number(v());
        break;
      case "--rounds":
        o.rounds = Number(v());
        break;
      case "--failover-trials":
        o.failoverTrials = Number(v());
        break;
      case "--election-timeout":
        o.electionTimeout = Number(v());
        break;
      case "--heartbeat":
        o.heartbeat = Number(v());
        break;
      case "--snapshot-entries":
        o.snapshotEntries = Number(v());
        break;
      case "--get-clients":
        o.getClients = Number(v());
        break;
      case "--cli":
        o.cli = resolve(v());
        break;
      case "--skip-etcd":
        o.skipEtcd = true;
        break;
      case "--json":
        o.json = v();
        break;
      case "--node-args":
        o.nodeArgs = v().split(" ").filter(Boolean);
        break;
      case "--ab-node-args":
        o.abNodeArgs = v().split(" ").filter(Boolean);
        break;
      default:
        console.error(`unknown option ${a[i]} (see the header of bench/kv.mjs)`);
        process.exit(2);
    }
  }
}

if (o.nodeArgs === null) {
  const { SERVE_V8_FLAGS } = await import(join(dirname(o.cli), "../kv/server/v8-flags.js"));
  o.nodeArgs = [...SERVE_V8_FLAGS];
}

const log = (s) => console.error(`[kv-bench] ${s}`);
const cluster = (nodeArgs = o.nodeArgs, portOffset = 0) =>
  new RaftworkCluster({ ...o, nodeArgs, portOffset });
const etcdStart = () => startEtcd(o.kvBench, o.electionTimeout, o.heartbeat);
const etcdStop = (c) => stopEtcd(o.kvBench, c);

// ---------------------------------------------------------------- load + failover

function load(adapter, endpoints, clients, pids, op = "put") {
  const r = spawnSync(
    process.execPath,
    [
      join(o.kvBench, "load.mjs"),
      "--adapter",
      adapter,
      "--endpoints",
      endpoints.join(","),
      "--concurrency",
      String(clients),
      "--duration",
      String(o.duration),
      "--warmup",
      "1",
      "--value-size",
      "256",
      "--get-ratio",
      op === "get" ? "1" : "0",
      "--pids",
      pids.join(","),
      "--json",
      "-",
      "--quiet",
    ],
    { encoding: "utf8", maxBuffer: 1 << 24 },
  );
  if (r.status !== 0) throw new Error(`load.mjs failed: ${r.stderr}`);
  const res = JSON.parse(r.stdout.trim().split("\n").at(-1));
  // load.mjs reports PUTs under "put" and GETs under "get".
  const cpu = res.targetCpuPct ? Object.values(res.targetCpuPct).reduce((a, b) => a + b, 0) : null;
  const m = res[op];
  return {
    op,
    opsPerSec: m.opsPerSec,
    p50: m.latencyMs.p50,
    p99: m.latencyMs.p99,
    errors: m.errors,
    cpu,
  };
}

async function raftworkFailover(trials) {
  const times = [];
  for (let t = 0; t < trials; t++) {
    const c = cluster();
    try {
      const leader = await c.startAll();
      await sleep(1500);
      const survivors = c.endpoints.filter((_, i) => i + 1 !== leader);
      const killedAt = performance.now();
      await c.kill9(leader);
      let done = null;
      for (let k = 0; done === null && performance.now() - killedAt < 15_000; k++) {
        try {
          const r = await fetch(`${survivors[k % 2]}/v1/kv/failover-${t}`, {
            method: "PUT",
            body: "x",
            signal: AbortSignal.timeout(2000),
          });
          if (r.status === 200) done = performance.now() - killedAt;
        } catch {}
        if (done === null) await sleep(5);
      }
      times.push(done === null ? Number.POSITIVE_INFINITY : Math.round(done));
    } finally {
      await c.stop();
    }
  }
  return times;
}

function etcdFailover(trials) {
  const file = join(tmpdir(), `etcd-failover-${process.pid}.json`);
  const r = spawnSync(
    process.execPath,
    [
      join(o.kvBench, "failover.mjs"),
      "--trials",
      String(trials),
      "--json",
      file,
      "--",
      `--election-timeout=${o.electionTimeout}`,
      `--heartbeat-interval=${o.heartbeat}`,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  if (r.status !== 0) throw new Error("failover.mjs failed");
  const res = JSON.parse(readFileSync(file, "utf8"));
  rmSync(file, { force: true });
  return res.trials.map((x) => (x.putMs === null ? Number.POSITIVE_INFINITY : Math.round(x.putMs)));
}

// ---------------------------------------------------------------- main

// Both clusters stay up for the whole throughput phase (an idle cluster only heartbeats) and the
// stores take turns point by point, so that load from elsewhere on the machine hits both alike.
const rows = [];
const rw = cluster();
const rwB = o.abNodeArgs === null ? null : cluster(o.abNodeArgs, 50);
let ec = null;
try {
  await rw.startAll();
  if (rwB) await rwB.startAll();
  if (!o.skipEtcd) ec = etcdStart();
  // The stores take turns, and who goes first alternates by round: a point right after
  // another store's point runs while that store still flushes (etcd's backend commit), which
  // otherwise always penalised the same store. A short pause lets each point start settled.
  const point = async (round, n, op) => {
    const turns = [{ store: "raftwork", c: rw, adapter: ADAPTER }];
    if (rwB) turns.push({ store: "raftwork-B", c: rwB, adapter: ADAPTER });
    if (ec) turns.push({ store: "etcd", c: ec, adapter: "etcd" });
    if (round % 2 === 0) turns.reverse();
    for (const t of turns) {
      await sleep(2000);
      const pids = t.c === ec ? ec.pids : t.c.pids();
      rows.push({
        store: t.store,
        round,
        clients: n,
        ...load(t.adapter, t.c.endpoints, n, pids, op),
      });
    }
  };
  for (let round = 1; round <= o.rounds; round++) {
    for (const n of o.clients) {
      log(`round ${round}, ${n} clients`);
      await point(round, n, "put");
    }
    if (o.getClients > 0) {
      log(`round ${round}, ${o.getClients} clients, linearizable GET`);
      await point(round, o.getClients, "get");
    }
  }
} finally {
  await rw.stop();
  if (rwB) await rwB.stop();
  if (ec) etcdStop(ec);
}

if (rwB)
  console.log(
    `\nraftwork: node ${o.nodeArgs.join(" ")}; raftwork-B: node ${o.abNodeArgs.join(" ")}`,
  );
console.log(
  `\n3 members, 256-byte PUTs, ${o.duration}s per point, election ${o.electionTimeout}ms / heartbeat ${o.heartbeat}ms\n`,
);
console.log("| store | op | clients | round | ops/s | p50 ms | p99 ms | errors | members' CPU % |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.store} | ${r.op} | ${r.clients} | ${r.round} | ${Math.round(r.opsPerSec)} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.cpu === null ? "" : r.cpu.toFixed(0)} |`,
  );
}
const failover = {};
if (o.failoverTrials > 0) {
  log("failover: raftwork");
  failover.raftwork = await raftworkFailover(o.failoverTrials);
}
if (o.failoverTrials > 0 && !o.skipEtcd) {
  log("failover: etcd");
  failover.etcd = etcdFailover(o.failoverTrials);
}

console.log(
  "\n| store | failover trials (ms, kill -9 leader -> next acknowledged PUT) | median ms |",
);
console.log("|---|---|---:|");
for (const [store, times] of Object.entries(failover)) {
  console.log(`| ${store} | ${times.join(", ")} | ${median(times)} |`);
}
if (o.json) writeFileSync(o.json, `${JSON.stringify({ options: o, rows, failover }, null, 2)}\n`);
