// MVCC store throughput and memory (src/kv/mvcc): operations per second of the store alone
// (no Raft, no network), memory for 1 million keys, memory held under endless overwrites with
// compaction, and the snapshot's longest synchronous slice on 1 million keys (the event-loop
// stall a node would see while a snapshot is encoded or installed).
//
// Values are stored as given; the bench gives each put its own exact-size copy (as a decoded
// log entry would), so the memory figure counts them.
//
//   node --expose-gc --import tsx bench/mvcc-store.ts [keys=1000000] [valueBytes=256]

import { PerformanceObserver } from "node:perf_hooks";
import { SnapshotReader, snapshotChunks } from "../src/kv/mvcc/snapshot.js";
import { MvccStore } from "../src/kv/mvcc/store.js";
import { CompareTarget } from "../src/kv/mvcc/types.js";

const KEYS = Number(process.argv[2] ?? 1_000_000);
const VALUE = Number(process.argv[3] ?? 256);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;

function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
}

function timed(label: string, n: number, f: (i: number) => void): void {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f(i);
  const ms = performance.now() - t0;
  console.log(`${label.padEnd(44)} ${String(Math.round((n / ms) * 1000)).padStart(9)} ops/s`);
}

const key = (i: number) => Buffer.from(`key/${String(i).padStart(8, "0")}`);
const template = new Uint8Array(VALUE).fill(7);
/**
 * A value of its own: with VALUES=own an exact-size ArrayBuffer each (what msgpackr's
 * copyBuffers and Uint8Array.slice give), by default a copy in Node's shared Buffer pool
 * (Buffer.from: 8 KiB slabs, much cheaper for V8's GC to track).
 */
const ownBuffers = process.env.VALUES === "own";
const fresh = ownBuffers ? () => template.slice() : () => Buffer.from(template);

// Major GC pauses, to tell a slow slice of our own from one V8 stopped for a heap-wide GC.
const gcs: Array<{ start: number; end: number }> = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    gcs.push({ start: e.startTime, end: e.startTime + e.duration });
}).observe({ entryTypes: ["gc"] });

/**
 * Times each call of `step` until it returns false; the longest slices with and without a GC
 * pause inside (GC entries arrive asynchronously, hence the await before looking at them).
 */
async function slices(step: () => boolean): Promise<{
  total: number;
  longest: number;
  longestNoGc: number;
  longestCpu: number;
  p50: number;
  p99: number;
  n: number;
}> {
  let total = 0;
  let longest = 0;
  let longestNoGc = 0;
  let longestCpu = 0;
  let n = 0;
  const windows: Array<[number, number]> = [];
  for (;;) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const more = step();
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    // CPU time of the slice: unlike wall time, not stretched when the OS runs something else
    // (the machine is shared); it does include V8's GC threads.
    longestCpu = Math.max(longestCpu, (c1.user + c1.system) / 1000);
    windows.push([t0, t1]);
    total += t1 - t0;
    longest = Math.max(longest, t1 - t0);
    n++;
    if (!more) break;
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (const [t0, t1] of windows) {
    if (!gcs.some((g) => g.end > t0 && g.start < t1)) longestNoGc = Math.max(longestNoGc, t1 - t0);
  }
  const sorted = windows.map(([a, z]) => z - a).sort((x, y) => x - y);
  const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { total, longest, longestNoGc, longestCpu, p50: p(0.5), p99: p(0.99), n };
}
console.log(
  `${KEYS} keys of ${VALUE} B values (${ownBuffers ? "own ArrayBuffers" : "pooled Buffers"}), node ${process.version}`,
);

const base = heap();
const s = new MvccStore();
timed(`put ${KEYS} new keys`, KEYS, (i) => s.put({ key: key((i * 7919) % KEYS), value: fresh() }));
const loaded = heap() - base;
console.log(
  `memory for ${KEYS} keys: ${mib(loaded)} heap+buffers ` +
    `(${((loaded - KEYS * VALUE) / KEYS).toFixed(0)} B per key beyond the value), rss ${mib(process.memoryUsage().rss)}`,
);

timed("range: one key", 200_000, (i) => s.range({ key: key((i * 31) % KEYS) }));
timed("range: 100 keys (limit 100, count all)", 20_000, (i) =>
  s.range({ key: key((i * 31) % KEYS), rangeEnd: Buffer.from("key0"), limit: 100 }),
);
timed("range: count_only over every key", 200, () =>
  s.range({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), countOnly: true }),
);
timed("range: one key at a past revision", 200_000, (i) =>
  s.range({ key: key(i % KEYS), revision: 2 + ((i * 13) % KEYS) }),
);
timed("overwrite existing keys", 500_000, (i) => s.put({ key: key(i % KEYS), value: fresh() }));
timed("txn: compare version, then put", 200_000, (i) =>
  s.txn({
    compare: [{ key: key(i % KEYS), target: CompareTarget.VERSION, result: 1, version: 0 }],
    success: [{ put: { key: key(i % KEYS), value: fresh() } }],
  }),
);
timed("delete one key", 100_000, (i) => s.deleteRange({ key: key(i) }));

// ---- snapshot slices on the loaded store (with its history: 1.8 M versions) ----
{
  const chunks: Uint8Array[] = [];
  const it = snapshotChunks(s);
  const enc = await slices(() => {
    const step = it.next();
    if (!step.done) chunks.push(step.value);
    return !step.done;
  });
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  console.log(
    `snapshot encode: ${mib(bytes)} in ${chunks.length} chunks, ${enc.total.toFixed(0)} ms in all; ` +
      `slices p50 ${enc.p50.toFixed(2)} ms, p99 ${enc.p99.toFixed(2)} ms; ` +
      `longest: ${enc.longestNoGc.toFixed(2)} ms wall without a GC pause in it, ` +
      `${enc.longest.toFixed(2)} ms wall with one, ${enc.longestCpu.toFixed(2)} ms CPU`,
  );
  const reader = new SnapshotReader();
  let i = 0;
  const dec = await slices(() => {
    reader.push(chunks[i++] as Uint8Array);
    return i < chunks.length;
  });
  const t0 = performance.now();
  const copy = new MvccStore();
  copy.adopt(reader.finish().image);
  console.log(
    `snapshot decode: ${dec.total.toFixed(0)} ms in all; pushes p50 ${dec.p50.toFixed(2)} ms, ` +
      `p99 ${dec.p99.toFixed(2)} ms; longest: ${dec.longestNoGc.toFixed(2)} ms ` +
      `wall without a GC pause in it, ${dec.longest.toFixed(2)} ms wall with one, ` +
      `${dec.longestCpu.toFixed(2)} ms CPU; finish+adopt ` +
      `${(performance.now() - t0).toFixed(2)} ms; ${copy.keyCount} keys`,
  );
}

// ---- endless overwrites with compaction: memory must stay flat ----
{
  const t = new MvccStore();
  const hot = 10_000;
  const rounds = 20;
  const perRound = 100_000;
  const samples: number[] = [];
  const before = heap();
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < perRound; i++) t.put({ key: key(i % hot), value: fresh() });
    t.compact(t.revision - 1000); // keep the last 1000 revisions, as auto-compaction would
    while (t.maintain(10_000));
    if (r % 5 === 4) samples.push(heap() - before);
  }
  const ms = performance.now() - t0;
  console.log(
    `overwrite ${rounds * perRound} times ${hot} keys, compacting each ${perRound}: ` +
      `${Math.round(((rounds * perRound) / ms) * 1000)} ops/s; its heap+buffers after each 500k writes: ` +
      `${samples.map(mib).join(", ")}; versions held ${t.stats().versions}`,
  );
}
