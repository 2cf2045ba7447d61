#!/usr/bin/env node
// Leader failover under write load, raftwork's etcd gRPC API against etcd 3.4, same timeouts:
// time from kill -9 of the leader to the next acknowledged write (issue 16).
//
//   npm run build && flock /tmp/bench.lock node bench/failover-grpc.mjs [--trials 11]
//     [--members 3] [--election-timeout 300] [--heartbeat 50] [--writers 16]
//     [--settle 1500] [--attempt-timeout 2000] [--max-wait 15000] [--port-offset 300]
//     [--kv-bench ../shared/kv-bench] [--cli dist/cli/main.js] [--json FILE]
//
// Defaults take about 5 minutes (11 trials per store, a fresh cluster each; 3 took 1.5). Each trial: start
// the cluster, let --writers grpc-js loops PUT 256-byte values through the followers (one
// channel per member, each request with an --attempt-timeout deadline), settle, then SIGKILL
// the leader. From that instant a probe PUT also goes to a survivor every 5 ms, so a write is
// always issued right after the kill. The failover time counts only writes issued after the
// kill: the dead leader cannot have committed those, so their acknowledgement needs the new
// leader (an ack in flight from before the kill is not a failover). The stores alternate trial
// by trial, who goes first swapping each trial.
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  etcdLeaderIndex,
  etcdStart,
  etcdStop,
  median,
  parseOptions,
  RaftworkCluster,
  sleep,
} from "./clusters.mjs";
import { etcdGrpc, ROOT, serveV8Flags } from "./etcd-tool.mjs";

const o = parseOptions(
  {
    trials: 11,
    members: 3,
    electionTimeout: 300,
    heartbeat: 50,
    writers: 16,
    settle: 1500,
    attemptTimeout: 2000,
    maxWait: 15_000,
    snapshotEntries: 10_000,
    portOffset: 300,
    kvBench: resolve(ROOT, "../shared/kv-bench"),
    cli: join(ROOT, "dist/cli/main.js"),
    json: "",
  },
  "failover-grpc.mjs",
);
o.kvBench = resolve(o.kvBench);
o.cli = resolve(o.cli);
const log = (s) => console.error(`[failover-grpc] ${s}`);
const { grpc, KV } = await etcdGrpc(o.cli);
const nodeArgs = await serveV8Flags(o.cli);
const value = Buffer.alloc(256, 0x61);

/** Starts a store's fresh cluster; returns endpoints, the leader's index and a kill -9. */
async function startStore(store) {
  if (store === "raftwork") {
    const rw = new RaftworkCluster({ ...o, nodeArgs, grpc: true });
    try {
      await rw.startAll();
      return {
        endpoints: rw.grpcEndpoints,
        leaderIndex: async () => (await rw.leader()) - 1,
        kill: (i) => rw.kill9(i + 1),
        stop: () => rw.stop(),
      };
    } catch (e) {
      await rw.stop();
      throw e;
    }
  }
  const ec = etcdStart(o.kvBench, o.electionTimeout, o.heartbeat, {
    members: o.members,
    basePort: 23790 + o.portOffset,
  });
  return {
    endpoints: ec.grpcEndpoints,
    leaderIndex: () => etcdLeaderIndex(ec),
    kill: (i) => process.kill(ec.pids[i], "SIGKILL"),
    stop: async () => etcdStop(o.kvBench, ec),
  };
}

async function trial(store, n) {
  const s = await startStore(store);
  const clients = s.endpoints.map((ep) => new KV(ep, grpc.credentials.createInsecure()));
  let seq = 0;
  const put = (client) =>
    new Promise((res, rej) => {
      const key = Buffer.from(`failover/${n}/${seq++ % 10_000}`);
      client.Put({ key, value }, { deadline: Date.now() + o.attemptTimeout }, (err) =>
        err ? rej(err) : res(),
      );
    });
  try {
    let leader = await s.leaderIndex();
    for (let i = 0; i < 20; i++) await put(clients[i % clients.length]); // connects every channel
    let running = true;
    let killedAt = null;
    let failoverMs = null;
    let before = 0;
    let errors = 0;
    // A write issued after the kill and acknowledged: the failover time, if the first.
    const acked = (issuedAt) => {
      if (killedAt === null) before++;
      else if (issuedAt >= killedAt && failoverMs === null)
        failoverMs = performance.now() - killedAt;
    };
    const targets = () => clients.filter((_, i) => i !== leader);
    const loops = Array.from({ length: o.writers }, async (_, w) => {
      while (running) {
        const t = targets();
        const issuedAt = performance.now();
        try {
          await put(t[w % t.length]);
          acked(issuedAt);
        } catch {
          errors++;
          await sleep(5); // a refused write (no leader yet) must not spin the loop
        }
      }
    });
    await sleep(o.settle);
    leader = await s.leaderIndex(); // the leader may have moved under load before the kill
    const ackedBefore = before;
    killedAt = performance.now();
    s.kill(leader);
    const probes = [];
    for (let i = 0; failoverMs === null && performance.now() - killedAt < o.maxWait; i++) {
      const t = targets();
      const issuedAt = performance.now();
      probes.push(
        put(t[i % t.length]).then(
          () => acked(issuedAt),
          () => {},
        ),
      );
      await sleep(5);
    }
    running = false;
    await Promise.all([...loops, ...probes]);
    if (failoverMs === null)
      throw new Error(`${store}: no write acknowledged within ${o.maxWait} ms`);
    return {
      store,
      trial: n,
      killed: leader + 1,
      failoverMs: Math.round(failoverMs),
      ackedBefore,
      errors,
    };
  } finally {
    for (const c of clients) c.close();
    await s.stop();
  }
}

const rows = [];
for (let n = 1; n <= o.trials; n++) {
  const order = n % 2 === 1 ? ["raftwork", "etcd"] : ["etcd", "raftwork"];
  for (const store of order) {
    const r = await trial(store, n);
    log(
      `trial ${n} ${store}: killed member ${r.killed}, next acknowledged write after ${r.failoverMs} ms (${r.ackedBefore} writes acked in the ${o.settle} ms before)`,
    );
    rows.push(r);
  }
}

console.log(
  `\nFailover under write load (${o.writers} writers), ${o.members} members, election ${o.electionTimeout}ms / heartbeat ${o.heartbeat}ms, ${o.trials} trials each\n`,
);
console.log("| store | median ms | worst ms | best ms | trials (ms) |");
console.log("|---|---:|---:|---:|---|");
for (const store of ["raftwork", "etcd"]) {
  const ms = rows.filter((r) => r.store === store).map((r) => r.failoverMs);
  console.log(
    `| ${store} | ${median(ms)} | ${Math.max(...ms)} | ${Math.min(...ms)} | ${ms.join(", ")} |`,
  );
}
if (o.json) writeFileSync(o.json, `${JSON.stringify({ options: o, rows }, null, 2)}\n`);
