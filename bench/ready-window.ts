// The Ready window (pipelined Readys, src/node/ready-driver.ts): throughput and latency of a
// three-node RaftNode cluster in one process, FileStorage on the real disk (fsync included),
// an in-process network, with `clients` proposers each keeping one 128-byte proposal in flight,
// for each window. Chooses DEFAULT_READY_WINDOW (docs/architecture.md, "Pipelined Readys").
//
//   flock /tmp/bench.lock node --import tsx bench/ready-window.ts [seconds=5] [clients=64] [windows=1,2,4] [dir=/tmp]
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { RaftNode } from "../src/node/raft-node.js";
import { RawNode } from "../src/raft/raw-node.js";
import type { NodeId } from "../src/raft/types.js";
import { FileStorage } from "../src/storage/file-storage.js";
import { ListMachine } from "../test/node/fakes.js";
import { LocalNetwork } from "../test/node/local-network.js";

const seconds = Number(process.argv[2] ?? 5);
const clients = Number(process.argv[3] ?? 64);
const windows = (process.argv[4] ?? "1,2,4").split(",").map(Number);
const base = process.argv[5] ?? "/tmp";
const IDS: NodeId[] = [1, 2, 3];

async function measure(window: number): Promise<void> {
  const dir = mkdtempSync(join(base, "raftwork-window-"));
  const net = new LocalNetwork();
  const storages = await Promise.all(IDS.map((id) => FileStorage.open(join(dir, `n${id}`))));
  const nodes = await Promise.all(
    IDS.map((id, i) =>
      RaftNode.start({
        id,
        peers: IDS,
        storage: storages[i] as FileStorage,
        transport: net.transport(id),
        stateMachine: new ListMachine(),
        createRawNode: (c) => new RawNode(c),
        electionTimeoutMs: 300,
        heartbeatMs: 50,
        readyWindow: window,
      }),
    ),
  );
  const leader = async (): Promise<RaftNode> => {
    for (;;) {
      const l = nodes.find((n) => n.status().role === "leader");
      if (l) return l;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const l = await leader();
  const payload = new Uint8Array(128);
  const latencies: number[] = [];
  let done = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await l.propose(payload);
        latencies.push(performance.now() - t);
        done++;
      }
    }),
  );
  for (const n of nodes) await n.stop();
  for (const s of storages) await s.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies[Math.floor(p * (latencies.length - 1))] ?? 0).toFixed(1);
  console.log(
    `window ${window}: ${(done / seconds).toFixed(0)} commits/s, p50 ${q(0.5)} ms, p99 ${q(0.99)} ms (${clients} clients, ${seconds} s)`,
  );
}

console.log(`node ${process.version}, FileStorage in ${base}`);
for (const w of windows) await measure(w);
