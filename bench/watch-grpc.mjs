#!/usr/bin/env node
// Watch fan-out over the etcd gRPC API, raftwork against etcd 3.4 (issue 16): --watchers
// watchers on one follower while etcd's benchmark tool writes through every member. Reports
// the write throughput without and with the watchers (the loss), the events per second the
// member delivers, and how long the backlog takes to drain once writes stop.
// bench/watch-fanout.ts measures the in-process watch hub alone (no gRPC, no Raft).
//
//   npm run build && flock /tmp/bench.lock node bench/watch-grpc.mjs [--watchers 1000]
//     [--streams 10] [--writes 5000] [--clients 64] [--rounds 1] [--members 3]
//     [--drain-timeout 60000] [--election-timeout 1000] [--heartbeat 100] [--port-offset 500]
//     [--kv-bench ../shared/kv-bench] [--cli dist/cli/main.js] [--json FILE]
//
// About 3-5 minutes with the defaults (the drain wait is capped by --drain-timeout). Every watcher covers the whole key space (key "\0", range
// end "\0"), so each write is an event for every watcher: full fan-out, the shape of etcd's
// election and service-discovery clients; the watchers share --streams Watch streams, as etcd
// clients multiplex them. The client counts events with a few-line protobuf walk instead of
// decoding them, so its own CPU cost (it shares the machine) stays small and equal for both.
// Each round: warm-up writes, --writes PUTs with no watcher (baseline), open the watchers, the
// same PUTs again (watched), then wait until every event arrived or --drain-timeout passed.
// A store that cancels a slow watcher (raftwork does past 8 MiB queued per watcher; etcd keeps
// slow watchers and catches them up) shows it in the canceled column. Expected events are
// --writes x --watchers: a watcher whose create answer went missing still exists on the server.
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  etcdLeaderIndex,
  etcdStart,
  etcdStop,
  parseOptions,
  RaftworkCluster,
  sleep,
} from "./clusters.mjs";
import { benchmarkBinary, opArgs, ROOT, runBenchmark, serveV8Flags } from "./etcd-tool.mjs";

const o = parseOptions(
  {
    watchers: 1000,
    streams: 10,
    writes: 5000,
    clients: 64,
    rounds: 1,
    members: 3,
    drainTimeout: 60_000,
    electionTimeout: 1000,
    heartbeat: 100,
    snapshotEntries: 10_000,
    portOffset: 500,
    kvBench: resolve(ROOT, "../shared/kv-bench"),
    cli: join(ROOT, "dist/cli/main.js"),
    json: "",
  },
  "watch-grpc.mjs",
);
o.kvBench = resolve(o.kvBench);
o.cli = resolve(o.cli);
const log = (s) => console.error(`[watch-grpc] ${s}`);
const BENCHMARK = benchmarkBinary();
const grpc = await import("@grpc/grpc-js");

// WatchRequest{create_request: WatchCreateRequest{key: "\0", range_end: "\0"}}: every key.
const CREATE_ALL = Buffer.from([0x0a, 0x06, 0x0a, 0x01, 0x00, 0x12, 0x01, 0x00]);

/**
 * The parts of a WatchResponse this bench needs: created (field 3), canceled (4) and the
 * number of events (repeated field 11), without decoding the events themselves.
 */
function countResponse(buf) {
  let i = 0;
  const varint = () => {
    let v = 0;
    let scale = 1;
    let b;
    do {
      b = buf[i++];
      v += (b & 0x7f) * scale;
      scale *= 128;
    } while (b & 0x80);
    return v;
  };
  const r = { created: false, canceled: false, events: 0 };
  while (i < buf.length) {
    const tag = varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      const v = varint();
      if (field === 3) r.created = v !== 0;
      else if (field === 4) r.canceled = v !== 0;
    } else if (wire === 2) {
      const len = varint();
      if (field === 11) r.events++;
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`WatchResponse: unexpected wire type ${wire}`);
  }
  return r;
}

/** Opens the watchers on one endpoint; counts what arrives until close(). */
async function openWatchers(endpoint) {
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 << 20,
  });
  const stats = { created: 0, canceled: 0, events: 0, errors: 0 };
  const calls = Array.from({ length: o.streams }, () => {
    const call = client.makeBidiStreamRequest("/etcdserverpb.Watch/Watch", (b) => b, countResponse);
    call.on("data", (r) => {
      if (r.created) stats.created++;
      if (r.canceled) stats.canceled++;
      stats.events += r.events;
    });
    call.on("error", (e) => {
      if (e.code !== grpc.status.CANCELLED) stats.errors++;
    });
    return call;
  });
  for (let w = 0; w < o.watchers; w++) calls[w % calls.length].write(CREATE_ALL);
  // Every create request must be answered; a store that loses some of the answers (raftwork
  // did, bench/RESULTS.md) is measured with the watchers it confirmed, and the table says so.
  let last = -1;
  let lastChange = Date.now();
  while (stats.created < o.watchers && Date.now() - lastChange < 10_000) {
    if (stats.created !== last) {
      last = stats.created;
      lastChange = Date.now();
    }
    await sleep(20);
  }
  if (stats.created < o.watchers) log(`only ${stats.created} of ${o.watchers} watchers confirmed`);
  return {
    stats,
    close: () => {
      for (const c of calls) c.cancel();
      client.close();
    },
  };
}

async function startStore(store) {
  if (store === "raftwork") {
    const rw = new RaftworkCluster({ ...o, nodeArgs: await serveV8Flags(o.cli), grpc: true });
    try {
      const leader = await rw.startAll();
      return { endpoints: rw.grpcEndpoints, leader: leader - 1, stop: () => rw.stop() };
    } catch (e) {
      await rw.stop();
      throw e;
    }
  }
  const ec = etcdStart(o.kvBench, o.electionTimeout, o.heartbeat, {
    members: o.members,
    basePort: 23790 + o.portOffset,
  });
  try {
    return {
      endpoints: ec.grpcEndpoints,
      leader: await etcdLeaderIndex(ec),
      stop: async () => etcdStop(o.kvBench, ec),
    };
  } catch (e) {
    etcdStop(o.kvBench, ec);
    throw e;
  }
}

async function measure(store, round) {
  const s = await startStore(store);
  try {
    const put = () => runBenchmark(BENCHMARK, s.endpoints, o.clients, opArgs("put"), o.writes);
    await runBenchmark(BENCHMARK, s.endpoints, 64, opArgs("put"), 5000); // warm-up
    const baseline = await put();
    const member = (s.leader + 1) % s.endpoints.length; // a follower
    const w = await openWatchers(s.endpoints[member]);
    try {
      const t0 = performance.now();
      const watched = await put();
      const writeS = (performance.now() - t0) / 1000;
      const duringWrites = w.stats.events;
      const expected = () => o.writes * (o.watchers - w.stats.canceled);
      let last = w.stats.events;
      let lastChange = performance.now();
      while (
        w.stats.events < expected() &&
        performance.now() - t0 < writeS * 1000 + o.drainTimeout
      ) {
        await sleep(20);
        if (w.stats.events !== last) {
          last = w.stats.events;
          lastChange = performance.now();
        } else if (performance.now() - lastChange > 10_000) break; // nothing more is coming
      }
      const allS = (performance.now() - t0) / 1000;
      const row = {
        store,
        round,
        member: member + 1,
        baseline: baseline.opsPerSec,
        watched: watched.opsPerSec,
        watchedP99: watched.p99,
        baselineP99: baseline.p99,
        eventsPerSecDuringWrites: duringWrites / writeS,
        eventsDelivered: w.stats.events,
        created: w.stats.created,
        eventsExpected: o.writes * o.watchers,
        drainS: allS - writeS,
        eventsPerSecOverall: w.stats.events / allS,
        canceled: w.stats.canceled,
        streamErrors: w.stats.errors,
        writeErrors: baseline.errors + watched.errors,
      };
      log(
        `round ${round} ${store}: ${Math.round(row.baseline)} -> ${Math.round(row.watched)} writes/s, ${Math.round(row.eventsPerSecDuringWrites)} events/s during writes, ${row.eventsDelivered}/${row.eventsExpected} events after ${allS.toFixed(1)} s, ${row.canceled} canceled`,
      );
      return row;
    } finally {
      w.close();
    }
  } finally {
    await s.stop();
  }
}

const rows = [];
for (let round = 1; round <= o.rounds; round++) {
  const order = round % 2 === 1 ? ["raftwork", "etcd"] : ["etcd", "raftwork"];
  for (const store of order) rows.push(await measure(store, round));
}

console.log(
  `\nWatch fan-out: ${o.watchers} watchers on every key over ${o.streams} streams on one follower, ${o.writes} PUTs at ${o.clients} clients through ${o.members} members\n`,
);
console.log(
  "| store | round | writes/s no watchers | writes/s watched | lost | p99 ms no/watched | events/s during writes | events/s until drained | watchers confirmed | events delivered / expected | drain s | canceled |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.store} | ${r.round} | ${Math.round(r.baseline)} | ${Math.round(r.watched)} | ${Math.round((1 - r.watched / r.baseline) * 100)}% | ${r.baselineP99} / ${r.watchedP99} | ${Math.round(r.eventsPerSecDuringWrites)} | ${Math.round(r.eventsPerSecOverall)} | ${r.created} | ${r.eventsDelivered} / ${r.eventsExpected} | ${r.drainS.toFixed(1)} | ${r.canceled} |`,
  );
}
if (o.json) writeFileSync(o.json, `${JSON.stringify({ options: o, rows }, null, 2)}\n`);
