// How fast a backup streams and what it holds in memory: a KvStateMachine of MIB MiB of values,
// backed up the way GET /v1/snapshot does (takeBackup: the chunks encoded and written to a
// file as they come) and, for comparison, the way the etcd API did before (snapshotAsync: the
// whole state in one buffer, then written). Peak is the largest RSS growth sampled during each.
//
//   flock /tmp/bench.lock node --import tsx bench/backup.ts [MIB=200] [DIR=/tmp]
import { createWriteStream, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { takeBackup } from "../src/kv/backup.js";
import { encodeCommand } from "../src/kv/commands.js";
import { KvStateMachine } from "../src/kv/state-machine.js";
import type { RaftService } from "../src/node/api.js";
import { simpleConf } from "../src/raft/types.js";

const mib = Number(process.argv[2] ?? 200);
const dir = process.argv[3] ?? "/tmp";
const sm = new KvStateMachine();
const value = Buffer.alloc(1024, "v");
const n = mib * 1024;
for (let i = 1; i <= n; i++) {
  const data = encodeCommand({ op: "put", key: `key-${i}`, value, ts: 1 });
  sm.apply({ index: i, term: 1, type: "normal", data });
}
const service = {
  appliedPoint: () => ({ index: n, term: 1, conf: simpleConf([1]) }),
} as unknown as RaftService;

async function measure(name: string, run: (file: string) => Promise<number>): Promise<void> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const file = join(dir, `raftwork-bench-${process.pid}.backup`);
  const started = performance.now();
  const bytes = await run(file);
  const ms = performance.now() - started;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  rmSync(file, { force: true });
  const mb = bytes / 1024 / 1024;
  console.log(
    `${name}: ${mb.toFixed(0)} MiB in ${(ms / 1000).toFixed(2)} s (${(mb / (ms / 1000)).toFixed(0)} MiB/s), peak RSS growth ${((peak - base) / 1024 / 1024).toFixed(0)} MiB`,
  );
}

console.log(`state: ${n} keys of 1 KiB`);
await measure("streamed backup (takeBackup)", async (file) => {
  const out = createWriteStream(file);
  let bytes = 0;
  for await (const chunk of takeBackup(service, sm, 1).chunks) {
    bytes += chunk.length;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  return bytes;
});
await measure("whole-buffer snapshot (snapshotAsync)", async (file) => {
  const data = (await sm.snapshotAsync()) as Uint8Array;
  await writeFile(file, data);
  return data.length;
});
