#!/usr/bin/env node
// Resident set per member after N keys of 256 bytes, raftwork (`kv serve --grpc`) against
// etcd 3.4, both loaded through their gRPC API by etcd's own benchmark tool (issue 16).
//
//   npm run build && flock /tmp/bench.lock node bench/memory.mjs [--keys 1000000]
//     [--members 3] [--clients 256] [--settle 5000] [--snapshot-entries 0]
//     [--election-timeout 1000] [--heartbeat 100] [--port-offset 400]
//     [--kv-bench ../shared/kv-bench] [--cli dist/cli/main.js] [--json FILE]
//
// With the defaults this takes about 10 minutes on this 2-core machine (two loads of 1M PUTs;
// raftwork loaded at ~2,200 PUTs/s and etcd at ~6,800 in the small runs); --keys 200000 takes 3. The stores run one after the other, never at once, so neither's page cache or CPU
// load falls on the other. Keys are the tool's sequential 8-byte keys (`put --sequential-keys
// --key-space-size N --total N`): N distinct keys, each written once. The count is checked with
// etcdctl (a linearizable count of every key) before the resident set is read from /proc after
// --settle ms. --snapshot-entries 0 keeps each store's own default (raftwork snapshots every
// 10,000 entries, etcd every 100,000); any other value is given to both.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { etcdStart, etcdStop, parseOptions, RaftworkCluster, rssMiB, sleep } from "./clusters.mjs";
import { benchmarkBinary, ROOT, runBenchmark, serveV8Flags } from "./etcd-tool.mjs";

const o = parseOptions(
  {
    keys: 1_000_000,
    members: 3,
    clients: 256,
    settle: 5000,
    snapshotEntries: 0,
    electionTimeout: 1000,
    heartbeat: 100,
    portOffset: 400,
    kvBench: resolve(ROOT, "../shared/kv-bench"),
    cli: join(ROOT, "dist/cli/main.js"),
    json: "",
  },
  "memory.mjs",
);
o.kvBench = resolve(o.kvBench);
o.cli = resolve(o.cli);
const log = (s) => console.error(`[memory] ${s}`);
const BENCHMARK = benchmarkBinary();

function countKeys(endpoint) {
  const r = spawnSync(
    "etcdctl",
    [
      `--endpoints=${endpoint}`,
      "--command-timeout=60s",
      "get",
      "",
      "--from-key",
      "--keys-only",
      "--limit=1",
      "-w",
      "json",
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`etcdctl count failed: ${r.stderr}`);
  return Number(JSON.parse(r.stdout).count ?? 0);
}

async function measure(store, endpoints, pids) {
  const idle = pids.map(rssMiB);
  log(`${store}: loading ${o.keys} keys at ${o.clients} clients`);
  const t0 = performance.now();
  const load = await runBenchmark(
    BENCHMARK,
    endpoints,
    o.clients,
    ["put", "--sequential-keys", `--key-space-size=${o.keys}`, "--key-size=8", "--val-size=256"],
    o.keys,
  );
  const loadS = (performance.now() - t0) / 1000;
  const count = countKeys(endpoints[0]);
  if (count !== o.keys) throw new Error(`${store} holds ${count} keys, expected ${o.keys}`);
  await sleep(o.settle);
  const loaded = pids.map(rssMiB);
  log(`${store}: ${load.opsPerSec.toFixed(0)} PUTs/s, RSS ${loaded.join(", ")} MiB`);
  return { store, idle, loaded, loadS, loadOpsPerSec: load.opsPerSec, loadErrors: load.errors };
}

const rows = [];
{
  const snap = o.snapshotEntries > 0 ? o.snapshotEntries : 10_000;
  const rw = new RaftworkCluster({
    ...o,
    snapshotEntries: snap,
    nodeArgs: await serveV8Flags(o.cli),
    grpc: true,
  });
  try {
    await rw.startAll();
    rows.push(await measure("raftwork", rw.grpcEndpoints, rw.pids()));
  } finally {
    await rw.stop();
  }
}
{
  const extra = o.snapshotEntries > 0 ? [`--snapshot-count=${o.snapshotEntries}`] : [];
  const ec = etcdStart(o.kvBench, o.electionTimeout, o.heartbeat, {
    members: o.members,
    basePort: 23790 + o.portOffset,
    extra,
  });
  try {
    rows.push(await measure("etcd", ec.grpcEndpoints, ec.pids));
  } finally {
    etcdStop(o.kvBench, ec);
  }
}

const sum = (xs) => Math.round(xs.reduce((a, b) => a + b, 0));
console.log(
  `\nResident set after ${o.keys} keys of 256 B, ${o.members} members, loaded at ${o.clients} clients (RSS in MiB)\n`,
);
console.log("| store | idle per member | loaded per member | loaded, all members | load PUTs/s |");
console.log("|---|---|---|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.store} | ${r.idle.join(", ")} | ${r.loaded.join(", ")} | ${sum(r.loaded)} | ${Math.round(r.loadOpsPerSec)} |`,
  );
}
if (rows.length === 2) {
  const [a, b] = rows;
  console.log(
    `\nraftwork / etcd, all members loaded: ${(sum(a.loaded) / sum(b.loaded)).toFixed(2)}x`,
  );
}
if (o.json) writeFileSync(o.json, `${JSON.stringify({ options: o, rows }, null, 2)}\n`);
