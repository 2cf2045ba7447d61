#!/usr/bin/env node
// raftwork's etcd v3 gRPC API against etcd 3.4, both driven by etcd's own Go load generator
// (tools/benchmark, built offline by bench/build-etcd-benchmark.sh), 3 members each, same
// machine, same run. The stores take turns point by point, who goes first alternating by round,
// so load from elsewhere on the machine hits both alike (bench/RESULTS.md has the results).
//
//   npm run build && flock /tmp/bench.lock node bench/etcd-grpc.mjs [--clients 64,256]
//     [--range-clients 64] [--requests-per-client 150] [--rounds 3] [--election-timeout 1000]
//     [--heartbeat 100] [--warmup 20000] [--kv-bench ../shared/kv-bench] [--cli dist/cli/main.js]
//     [--json FILE]
//
// Before round 1 each store gets the same warm-up: --warmup PUTs at 64 clients, unmeasured.
// Without it the first point measured raftwork's JIT warming up and each member zero-filling
// its first spare WAL segment (64 MiB, file-storage.ts; etcd preallocates with fallocate):
// four back-to-back 9,600-PUT runs on one fresh cluster went 599, 903, 1,482, 1,765 ops/s with
// a mean fsync wait of 17.8, 13.3, 6.9, 6.4 ms (bench/RESULTS.md, "gRPC profile").
//
// PUT: 256-byte values, 8-byte keys drawn from 100,000 (etcd's benchmark `put`). Range: a
// linearizable get of one key (`range --consistency=l`). Clients share connections as etcd's
// docs run it (conns = clients / 8, at least 1), spread over all members.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { etcdStart, etcdStop, RaftworkCluster, sleep } from "./clusters.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const o = {
  clients: [64, 256],
  rangeClients: 64,
  requestsPerClient: 150,
  rounds: 3,
  warmup: 20_000,
  electionTimeout: 1000,
  heartbeat: 100,
  snapshotEntries: 10_000,
  kvBench: resolve(ROOT, "../shared/kv-bench"),
  cli: join(ROOT, "dist/cli/main.js"),
  json: null,
};
{
  const a = process.argv.slice(2);
  const num = (i) => Number(a[i]);
  for (let i = 0; i < a.length; i++) {
    const flag = a[i];
    i++;
    if (flag === "--clients") o.clients = a[i].split(",").map(Number);
    else if (flag === "--range-clients") o.rangeClients = num(i);
    else if (flag === "--requests-per-client") o.requestsPerClient = num(i);
    else if (flag === "--rounds") o.rounds = num(i);
    else if (flag === "--warmup") o.warmup = num(i);
    else if (flag === "--election-timeout") o.electionTimeout = num(i);
    else if (flag === "--heartbeat") o.heartbeat = num(i);
    else if (flag === "--kv-bench") o.kvBench = resolve(a[i]);
    else if (flag === "--cli") o.cli = resolve(a[i]);
    else if (flag === "--json") o.json = a[i];
    else {
      console.error(`unknown option ${flag} (see the header of bench/etcd-grpc.mjs)`);
      process.exit(2);
    }
  }
}
const log = (s) => console.error(`[etcd-grpc] ${s}`);

const build = spawnSync("bash", [join(ROOT, "bench/build-etcd-benchmark.sh")], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
});
if (build.status !== 0) process.exit(build.status ?? 1);
const BENCHMARK = build.stdout.trim();

const { SERVE_V8_FLAGS } = await import(join(dirname(o.cli), "../kv/server/v8-flags.js"));

/** One run of etcd's benchmark; returns ops/s and latency percentiles in ms. */
function benchmark(endpoints, clients, op, total = clients * o.requestsPerClient) {
  const conns = Math.max(1, Math.floor(clients / 8));
  const args =
    op === "put"
      ? ["put", "--key-size=8", "--key-space-size=100000", "--val-size=256"]
      : ["range", "bench-key", "--consistency=l"];
  const r = spawnSync(
    BENCHMARK,
    [
      `--endpoints=${endpoints.join(",")}`,
      `--conns=${conns}`,
      `--clients=${clients}`,
      ...args,
      `--total=${total}`,
    ],
    { encoding: "utf8", maxBuffer: 1 << 24 },
  );
  const out = `${r.stdout}\n${r.stderr}`;
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (r.status !== 0 || rate === null) throw new Error(`benchmark failed (${r.status}):\n${out}`);
  const pct = (p) => {
    const m = new RegExp(`\\s${p.replace(".", "\\.")}% in ([\\d.]+) secs`).exec(out);
    return m === null ? null : Math.round(Number(m[1]) * 10_000) / 10;
  };
  // "Error distribution:" lists "  [COUNT]\tMESSAGE" lines when requests failed.
  const errorPart = out.split("Error distribution:")[1] ?? "";
  const errors = [...errorPart.matchAll(/^\s*\[(\d+)\]/gm)].reduce((n, m) => n + Number(m[1]), 0);
  return { opsPerSec: Number(rate[1]), p50: pct("50"), p99: pct("99"), errors };
}

const rows = [];
const rw = new RaftworkCluster({
  ...o,
  nodeArgs: [...SERVE_V8_FLAGS],
  grpc: true,
});
let ec = null;
try {
  await rw.startAll();
  ec = etcdStart(o.kvBench, o.electionTimeout, o.heartbeat);
  const stores = [
    { store: "raftwork", endpoints: rw.grpcEndpoints },
    { store: "etcd", endpoints: ec.endpoints.map((e) => e.replace(/^http:\/\//, "")) },
  ];
  // The key the range points read exists in both stores.
  for (const s of stores) benchmark(s.endpoints, 1, "put");
  if (o.warmup > 0) {
    for (const s of stores) {
      log(`warm-up: ${o.warmup} PUTs at 64 clients on ${s.store}`);
      benchmark(s.endpoints, 64, "put", o.warmup);
    }
  }
  for (let round = 1; round <= o.rounds; round++) {
    const points = [...o.clients.map((n) => ["put", n]), ["range", o.rangeClients]];
    for (const [op, n] of points) {
      log(`round ${round}: ${op}, ${n} clients`);
      const turns = round % 2 === 0 ? [...stores].reverse() : stores;
      for (const s of turns) {
        await sleep(2000); // lets the previous point's flushes finish before this one starts
        rows.push({ store: s.store, op, clients: n, round, ...benchmark(s.endpoints, n, op) });
      }
    }
  }
} finally {
  await rw.stop();
  if (ec) etcdStop(o.kvBench, ec);
}

console.log(
  `\netcd's benchmark tool over gRPC, 3 members each, election ${o.electionTimeout}ms / heartbeat ${o.heartbeat}ms, ${o.requestsPerClient} requests per client\n`,
);
console.log("| store | op | clients | round | ops/s | p50 ms | p99 ms | errors |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.store} | ${r.op} | ${r.clients} | ${r.round} | ${Math.round(r.opsPerSec)} | ${r.p50} | ${r.p99} | ${r.errors} |`,
  );
}
if (o.json) writeFileSync(o.json, `${JSON.stringify({ options: o, rows }, null, 2)}\n`);
