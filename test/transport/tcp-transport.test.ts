import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Message, type NodeId, simpleConf } from "../../src/raft/types.js";
import { encodeMessage, encodeValue } from "../../src/transport/codec.js";
import { encodeFrames, type Payload } from "../../src/transport/framing.js";
import type { RejectReason } from "../../src/transport/instrumentation.js";
import { TcpTransport } from "../../src/transport/tcp-transport.js";
import {
  chunkPayloads,
  helloPayload,
  KIND_CHUNK,
  KIND_HELLO,
  msgPayload,
} from "../../src/transport/wire.js";
import { startTcpCluster, waitFor } from "./harness.js";
import { pattern } from "./suite.js";

const LOOPBACK = "127.0.0.1";

function heartbeat(from: NodeId, to: NodeId, ctx = 0): Message {
  return { type: "heartbeat", from, to, term: 1, commit: 0, ctx };
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, LOOPBACK, r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Connects to `port`, writes `bytes`, and resolves once the other side closed the socket. */
async function rawSession(port: number, bytes: Buffer, deadlineMs = 20_000): Promise<void> {
  const s = connect({ host: LOOPBACK, port });
  s.on("error", () => {}); // a reset is one way of being closed
  await once(s, "connect");
  s.write(bytes);
  const timer = setTimeout(
    () => s.destroy(new Error("peer never closed the connection")),
    deadlineMs,
  );
  // Not events.once(): it would reject on the "error" of a reset, which is a close too.
  await new Promise((resolve) => s.once("close", resolve));
  clearTimeout(timer);
  if (s.errored?.message === "peer never closed the connection") throw s.errored;
}

function frames(...payloads: Payload[]): Buffer {
  return encodeFrames(payloads);
}

const hello1 = helloPayload({ id: 1, hello: {} });

describe("TcpTransport", () => {
  it("learns a peer's hello metadata from that peer's inbound connection", async () => {
    const { transports } = await startTcpCluster([1, 2], { hello: { http: "127.0.0.1:8001" } });
    try {
      const [t1, t2] = [transports.get(1), transports.get(2)] as [TcpTransport, TcpTransport];
      const seen: [NodeId, Record<string, string>][] = [];
      t2.onHello((id, h) => seen.push([id, { ...h }]));
      assert.equal(t2.peerHello(1), undefined);
      t1.send(heartbeat(1, 2));
      await waitFor(() => seen.length === 1, "hello from node 1");
      assert.deepStrictEqual(seen, [[1, { http: "127.0.0.1:8001" }]]);
      assert.deepStrictEqual(t2.peerHello(1), { http: "127.0.0.1:8001" });
      assert.equal(t1.peerHello(2), undefined, "node 2 has not dialed node 1");
    } finally {
      await Promise.all([...transports.values()].map((t) => t.close()));
    }
  });

  it("reconnects after the peer restarts on the same port", async () => {
    const { transports, peers } = await startTcpCluster([1, 2], { backoffMaxMs: 200 });
    const t1 = transports.get(1) as TcpTransport;
    let t2 = transports.get(2) as TcpTransport;
    try {
      const first: Message[] = [];
      t2.onMessage((m) => first.push(m));
      t1.send(heartbeat(1, 2, 1));
      await waitFor(() => first.length === 1, "first delivery");
      await t2.close();
      // Node 1 keeps sending (as Raft would) while node 2 is down and after it is back.
      const resend = setInterval(() => t1.send(heartbeat(1, 2, 2)), 20);
      try {
        await waitFor(() => t1.stats().disconnects >= 1, "node 1 noticed the restart");
        t2 = await TcpTransport.start({
          id: 2,
          listen: peers.get(2) as { host: string; port: number },
          peers,
        });
        const second: Message[] = [];
        t2.onMessage((m) => second.push(m));
        await waitFor(() => second.length > 0, "delivery to the restarted node");
        assert.deepStrictEqual(second[0], heartbeat(1, 2, 2));
      } finally {
        clearInterval(resend);
      }
      assert.ok(t1.stats().connects >= 2, `connects=${t1.stats().connects}`);
    } finally {
      await Promise.all([t1.close(), t2.close()]);
    }
  });

  it("drops on a full queue while the peer is unreachable, without blocking or throwing", async () => {
    const port = await deadPort();
    const peers = new Map([[2, { host: LOOPBACK, port }]]);
    const t1 = await TcpTransport.start({
      id: 1,
      listen: { host: LOOPBACK, port: 0 },
      peers,
      queueLimit: 10,
    });
    try {
      for (let i = 0; i < 1000; i++) t1.send(heartbeat(1, 2, i));
      t1.send(heartbeat(1, 3)); // unknown peer
      t1.send(heartbeat(3, 2)); // not from this node
      const s = t1.stats();
      assert.equal(s.dropped, 992);
      assert.equal(s.sent, 0);
      await waitFor(() => t1.stats().disconnects >= 1, "the dial failed");
    } finally {
      await t1.close();
    }
  });

  it("drops instead of buffering without bound when the peer stops reading", async () => {
    const stalled: Socket[] = [];
    const server: Server = createServer((s) => {
      s.pause();
      stalled.push(s);
    });
    await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
    const port = (server.address() as { port: number }).port;
    const t1 = await TcpTransport.start({
      id: 1,
      listen: { host: LOOPBACK, port: 0 },
      peers: new Map([[2, { host: LOOPBACK, port }]]),
      queueLimit: 50,
    });
    try {
      const data = pattern(64 * 1024, 1);
      const big = (i: number): Message => ({
        type: "app",
        from: 1,
        to: 2,
        term: 1,
        prevIndex: i,
        prevTerm: 1,
        entries: [{ index: i + 1, term: 1, type: "normal", data }],
        commit: 0,
      });
      // 64 MiB offered over 32 turns: far more than the kernel's socket buffers hold.
      let offered = 0;
      for (let turn = 0; turn < 32; turn++) {
        for (let i = 0; i < 32; i++) t1.send(big(offered++));
        await new Promise((r) => setImmediate(r));
      }
      const s = t1.stats();
      assert.ok(s.dropped > 0, `dropped=${s.dropped}`);
      assert.ok(s.sent + s.dropped <= offered);
      assert.ok(offered - s.sent - s.dropped <= 50, "at most queueLimit messages wait");
    } finally {
      await t1.close();
      for (const s of stalled) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("rejects a snapshot chunk stream that never started, and drops a partial one on close", async () => {
    const { transports, peers } = await startTcpCluster([1, 2]);
    const t2 = transports.get(2) as TcpTransport;
    try {
      const got: Message[] = [];
      t2.onMessage((m) => got.push(m));
      const snap: Message = {
        type: "snap",
        from: 1,
        to: 2,
        term: 2,
        snapshot: {
          metadata: { index: 9, term: 2, conf: simpleConf([1, 2]) },
          data: pattern(5000, 2),
        },
      };
      const chunks = chunkPayloads(encodeMessage(snap), 1000);
      const port = peers.get(2)?.port as number;
      // First half, then the connection ends: nothing may be delivered.
      const s = connect({ host: LOOPBACK, port });
      await once(s, "connect");
      s.end(frames(hello1, ...chunks.slice(0, 3)));
      await once(s, "close");
      // The whole snapshot on a new connection arrives exactly once, intact.
      const full = connect({ host: LOOPBACK, port });
      await once(full, "connect");
      full.write(frames(hello1, ...chunks));
      await waitFor(() => got.length === 1, "snapshot delivered");
      full.destroy();
      assert.deepStrictEqual(got, [snap]);
      assert.equal(t2.stats().rejected["bad-chunk"], 0);
    } finally {
      await Promise.all([...transports.values()].map((t) => t.close()));
    }
  });

  it("refuses to start on an address in use", async () => {
    const { transports, peers } = await startTcpCluster([1]);
    try {
      await assert.rejects(
        TcpTransport.start({
          id: 2,
          listen: peers.get(1) as { host: string; port: number },
          peers,
        }),
        /EADDRINUSE/,
      );
    } finally {
      await (transports.get(1) as TcpTransport).close();
    }
  });

  it("does not buffer a large frame from a connection that has not shaken hands", async () => {
    const { transports, peers } = await startTcpCluster([1, 2]); // default 16 MiB frames
    const t2 = transports.get(2) as TcpTransport;
    try {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(8 * 1024 * 1024);
      // Declares 8 MiB (allowed after a handshake) but is cut off at 512 KiB of it.
      await rawSession(
        peers.get(2)?.port as number,
        Buffer.concat([header, Buffer.alloc(512 * 1024)]),
      );
      assert.equal(t2.stats().rejected.handshake, 1);
    } finally {
      await Promise.all([...transports.values()].map((t) => t.close()));
    }
  });

  it("rejects impossible settings at start", async () => {
    const listen = { host: LOOPBACK, port: 0 };
    const peers = new Map([[2, { host: LOOPBACK, port: 70_000 }]]);
    await assert.rejects(TcpTransport.start({ id: 1, listen, peers }), /port|65535/);
    await assert.rejects(TcpTransport.start({ id: 0, listen, peers: new Map() }), /id must be/);
    await assert.rejects(
      TcpTransport.start({ id: 1, listen, peers: new Map(), maxFrameBytes: 10 }),
      /maxFrameBytes must be/,
    );
  });

  describe("closes a misbehaving inbound connection and keeps serving the others", () => {
    const MAX = 4096;
    let transports: Map<NodeId, TcpTransport>;
    let port: number;
    before(async () => {
      ({ transports } = await startTcpCluster([1, 2, 3], {
        maxFrameBytes: MAX,
        handshakeTimeoutMs: 1000,
      }));
      port = (transports.get(2) as TcpTransport).address().port;
    });
    after(async () => {
      await Promise.all([...transports.values()].map((t) => t.close()));
    });

    const oversizedHeader = Buffer.alloc(4);
    oversizedHeader.writeUInt32BE(MAX + 1);
    const msg = (m: unknown): Payload => msgPayload(encodeValue(m));
    const cases: [string, Buffer, RejectReason][] = [
      [
        "garbage bytes (an HTTP request)",
        Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        "oversized",
      ],
      [
        "a garbage frame instead of a handshake",
        frames(Uint8Array.of(0xff, 0xfe, 0xfd)),
        "handshake",
      ],
      ["an empty frame instead of a handshake", frames(new Uint8Array(0)), "handshake"],
      [
        "an oversized frame after the handshake",
        Buffer.concat([frames(hello1), oversizedHeader]),
        "oversized",
      ],
      [
        "a handshake with a wrong version",
        frames([Uint8Array.of(KIND_HELLO), encodeValue({ v: 2, id: 1, hello: {} })]),
        "handshake",
      ],
      ["a handshake that is not msgpack", frames(Uint8Array.of(KIND_HELLO, 0xc1)), "handshake"],
      [
        "a handshake from a node that is not a peer",
        frames(helloPayload({ id: 99, hello: {} })),
        "unknown-peer",
      ],
      [
        "a handshake claiming to be this node",
        frames(helloPayload({ id: 2, hello: {} })),
        "unknown-peer",
      ],
      ["a second handshake", frames(hello1, hello1), "malformed"],
      ["a message addressed to another node", frames(hello1, msg(heartbeat(1, 3))), "wrong-to"],
      [
        "a message whose sender is not the handshake's",
        frames(hello1, msg(heartbeat(3, 2))),
        "wrong-from",
      ],
      [
        "an invalid message",
        frames(hello1, msg({ ...heartbeat(1, 2), ctx: -1 })),
        "invalid-message",
      ],
      [
        "a snapshot chunk out of sequence",
        frames(hello1, [Uint8Array.of(KIND_CHUNK), Buffer.alloc(12, 1), Uint8Array.of(1)]),
        "bad-chunk",
      ],
      ["no handshake at all", Buffer.alloc(0), "handshake"],
    ];

    it("delivers a well-formed raw session (control: the raw client itself works)", async () => {
      const t2 = transports.get(2) as TcpTransport;
      const got: Message[] = [];
      t2.onMessage((m) => got.push(m));
      const s = connect({ host: LOOPBACK, port });
      await once(s, "connect");
      s.write(frames(hello1, msg(heartbeat(1, 2, 77))));
      await waitFor(() => got.length === 1, "raw heartbeat delivered");
      s.destroy();
      assert.deepStrictEqual(got, [heartbeat(1, 2, 77)]);
    });

    let ctx = 1000;
    for (const [name, bytes, reason] of cases) {
      it(`${name} => ${reason}`, async () => {
        const t1 = transports.get(1) as TcpTransport;
        const t2 = transports.get(2) as TcpTransport;
        const before = t2.stats().rejected[reason];
        await rawSession(port, bytes);
        assert.equal(t2.stats().rejected[reason], before + 1);
        // The node still serves its real peer.
        const want = ++ctx;
        const got: number[] = [];
        t2.onMessage((m) => {
          if (m.type === "heartbeat") got.push(m.ctx);
        });
        t1.send(heartbeat(1, 2, want));
        await waitFor(() => got.includes(want), "node 1's message after the rejection");
      });
    }
  });
});
