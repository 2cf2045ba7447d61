#!/usr/bin/env node
// raftwork's etcd v3 gRPC API against etcd 3.4, both driven by etcd's own Go load generator
// (tools/benchmark, built offline by bench/build-etcd-benchmark.sh), N members each (same
// election/heartbeat timeouts), same machine, same run. The stores take turns point by point,
// who goes first alternating by round, so load from elsewhere on the machine hits both alike
// (bench/RESULTS.md has the results).
//
//   npm run build && flock /tmp/bench.lock node bench/etcd-grpc.mjs [--clients 64,256]
//     [--range-clients 64] [--requests-per-client 150] [--rounds 3] [--members 3]
//     [--election-timeout 1000] [--heartbeat 100] [--warmup 20000] [--port-offset 0]
//     [--kv-bench ../shared/kv-bench] [--cli dist/cli/main.js] [--json FILE]
//
// The client sweep of issue 16 (1 to 1,024 clients, PUT and linearizable range, one round,
// about 2 minutes on this loaded 2-core machine; --members 5 for the 5-member clusters):
//
//   flock /tmp/bench.lock node bench/etcd-grpc.mjs --clients 1,16,64,256,1024 \
//     --range-clients 1,16,64,256,1024 --rounds 1 --requests-per-client 60 --warmup 10000
//
// Every point runs at least 300 requests (1 client x 60 would measure nothing). The closing
// table gives each point's median over the rounds per store and raftwork / etcd.
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
import { join, resolve } from "node:path";
import { etcdStart, etcdStop, median, parseOptions, RaftworkCluster, sleep } from "./clusters.mjs";
import { benchmarkBinary, opArgs, ROOT, runBenchmark, serveV8Flags } from "./etcd-tool.mjs";

const o = parseOptions(
  {
    clients: [64, 256],
    rangeClients: [64],
    requestsPerClient: 150,
    rounds: 3,
    members: 3,
    warmup: 20_000,
    electionTimeout: 1000,
    heartbeat: 100,
    snapshotEntries: 10_000,
    portOffset: 0,
    kvBench: resolve(ROOT, "../shared/kv-bench"),
    cli: join(ROOT, "dist/cli/main.js"),
    json: "",
  },
  "etcd-grpc.mjs",
);
o.kvBench = resolve(o.kvBench);
o.cli = resolve(o.cli);
const log = (s) => console.error(`[etcd-grpc] ${s}`);

const BENCHMARK = benchmarkBinary();
const benchmark = (endpoints, clients, op, total = Math.max(300, clients * o.requestsPerClient)) =>
  runBenchmark(BENCHMARK, endpoints, clients, opArgs(op), total);

const rows = [];
const rw = new RaftworkCluster({ ...o, nodeArgs: await serveV8Flags(o.cli), grpc: true });
let ec = null;
try {
  await rw.startAll();
  ec = etcdStart(o.kvBench, o.electionTimeout, o.heartbeat, {
    members: o.members,
    basePort: 23790 + o.portOffset,
  });
  const stores = [
    { store: "raftwork", endpoints: rw.grpcEndpoints },
    { store: "etcd", endpoints: ec.grpcEndpoints },
  ];
  // The key the range points read exists in both stores (written with etcdctl, over gRPC).
  for (const s of stores) {
    const r = spawnSync(
      "etcdctl",
      [`--endpoints=${s.endpoints[0]}`, "put", "bench-key", "v".repeat(256)],
      {
        encoding: "utf8",
      },
    );
    if (r.status !== 0) throw new Error(`etcdctl put on ${s.store} failed: ${r.stderr}`);
  }
  if (o.warmup > 0) {
    for (const s of stores) {
      log(`warm-up: ${o.warmup} PUTs at 64 clients on ${s.store}`);
      await benchmark(s.endpoints, 64, "put", o.warmup);
    }
  }
  for (let round = 1; round <= o.rounds; round++) {
    const points = [
      ...o.clients.map((n) => ["put", n]),
      ...o.rangeClients.map((n) => ["range", n]),
    ];
    for (const [op, n] of points) {
      log(`round ${round}: ${op}, ${n} clients`);
      const turns = round % 2 === 0 ? [...stores].reverse() : stores;
      for (const s of turns) {
        await sleep(2000); // lets the previous point's flushes finish before this one starts
        rows.push({
          store: s.store,
          op,
          clients: n,
          round,
          ...(await benchmark(s.endpoints, n, op)),
        });
      }
    }
  }
} finally {
  await rw.stop();
  if (ec) etcdStop(o.kvBench, ec);
}

console.log(
  `\netcd's benchmark tool over gRPC, ${o.members} members each, election ${o.electionTimeout}ms / heartbeat ${o.heartbeat}ms, ${o.requestsPerClient} requests per client\n`,
);
console.log("| store | op | clients | round | ops/s | p50 ms | p99 ms | errors |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.store} | ${r.op} | ${r.clients} | ${r.round} | ${Math.round(r.opsPerSec)} | ${r.p50} | ${r.p99} | ${r.errors} |`,
  );
}
console.log(
  `\nMedians over ${o.rounds} round(s); ratio = raftwork / etcd (p99: lower is better)\n`,
);
console.log(
  "| op | clients | raftwork ops/s | etcd ops/s | ops ratio | raftwork p50/p99 ms | etcd p50/p99 ms | p99 ratio |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
const pointKeys = [...new Set(rows.map((r) => `${r.op}|${r.clients}`))];
for (const key of pointKeys) {
  const [op, clients] = key.split("|");
  const of = (store, f) =>
    median(
      rows.filter((r) => r.store === store && `${r.op}|${r.clients}` === key).map((r) => r[f]),
    );
  const ratio = (a, b) => (b > 0 ? (a / b).toFixed(2) : "-");
  console.log(
    `| ${op} | ${clients} | ${Math.round(of("raftwork", "opsPerSec"))} | ${Math.round(of("etcd", "opsPerSec"))} | ${ratio(of("raftwork", "opsPerSec"), of("etcd", "opsPerSec"))}x | ${of("raftwork", "p50")} / ${of("raftwork", "p99")} | ${of("etcd", "p50")} / ${of("etcd", "p99")} | ${ratio(of("raftwork", "p99"), of("etcd", "p99"))}x |`,
  );
}
if (o.json) writeFileSync(o.json, `${JSON.stringify({ options: o, rows }, null, 2)}\n`);
