// TcpTransport throughput: AppendEntries with 256-byte entries from node 1 to node 2 over
// loopback, both transports in this one process (so one core does encode, write, read, decode
// and validate). A window of in-flight messages keeps the sender ahead of the receiver without
// overflowing the queue, like a leader's pipelined replication (maxInflight).
//
//   node --import tsx bench/transport-throughput.ts [seconds=5] [entriesPerMsg=1,16,64]

import type { Entry, Message } from "../src/raft/types.js";
import { TcpTransport } from "../src/transport/tcp-transport.js";

const seconds = Number(process.argv[2] ?? 5);
const sizes = (process.argv[3] ?? "1,16,64").split(",").map(Number);
const ENTRY_BYTES = 256;
const WINDOW = 4096;

async function run(perMsg: number): Promise<void> {
  const peers = new Map([
    [1, { host: "127.0.0.1", port: 0 }],
    [2, { host: "127.0.0.1", port: 0 }],
  ]);
  const t1 = await TcpTransport.start({
    id: 1,
    listen: peers.get(1) ?? { host: "", port: 0 },
    peers,
    queueLimit: WINDOW * 2,
  });
  peers.set(1, t1.address());
  const t2 = await TcpTransport.start({
    id: 2,
    listen: peers.get(2) ?? { host: "", port: 0 },
    peers,
    queueLimit: WINDOW * 2,
  });
  peers.set(2, t2.address());
  let received = 0;
  t2.onMessage(() => received++);

  const data = new Uint8Array(ENTRY_BYTES).fill(7);
  let sent = 0;
  const message = (): Message => {
    const prevIndex = sent * perMsg;
    const entries: Entry[] = [];
    for (let i = 0; i < perMsg; i++)
      entries.push({ index: prevIndex + 1 + i, term: 1, type: "normal", data });
    return {
      type: "app",
      from: 1,
      to: 2,
      term: 1,
      prevIndex,
      prevTerm: prevIndex === 0 ? 0 : 1,
      entries,
      commit: 0,
    };
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
  const stats = t1.stats();
  await Promise.all([t1.close(), t2.close()]);
  const msgs = received / elapsed;
  console.log(
    `entries/msg=${perMsg}: ${Math.round(msgs).toLocaleString("en-US")} msgs/s, ` +
      `${Math.round(msgs * perMsg).toLocaleString("en-US")} entries/s, ` +
      `${((msgs * perMsg * ENTRY_BYTES) / 2 ** 20).toFixed(1)} MiB/s of entry data ` +
      `(dropped ${stats.dropped})`,
  );
}

for (const n of sizes) await run(n);
