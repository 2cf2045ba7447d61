// Watch hub fan-out (src/kv/watch): what watchers cost the write path, and how many events per
// second the hub delivers, with 0, 1,000 and 10,000 watchers on one node. Three shapes:
//   - idle:   watchers on keys nobody writes (the index must keep writes cheap)
//   - spread: each watcher on its own key, writes spread over those keys (one event per write)
//   - prefix: every watcher on one prefix that every write hits (full fan-out, etcd's election
//             and service-discovery pattern)
// The consumer drains every stream after each write, as a gRPC server keeping up would.
//
//   node --expose-gc --import tsx bench/watch-fanout.ts [writes=100000]

import { MvccStore } from "../src/kv/mvcc/store.js";
import { WatchHub, type WatchStream } from "../src/kv/watch/hub.js";

const WRITES = Number(process.argv[2] ?? 100_000);
const value = Buffer.alloc(256, 1);
const key = (i: number) => Buffer.from(`svc/${String(i).padStart(6, "0")}`);
const prefixEnd = Buffer.from("svc0"); // "svc/" with its last byte incremented

function run(shape: "idle" | "spread" | "prefix", watchers: number): void {
  const store = new MvccStore();
  const hub = new WatchHub(store, { maxPendingBytes: 1 << 30 });
  // 100 streams (gRPC connections), watchers spread over them.
  const streams: WatchStream[] = Array.from({ length: 100 }, () => hub.openStream());
  for (let i = 0; i < watchers; i++) {
    const s = streams[i % streams.length] as WatchStream;
    if (shape === "idle") s.watch({ key: Buffer.from(`other/${i}`) });
    else if (shape === "spread") s.watch({ key: key(i) });
    else s.watch({ key: Buffer.from("svc/"), rangeEnd: prefixEnd });
  }
  for (const s of streams) s.take();
  const writes = shape === "prefix" && watchers >= 10_000 ? WRITES / 10 : WRITES;
  let events = 0;
  const t0 = performance.now();
  for (let i = 0; i < writes; i++) {
    store.put({ key: key(i % Math.max(watchers, 1)), value });
    for (const s of streams) {
      if (s.pending === 0) continue;
      for (const r of s.take()) events += r.events.length;
    }
  }
  const ms = performance.now() - t0;
  const perWrite = (ms * 1000) / writes;
  console.log(
    `${shape.padEnd(6)} ${String(watchers).padStart(6)} watchers: ` +
      `${String(Math.round((writes / ms) * 1000)).padStart(7)} writes/s, ` +
      `${perWrite.toFixed(2).padStart(8)} us per write, ` +
      `${String(Math.round((events / ms) * 1000)).padStart(9)} events/s delivered`,
  );
}

run("idle", 0);
for (const n of [1000, 10_000]) {
  run("idle", n);
  run("spread", n);
  run("prefix", n);
}
