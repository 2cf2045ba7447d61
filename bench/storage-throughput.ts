// FileStorage write+sync throughput: batches of N 256-byte entries, each batch written (with a
// hard state, as a Raft Ready carries one) and synced before the next, as a node persists one
// Ready per fsync. Reports batches/s (= fsyncs/s), entries/s, MiB/s and sync latency. Run it on
// the disk a node would use: the default temp directory may be a tmpfs where fsync is free.
//
//   node --import tsx bench/storage-throughput.ts [seconds=5] [entriesPerBatch=1,16,256] [dir=tmpdir]

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Entry } from "../src/raft/types.js";
import { FileStorage } from "../src/storage/file-storage.js";

const seconds = Number(process.argv[2] ?? 5);
const sizes = (process.argv[3] ?? "1,16,256").split(",").map(Number);
const parent = process.argv[4] ?? tmpdir();
const ENTRY_BYTES = 256;

async function run(perBatch: number): Promise<void> {
  const dir = await mkdtemp(join(parent, "raftwork-bench-storage-"));
  try {
    const s = await FileStorage.open(dir);
    await s.load();
    const data = new Uint8Array(ENTRY_BYTES).fill(7);
    const latencies: number[] = [];
    let next = 1;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(seconds * 1e9));
    let now = start;
    while (now < deadline) {
      const entries: Entry[] = [];
      for (let i = 0; i < perBatch; i++)
        entries.push({ index: next + i, term: 1, type: "normal", data });
      next += perBatch;
      const t0 = process.hrtime.bigint();
      s.write({ entries, hardState: { term: 1, vote: 1, commit: next - 1 } });
      await s.sync();
      now = process.hrtime.bigint();
      latencies.push(Number(now - t0) / 1e6);
    }
    await s.close();
    const secs = Number(now - start) / 1e9;
    const batches = latencies.length;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) =>
      (latencies[Math.min(batches - 1, Math.floor(p * batches))] ?? 0).toFixed(2);
    console.log(
      `${String(perBatch).padStart(4)} entries/batch: ${(batches / secs).toFixed(0).padStart(6)} batches/s ` +
        `${((batches * perBatch) / secs).toFixed(0).padStart(8)} entries/s ` +
        `${((batches * perBatch * ENTRY_BYTES) / secs / 2 ** 20).toFixed(1).padStart(6)} MiB/s  ` +
        `write+sync p50 ${pct(0.5)} ms p99 ${pct(0.99)} ms`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`FileStorage write+sync, ${ENTRY_BYTES}-byte entries, ${seconds}s each, in ${parent}`);
for (const n of sizes) await run(n);
