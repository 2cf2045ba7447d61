import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Message, type NodeId, simpleConf } from "../../src/raft/types.js";
import { newClusterId } from "../../src/transport/cluster-id.js";
import { encodeMessage, encodeValue } from "../../src/transport/codec.js";
import {
  encodeFrame,
  encodeFrames,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  type Payload,
} from "../../src/transport/framing.js";
import type { RejectReason } from "../../src/transport/instrumentation.js";
import { TcpTransport } from "../../src/transport/tcp-transport.js";
import {
  type CloseNotice,
  chunkPayloads,
  handshakePayload,
  KIND_CHUNK,
  KIND_CLOSE,
  KIND_HELLO,
  KIND_WELCOME,
  msgPayload,
  PREAMBLE_BYTES,
  parseClose,
  parsePreamble,
  preamble,
} from "../../src/transport/wire.js";
import { freePort, standInAcceptor, startTcpCluster, waitFor } from "./harness.js";
import { pattern } from "./suite.js";

const LOOPBACK = "127.0.0.1";

function heartbeat(from: NodeId, to: NodeId, ctx = 0): Message {
  return { type: "heartbeat", from, to, term: 1, commit: 0, ctx };
}

/** What the node sent back on a raw session: its preamble's verdict and its CLOSE, if any. */
interface RawOutcome {
  preamble: ReturnType<typeof parsePreamble> | null;
  close: CloseNotice | null;
}

/** Connects to `port`, writes `bytes`, and resolves once the other side closed the socket. */
async function rawSession(port: number, bytes: Buffer, deadlineMs = 20_000): Promise<RawOutcome> {
  const s = connect({ host: LOOPBACK, port });
  s.on("error", () => {}); // a reset is one way of being closed
  const received: Buffer[] = [];
  s.on("data", (chunk: Buffer) => received.push(chunk));
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
  return outcome(Buffer.concat(received));
}

function outcome(b: Buffer): RawOutcome {
  if (b.byteLength < PREAMBLE_BYTES) return { preamble: null, close: null };
  const r = new FrameDecoder(1 << 20).push(b.subarray(PREAMBLE_BYTES));
  const last = r.ok ? r.frames.at(-1) : undefined;
  const close = last?.[0] === KIND_CLOSE ? parseClose(last.subarray(1)) : null;
  return {
    preamble: parsePreamble(b.subarray(0, PREAMBLE_BYTES)),
    close: close?.ok ? close.value : null,
  };
}

function frames(...payloads: Payload[]): Buffer {
  return encodeFrames(payloads);
}

/** What a dialer sends first: its preamble and its handshake. */
function opening(id: NodeId, cluster?: string): Buffer {
  const h = cluster === undefined ? { id } : { id, cluster };
  return Buffer.concat([preamble(), frames(handshakePayload(KIND_HELLO, h))]);
}

function welcomeFrom(id: NodeId): Buffer {
  return Buffer.concat([preamble(), frames(handshakePayload(KIND_WELCOME, { id }))]);
}

describe("TcpTransport", () => {
  it("learns what a peer advertises from either direction's handshake", async () => {
    const { transports } = await startTcpCluster([1, 2], {
      hello: { http: "127.0.0.1:8001", grpc: "127.0.0.1:9001", secret: "A".repeat(43) },
    });
    try {
      const [t1, t2] = [transports.get(1), transports.get(2)] as [TcpTransport, TcpTransport];
      const seen: [NodeId, NodeId, object][] = [];
      t1.onHello((id, h) => seen.push([1, id, { ...h }]));
      t2.onHello((id, h) => seen.push([2, id, { ...h }]));
      assert.equal(t2.peerHello(1), undefined);
      t1.send(heartbeat(1, 2));
      await waitFor(() => seen.length === 2, "hello and welcome");
      const advertised = { http: "127.0.0.1:8001", grpc: "127.0.0.1:9001", secret: "A".repeat(43) };
      // Node 2 learns from node 1's HELLO, node 1 from node 2's WELCOME.
      assert.deepStrictEqual(
        seen.sort((a, b) => a[0] - b[0]),
        [
          [1, 2, advertised],
          [2, 1, advertised],
        ],
      );
      assert.deepStrictEqual(t2.peerHello(1), advertised);
      assert.deepStrictEqual(t1.peerHello(2), advertised);
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
    const port = await freePort();
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
    // Shakes hands, then never reads again.
    const stand = await standInAcceptor(welcomeFrom(2), (s) => s.pause());
    const port = stand.port;
    const t1 = await TcpTransport.start({
      id: 1,
      listen: { host: LOOPBACK, port: 0 },
      peers: new Map([[2, { host: LOOPBACK, port }]]),
      queueLimit: 50,
      // The stand-in sends no keepalives: keep the connection however quiet it is.
      pingIntervalMs: 10_000,
      livenessTimeoutMs: 60_000,
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
      t1.send(big(0));
      await waitFor(() => t1.stats().connects === 1, "handshake answered");
      // 64 MiB offered over 32 turns: far more than the kernel's socket buffers hold.
      let offered = 1;
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
      await stand.close();
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
      s.on("data", () => {});
      s.end(Buffer.concat([opening(1), frames(...chunks.slice(0, 3))]));
      await once(s, "close");
      // The whole snapshot on a new connection arrives exactly once, intact.
      const full = connect({ host: LOOPBACK, port });
      await once(full, "connect");
      full.on("data", () => {});
      full.write(Buffer.concat([opening(1), frames(...chunks)]));
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
      const header = encodeFrame(Buffer.alloc(8 * 1024 * 1024)).subarray(0, FRAME_HEADER_BYTES);
      // Declares 8 MiB (allowed after a handshake) but is cut off at 512 KiB of it.
      await rawSession(
        peers.get(2)?.port as number,
        Buffer.concat([preamble(), header, Buffer.alloc(512 * 1024)]),
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
    await assert.rejects(
      TcpTransport.start({ id: 1, listen, peers: new Map(), clusterId: "42" }),
      /clusterId must be/,
    );
    await assert.rejects(
      TcpTransport.start({ id: 1, listen, peers: new Map(), hello: { http: "nowhere" } }),
      /http: expected HOST:PORT/,
    );
    await assert.rejects(
      TcpTransport.start({
        id: 1,
        listen,
        peers: new Map(),
        pingIntervalMs: 100,
        livenessTimeoutMs: 150,
      }),
      /livenessTimeoutMs must be/,
    );
  });

  describe("closes a misbehaving inbound connection and keeps serving the others", () => {
    const MAX = 4096;
    const CLUSTER = newClusterId();
    let transports: Map<NodeId, TcpTransport>;
    let port: number;
    before(async () => {
      ({ transports } = await startTcpCluster([1, 2, 3], {
        maxFrameBytes: MAX,
        handshakeTimeoutMs: 1000,
        clusterId: CLUSTER,
      }));
      port = (transports.get(2) as TcpTransport).address().port;
    });
    after(async () => {
      await Promise.all([...transports.values()].map((t) => t.close()));
    });

    const P = preamble();
    const hello1 = opening(1, CLUSTER);
    const msg = (m: unknown): Payload => msgPayload(encodeValue(m));
    const corrupted = Buffer.from(frames(msgPayload(encodeMessage(heartbeat(1, 2)))));
    corrupted[FRAME_HEADER_BYTES + 3] = (corrupted[FRAME_HEADER_BYTES + 3] as number) ^ 0x10;
    const cases: [string, Buffer, RejectReason][] = [
      [
        "garbage bytes (an HTTP request)",
        Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        "version",
      ],
      ["a preamble of another wire version", Buffer.concat([preamble(3), hello1]), "version"],
      ["garbage after the preamble", Buffer.concat([P, Buffer.alloc(16, 0xfd)]), "checksum"],
      [
        "an empty frame instead of a handshake",
        Buffer.concat([P, frames(new Uint8Array(0))]),
        "handshake",
      ],
      [
        "an oversized frame after the handshake",
        Buffer.concat([hello1, encodeFrame(Buffer.alloc(MAX + 1)).subarray(0, FRAME_HEADER_BYTES)]),
        "oversized",
      ],
      [
        "a handshake that is not msgpack",
        Buffer.concat([P, frames(Uint8Array.of(KIND_HELLO, 0xc1))]),
        "handshake",
      ],
      ["a handshake from a node that is not a peer", opening(99, CLUSTER), "unknown-peer"],
      ["a handshake claiming to be this node", opening(2, CLUSTER), "unknown-peer"],
      ["a handshake from another cluster", opening(1, newClusterId()), "cluster"],
      [
        "a second handshake",
        Buffer.concat([hello1, frames(handshakePayload(KIND_HELLO, { id: 1 }))]),
        "malformed",
      ],
      [
        "a message addressed to another node",
        Buffer.concat([hello1, frames(msg(heartbeat(1, 3)))]),
        "wrong-to",
      ],
      [
        "a message whose sender is not the handshake's",
        Buffer.concat([hello1, frames(msg(heartbeat(3, 2)))]),
        "wrong-from",
      ],
      [
        "an invalid message",
        Buffer.concat([hello1, frames(msg({ ...heartbeat(1, 2), ctx: -1 }))]),
        "invalid-message",
      ],
      ["a message frame with a flipped bit", Buffer.concat([hello1, corrupted]), "checksum"],
      [
        "a snapshot chunk out of sequence",
        Buffer.concat([
          hello1,
          frames([Uint8Array.of(KIND_CHUNK), Buffer.alloc(12, 1), Uint8Array.of(1)]),
        ]),
        "bad-chunk",
      ],
      ["a preamble and then nothing", P, "handshake"],
      ["no bytes at all", Buffer.alloc(0), "handshake"],
    ];

    it("delivers a well-formed raw session (control: the raw client itself works)", async () => {
      const t2 = transports.get(2) as TcpTransport;
      const got: Message[] = [];
      t2.onMessage((m) => got.push(m));
      const s = connect({ host: LOOPBACK, port });
      await once(s, "connect");
      s.on("data", () => {});
      s.write(Buffer.concat([hello1, frames(msg(heartbeat(1, 2, 77)))]));
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
        const seen = await rawSession(port, bytes);
        assert.equal(t2.stats().rejected[reason], before + 1);
        // The node says why in a CLOSE, except to a peer whose framing it cannot trust to match.
        assert.ok(seen.preamble?.ok, "the node sent its preamble");
        assert.equal(seen.close?.code ?? null, reason === "version" ? null : reason);
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
