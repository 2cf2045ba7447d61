// TcpTransport over loopback, both transports in this one process (so one core encodes, writes,
// reads, decodes and validates):
//   1. throughput: AppendEntries with 256-byte entries from node 1 to node 2. A window of
//      in-flight messages keeps the sender ahead of the receiver without overflowing the queue,
//      like a leader's pipelined replication (maxInflight).
//   2. latency: sequential heartbeat -> heartbeat-resp round trips.
//
//   node --import tsx bench/transport-throughput.ts [seconds=5] [entriesPerMsg=1,16,64]

import type { Entry, Message, NodeId } from "../src/raft/types.js";
import { type HostPort, TcpTransport } from "../src/transport/tcp-transport.js";

const seconds = Number(process.argv[2] ?? 5);
const sizes = (process.argv[3] ?? "1,16,64").split(",").map(Number);
const ENTRY_BYTES = 256;
const WINDOW = 4096;
const ROUND_TRIPS = 20_000;

async function pair(): Promise<[TcpTransport, TcpTransport]> {
  const peers = new Map<NodeId, HostPort>([
    [1, { host: "127.0.0.1", port: 0 }],
    [2, { host: "127.0.0.1", port: 0 }],
  ]);
  const start = async (id: NodeId) => {
    const t = await TcpTransport.start({
      id,
      listen: { host: "127.0.0.1", port: 0 },
      peers,
      queueLimit: WINDOW * 2,
    });
    peers.set(id, t.address());
    return t;
  };
  return [await start(1), await start(2)];
}

async function throughput(perMsg: number): Promise<void> {
  const [t1, t2] = await pair();
  let received = 0;
  t2.onMessage(() => received++);
  const data = new Uint8Array(ENTRY_BYTES).fill(7);
  let sent = 0;
  const message = (): Message => {
    const prevIndex = sent * perMsg;
    const entries: Entry[] = [];
    for (let i = 0; i < perMsg; i++) {
      entries.push({ index: prevIndex + 1 + i, term: 1, type: "normal", data });
    }
    const prevTerm = prevIndex === 0 ? 0 : 1;
    return { type: "app", from: 1, to: 2, term: 1, prevIndex, prevTerm, entries, commit: 0 };
  };
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    // Top up the window, then yield so the sockets move bytes.
    while (sent - received < WINDOW) {
      t1.send(message());
      sent++;
    }
    await new Promise((r) => setImmediate(r));
  }
  const elapsed = (performance.now() - start) / 1000;
  const dropped = t1.stats().dropped;
  await Promise.all([t1.close(), t2.close()]);
  const msgs = received / elapsed;
  console.log(
    `entries/msg=${perMsg}: ${Math.round(msgs).toLocaleString("en-US")} msgs/s, ` +
      `${Math.round(msgs * perMsg).toLocaleString("en-US")} entries/s, ` +
      `${((msgs * perMsg * ENTRY_BYTES) / 2 ** 20).toFixed(1)} MiB/s of entry data ` +
      `(dropped ${dropped})`,
  );
}

async function latency(): Promise<void> {
  const [t1, t2] = await pair();
  t2.onMessage((m) => {
    if (m.type === "heartbeat")
      t2.send({ type: "heartbeat-resp", from: 2, to: 1, term: 1, ctx: m.ctx });
  });
  const samples: number[] = [];
  let sentAt = 0;
  await new Promise<void>((done) => {
    const ping = (ctx: number) => {
      sentAt = performance.now();
      t1.send({ type: "heartbeat", from: 1, to: 2, term: 1, commit: 0, ctx });
    };
    t1.onMessage((m) => {
      if (m.type !== "heartbeat-resp") return;
      samples.push(performance.now() - sentAt);
      if (m.ctx < ROUND_TRIPS) ping(m.ctx + 1);
      else done();
    });
    ping(0);
  });
  await Promise.all([t1.close(), t2.close()]);
  // The first round trips include connection setup.
  const sorted = samples.slice(100).sort((a, b) => a - b);
  const q = (p: number) => ((sorted[Math.floor(p * (sorted.length - 1))] ?? 0) * 1000).toFixed(0);
  console.log(`round trip (heartbeat + response): median ${q(0.5)} µs, p99 ${q(0.99)} µs`);
}

for (const n of sizes) await throughput(n);
await latency();
