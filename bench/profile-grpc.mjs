#!/usr/bin/env node
// Where a raftwork member's CPU goes under etcd's own gRPC PUT load (issue 16: measure before
// changing). Starts 3 `kv serve --grpc` members with `node --cpu-prof`, runs etcd's benchmark
// tool (bench/build-etcd-benchmark.sh) against them as bench/etcd-grpc.mjs does, stops them
// (the profiles are written at exit) and prints, per member, self time grouped by where the
// code lives (grpc-js, our h2 front, protobufjs, msgpackr, raftwork's modules, node internals,
// GC) and the top functions.
//
//   npm run build && flock /tmp/bench.lock node bench/profile-grpc.mjs [--clients 64]
//     [--requests-per-client 150] [--op put|range] [--endpoints all|leader] [--top 25]
//     [--runs 1]     (back-to-back benchmark runs on the same cluster, each with its ops/s and
//                     the members' mean wait in storage.sync() from their /metrics)
//     [--keep DIR]   (keep the .cpuprofile files there, for chrome://inspect or speedscope)
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RaftworkCluster, sleep } from "./clusters.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const o = {
  clients: 64,
  requestsPerClient: 150,
  op: "put",
  endpoints: "all",
  top: 25,
  keep: null,
  runs: 1,
};
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) {
    const [flag, v] = [a[i], a[i + 1]];
    if (flag === "--clients") o.clients = Number(v);
    else if (flag === "--requests-per-client") o.requestsPerClient = Number(v);
    else if (flag === "--op") o.op = v;
    else if (flag === "--endpoints") o.endpoints = v;
    else if (flag === "--top") o.top = Number(v);
    else if (flag === "--keep") o.keep = resolve(v);
    else if (flag === "--runs") o.runs = Number(v);
    else {
      console.error(`unknown option ${flag} (see the header of bench/profile-grpc.mjs)`);
      process.exit(2);
    }
  }
}

const build = spawnSync("bash", [join(ROOT, "bench/build-etcd-benchmark.sh")], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
});
if (build.status !== 0) process.exit(build.status ?? 1);
const BENCHMARK = build.stdout.trim();
const cli = join(ROOT, "dist/cli/main.js");
const { SERVE_V8_FLAGS } = await import(join(ROOT, "dist/kv/server/v8-flags.js"));

const profDir = o.keep ?? mkdtempSync(join(tmpdir(), "raftwork-prof-"));
mkdirSync(profDir, { recursive: true });
const rw = new RaftworkCluster({
  cli,
  electionTimeout: 1000,
  heartbeat: 100,
  snapshotEntries: 10_000,
  grpc: true,
  nodeArgs: [...SERVE_V8_FLAGS, "--cpu-prof", `--cpu-prof-dir=${profDir}`],
});
/** The members' total time waiting in storage.sync() and its count, from their /metrics. */
async function syncWaits() {
  let sum = 0;
  let count = 0;
  for (const ep of rw.endpoints) {
    const m = await (await fetch(`${ep}/metrics`)).text();
    sum += Number(/fsync_duration_seconds_sum\{[^}]*\} (\S+)/.exec(m)?.[1] ?? 0);
    count += Number(/fsync_duration_seconds_count\{[^}]*\} (\S+)/.exec(m)?.[1] ?? 0);
  }
  return { sum, count };
}

try {
  const leader = await rw.startAll();
  const endpoints = o.endpoints === "leader" ? [rw.grpcEndpoints[leader - 1]] : rw.grpcEndpoints;
  const op =
    o.op === "put"
      ? ["put", "--key-size=8", "--key-space-size=100000", "--val-size=256"]
      : ["range", "bench-key", "--consistency=l"];
  await sleep(500);
  for (let run = 1; run <= o.runs; run++) {
    const before = await syncWaits();
    const r = spawnSync(
      BENCHMARK,
      [
        `--endpoints=${endpoints.join(",")}`,
        `--conns=${Math.max(1, Math.floor(o.clients / 8))}`,
        `--clients=${o.clients}`,
        ...op,
        `--total=${o.clients * o.requestsPerClient}`,
      ],
      { encoding: "utf8", maxBuffer: 1 << 24 },
    );
    const out = `${r.stdout}\n${r.stderr}`;
    const after = await syncWaits();
    const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
    const wait = (1000 * (after.sum - before.sum)) / Math.max(1, after.count - before.count);
    console.log(
      `run ${run}: ${o.op} ${o.clients} clients to ${o.endpoints} members: ${rate ? `${Math.round(Number(rate[1]))} ops/s` : out}, mean storage.sync() wait ${wait.toFixed(1)} ms over ${after.count - before.count} syncs`,
    );
  }
} finally {
  await rw.stop();
}

/** Where a frame's code lives, coarse enough to compare layers. */
function bucket(frame) {
  const u = frame.url ?? "";
  const f = frame.functionName;
  if (f === "(garbage collector)") return "GC";
  if (f === "(idle)" || f === "(program)") return f;
  if (u.includes("@grpc/grpc-js")) return "grpc-js";
  if (u.includes("protobufjs") || u.includes("@protobufjs")) return "protobufjs";
  if (u.includes("@grpc/proto-loader")) return "proto-loader";
  if (u.includes("msgpackr")) return "msgpackr";
  if (u.includes("/node_modules/"))
    return u.replace(/.*\/node_modules\/((@[^/]+\/)?[^/]+).*/, "$1");
  const m = /\/dist\/([^/]+\/(?:[^/]+\/)?)/.exec(u);
  if (m) return `raftwork ${m[1]}`;
  if (u.startsWith("node:internal/")) return `node ${u.slice(14).split("/").slice(0, 2).join("/")}`;
  if (u.startsWith("node:")) return `node ${u.slice(5)}`;
  if (u === "") return f === "" ? "(native)" : `native ${f}`;
  return u;
}

/**
 * The raftwork module nearest the leaf of a sample's stack, and the library it called, if any
 * ("kv/etcd/call -> grpc-js"): which of our modules the time is spent for.
 */
function caller(node, nodes, parent) {
  const lib = (u) =>
    u.includes("@grpc/grpc-js")
      ? "grpc-js"
      : u.includes("protobufjs")
        ? "protobufjs"
        : u.includes("msgpackr")
          ? "msgpackr"
          : null;
  let firstLib = null;
  for (let id = node.id; id !== undefined; id = parent.get(id)) {
    const frame = nodes.get(id).callFrame;
    const u = frame.url ?? "";
    if (/node:internal\/(modules|bootstrap)/.test(u)) return "(module loading)";
    firstLib ??= lib(u);
    const m = /\/dist\/(.+)\.js$/.exec(u);
    if (m) return firstLib ? `${m[1]} -> ${firstLib}` : m[1];
  }
  const f = node.callFrame.functionName;
  return firstLib ?? (f.startsWith("(") ? f : `(no raftwork frame) ${f || "native"}`);
}

const files = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile"));
// One profile per member; the leader's is the one with the most non-idle time.
const summaries = files.map((f) => {
  const p = JSON.parse(readFileSync(join(profDir, f), "utf8"));
  const total = (p.endTime - p.startTime) / 1000;
  const perSample = total / Math.max(1, p.samples.length);
  const byBucket = new Map();
  const byCaller = new Map();
  const byFn = new Map();
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  let busy = 0;
  for (const n of p.nodes) {
    const ms = n.hitCount * perSample;
    if (ms === 0) continue;
    const b = bucket(n.callFrame);
    byBucket.set(b, (byBucket.get(b) ?? 0) + ms);
    if (b !== "(idle)") {
      const c = caller(n, nodes, parent);
      byCaller.set(c, (byCaller.get(c) ?? 0) + ms);
    }
    if (b !== "(idle)") busy += ms;
    const fn = `${n.callFrame.functionName || "(anonymous)"} ${(n.callFrame.url ?? "").replace(/.*\/(node_modules|dist)\//, "")}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + ms);
  }
  return { f, total, busy, byBucket, byCaller, byFn };
});
summaries.sort((a, b) => b.busy - a.busy);
for (const s of summaries) {
  console.log(
    `\n${s.f}: ${Math.round(s.total)} ms profiled, ${Math.round(s.busy)} ms busy (${Math.round((100 * s.busy) / s.total)}%)`,
  );
  const rows = [...s.byBucket].filter(([b]) => b !== "(idle)").sort((a, b) => b[1] - a[1]);
  for (const [b, ms] of rows.slice(0, 16))
    console.log(`  ${((100 * ms) / s.busy).toFixed(1).padStart(5)}%  ${b}`);
  console.log("  by the nearest raftwork module on the stack (-> the library it called):");
  const callers = [...s.byCaller].sort((a, b) => b[1] - a[1]);
  for (const [c, ms] of callers.slice(0, 16))
    console.log(`  ${((100 * ms) / s.busy).toFixed(1).padStart(5)}%  ${c}`);
  console.log("  top functions (self):");
  const fns = [...s.byFn].sort((a, b) => b[1] - a[1]).filter(([f]) => !f.startsWith("(idle)"));
  for (const [fn, ms] of fns.slice(0, o.top))
    console.log(`  ${((100 * ms) / s.busy).toFixed(1).padStart(5)}%  ${fn}`);
}
if (o.keep === null) rmSync(profDir, { recursive: true, force: true });
else console.log(`\nprofiles kept in ${profDir}`);
