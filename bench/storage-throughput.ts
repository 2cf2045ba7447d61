// FileStorage write+sync throughput: batches of N 256-byte entries, each batch written (with a
// hard state, as a Raft Ready carries one) and synced before the next, as a node persists one
// Ready per fsync. Reports batches/s (= fsyncs/s), entries/s, MiB/s and sync latency, next to a
// baseline: a bare loop of write + fdatasync of the same number of bytes on one file (the ceiling
// the disk allows). Run it on the disk a node would use: a tmpfs makes fsync free.
//
//   node --import tsx bench/storage-throughput.ts [seconds=5] [entriesPerBatch=1,16,256] [dir=tmpdir]

import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Entry } from "../src/raft/types.js";
import { FileStorage } from "../src/storage/file-storage.js";

const seconds = Number(process.argv[2] ?? 5);
const sizes = (process.argv[3] ?? "1,16,256").split(",").map(Number);
const parent = process.argv[4] ?? tmpdir();
const ENTRY_BYTES = 256;

/** Runs `step` repeatedly for `seconds`; returns each step's latency in ms, sorted. */
async function measure(step: () => Promise<void>): Promise<{ secs: number; latencies: number[] }> {
  const latencies: number[] = [];
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    const t0 = now;
    await step();
    now = process.hrtime.bigint();
    latencies.push(Number(now - t0) / 1e6);
  }
  return { secs: Number(now - start) / 1e9, latencies: latencies.sort((a, b) => a - b) };
}

function report(label: string, perBatch: number, r: { secs: number; latencies: number[] }): void {
  const n = r.latencies.length;
  const pct = (p: number) => (r.latencies[Math.min(n - 1, Math.floor(p * n))] ?? 0).toFixed(2);
  console.log(
    `${label} ${String(perBatch).padStart(4)} entries/batch: ` +
      `${(n / r.secs).toFixed(0).padStart(6)} batches/s ` +
      `${((n * perBatch) / r.secs).toFixed(0).padStart(8)} entries/s ` +
      `${((n * perBatch * ENTRY_BYTES) / r.secs / 2 ** 20).toFixed(1).padStart(6)} MiB/s  ` +
      `p50 ${pct(0.5)} ms p99 ${pct(0.99)} ms`,
  );
}

async function run(perBatch: number): Promise<void> {
  const dir = await mkdtemp(join(parent, "raftwork-bench-storage-"));
  try {
    const s = await FileStorage.open(dir);
    await s.load();
    const data = new Uint8Array(ENTRY_BYTES).fill(7);
    let next = 1;
    const fileStorage = await measure(async () => {
      const entries: Entry[] = [];
      for (let i = 0; i < perBatch; i++)
        entries.push({ index: next + i, term: 1, type: "normal", data });
      next += perBatch;
      s.write({ entries, hardState: { term: 1, vote: 1, commit: next - 1 } });
      await s.sync();
    });
    await s.close();
    report("FileStorage", perBatch, fileStorage);

    const fh = await open(join(dir, "raw"), "w");
    const chunk = Buffer.alloc(perBatch * (ENTRY_BYTES + 8) + 32, 7);
    let pos = 0;
    const raw = await measure(async () => {
      await fh.write(chunk, 0, chunk.length, pos);
      pos += chunk.length;
      await fh.datasync();
    });
    await fh.close();
    report("raw write  ", perBatch, raw);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`write+sync, ${ENTRY_BYTES}-byte entries, ${seconds}s per row, in ${parent}`);
for (const n of sizes) await run(n);
