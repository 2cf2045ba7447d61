// The handshake as two real TcpTransports (or a transport and a stand-in) see it: cluster ids,
// wire versions, who answers at an address, and an answer that never comes.

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { describe, it } from "node:test";
import type { Message, NodeId } from "../../src/raft/types.js";
import { isClusterId, newClusterId } from "../../src/transport/cluster-id.js";
import { encodeFrames } from "../../src/transport/framing.js";
import { TcpTransport, type TcpTransportOptions } from "../../src/transport/tcp-transport.js";
import { handshakePayload, KIND_WELCOME, preamble } from "../../src/transport/wire.js";
import { type LogRecord, logged, recordingLogger, standInAcceptor, waitFor } from "./harness.js";

const LOOPBACK = "127.0.0.1";

function heartbeat(from: NodeId, to: NodeId, ctx = 0): Message {
  return { type: "heartbeat", from, to, term: 1, commit: 0, ctx };
}

/** One transport per entry of `opts` (id -> its options), all peers; closes them after `body`. */
async function withTransports(
  opts: Partial<TcpTransportOptions>[],
  body: (ts: TcpTransport[]) => Promise<void>,
): Promise<void> {
  const ids = opts.map((_, i) => i + 1);
  const peers = new Map(ids.map((id) => [id, { host: LOOPBACK, port: 0 }]));
  const ts: TcpTransport[] = [];
  try {
    for (const id of ids) {
      const o = opts[id - 1];
      const t = await TcpTransport.start({ id, listen: { host: LOOPBACK, port: 0 }, peers, ...o });
      ts.push(t);
      peers.set(id, t.address());
    }
    await body(ts);
  } finally {
    await Promise.all(ts.map((t) => t.close()));
  }
}

/** Two transports, 1 and 2, with per-node options. */
function pair(
  o1: Partial<TcpTransportOptions>,
  o2: Partial<TcpTransportOptions>,
  body: (t1: TcpTransport, t2: TcpTransport) => Promise<void>,
): Promise<void> {
  return withTransports([o1, o2], ([t1, t2]) => body(t1 as TcpTransport, t2 as TcpTransport));
}

/** Node 1 dialing a stand-in for node 2 that answers every connection with `answer`. */
async function dialStandIn(
  answer: Buffer,
  extra: Partial<TcpTransportOptions>,
  body: (t1: TcpTransport, stand: { sockets: Socket[] }, log: LogRecord[]) => Promise<void>,
): Promise<void> {
  const stand = await standInAcceptor(answer);
  const log = recordingLogger();
  const t1 = await TcpTransport.start({
    id: 1,
    listen: { host: LOOPBACK, port: 0 },
    peers: new Map([[2, { host: LOOPBACK, port: stand.port }]]),
    logger: log,
    ...extra,
  });
  try {
    t1.send(heartbeat(1, 2));
    await body(t1, stand, log.records);
  } finally {
    await t1.close();
    await stand.close();
  }
}

describe("cluster ids", () => {
  it("are canonical decimals in [2^60, 2^64), freshly drawn each time", () => {
    const drawn = new Set(Array.from({ length: 200 }, () => newClusterId()));
    assert.equal(drawn.size, 200);
    for (const id of drawn) assert.ok(isClusterId(id), id);
    for (const bad of [
      "",
      "0",
      "1152921504606846975",
      "18446744073709551616",
      "01152921504606846976",
      " 1152921504606846976",
      2 ** 61,
    ]) {
      assert.equal(isClusterId(bad), false, String(bad));
    }
    assert.ok(isClusterId("1152921504606846976")); // 2^60
    assert.ok(isClusterId("18446744073709551615")); // 2^64 - 1
  });
});

describe("TcpTransport handshake", () => {
  it("refuses a node of another cluster, says so on both sides, and delivers nothing", async () => {
    const [log1, log2] = [recordingLogger(), recordingLogger()];
    const [c1, c2] = [newClusterId(), newClusterId()];
    await pair(
      { clusterId: c1, logger: log1, backoffMaxMs: 100 },
      { clusterId: c2, logger: log2 },
      async (t1, t2) => {
        const got: Message[] = [];
        t2.onMessage((m) => got.push(m));
        t1.send(heartbeat(1, 2));
        await waitFor(
          () => t1.stats().refusedByPeer >= 1 && t2.stats().rejected.cluster >= 1,
          "the refusal on both sides",
        );
        const mentions = new RegExp(`cluster ${c1}.*cluster ${c2}`);
        assert.equal(logged(log2.records, "error", mentions).length >= 1, true, "refuser logs it");
        assert.equal(logged(log1.records, "error", mentions).length >= 1, true, "refused logs it");
        // It keeps retrying (an operator may fix the address), but each side logs it once.
        await waitFor(() => t1.stats().refusedByPeer >= 3, "retries");
        assert.equal(logged(log1.records, "error", /refused our handshake/).length, 1);
        assert.equal(logged(log2.records, "error", /closing connection/).length, 1);
        assert.deepEqual(got, []);
        assert.equal(t1.stats().connects, 0);
      },
    );
  });

  it("lets a node without a cluster id join, and adopt the id of the first peer it meets", async () => {
    const cluster = newClusterId();
    await pair({ clusterId: cluster }, {}, async (t1, t2) => {
      const adopted: string[] = [];
      t2.onClusterId((id) => adopted.push(id));
      const got: Message[] = [];
      t2.onMessage((m) => got.push(m));
      assert.equal(t2.clusterId(), undefined);
      t1.send(heartbeat(1, 2));
      await waitFor(() => got.length === 1, "delivery to the joining node");
      assert.deepEqual(adopted, [cluster]);
      assert.equal(t2.clusterId(), cluster);
      // From then on node 2 presents the id itself, and node 1 still accepts it.
      const back: Message[] = [];
      t1.onMessage((m) => back.push(m));
      t2.send(heartbeat(2, 1));
      await waitFor(() => back.length === 1, "delivery from the joined node");
    });
  });

  it("a node that adopted an id refuses another cluster's", async () => {
    const [a, b] = [newClusterId(), newClusterId()];
    await withTransports([{ clusterId: a }, {}, { clusterId: b }], async ([t1, t2, t3]) => {
      const [n1, n2, n3] = [t1, t2, t3] as [TcpTransport, TcpTransport, TcpTransport];
      const got: Message[] = [];
      n2.onMessage((m) => got.push(m));
      n1.send(heartbeat(1, 2));
      await waitFor(() => got.length === 1, "node 1's message");
      assert.equal(n2.clusterId(), a);
      n3.send(heartbeat(3, 2));
      await waitFor(() => n2.stats().rejected.cluster >= 1, "node 3 refused");
      assert.deepEqual(
        got.map((m) => m.from),
        [1],
      );
    });
  });

  it("refuses an acceptor of another wire version, naming both versions", async () => {
    await dialStandIn(preamble(3), {}, async (t1, _stand, log) => {
      await waitFor(() => t1.stats().rejected.version >= 1, "the version refusal");
      assert.equal(logged(log, "error", /wire version 3; this node speaks 2/).length, 1);
      assert.equal(t1.stats().connects, 0);
      assert.equal(t1.stats().sent, 0, "nothing was sent to it");
    });
  });

  it("refuses a node answering at another node's address", async () => {
    const welcome3 = Buffer.concat([
      preamble(),
      encodeFrames([handshakePayload(KIND_WELCOME, { id: 3 })]),
    ]);
    await dialStandIn(welcome3, {}, async (t1, _stand, log) => {
      await waitFor(() => t1.stats().rejected["unknown-peer"] >= 1, "the refusal");
      assert.equal(logged(log, "error", /node 3 answered at node 2's address/).length, 1);
      assert.equal(t1.stats().sent, 0);
    });
  });

  it("abandons an attempt whose handshake is never answered, and keeps trying", async () => {
    // Accepts (the TCP connect succeeds) but never says a word: a black hole behind a proxy.
    const timing = { connectTimeoutMs: 50, backoffInitialMs: 10, backoffMaxMs: 20 };
    await dialStandIn(Buffer.alloc(0), timing, async (t1, stand) => {
      await waitFor(() => t1.stats().connectTimeouts >= 3, "three abandoned attempts");
      assert.ok(stand.sockets.length >= 3, `${stand.sockets.length} connections seen`);
      assert.equal(t1.stats().connects, 0);
    });
  });

  it("logs nothing above debug for a healthy exchange", async () => {
    const records: LogRecord[] = [];
    const cluster = newClusterId();
    await pair(
      { clusterId: cluster, logger: recordingLogger(records) },
      { clusterId: cluster, logger: recordingLogger(records) },
      async (t1, t2) => {
        const got: Message[] = [];
        t2.onMessage((m) => got.push(m));
        t1.send(heartbeat(1, 2));
        await waitFor(() => got.length === 1, "delivery");
      },
    );
    assert.deepEqual(
      records.filter((r) => r.level !== "debug"),
      [],
    );
  });
});
