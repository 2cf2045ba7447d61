// Mutual TLS between members: the shared transport suite passes over TLS, and a member without
// a certificate from the cluster's CA, or without TLS at all, is refused during the TLS
// handshake, both sides saying why, with nothing delivered.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createThrowawayCa } from "../../src/cli/tls-certs.js";
import type { Message, NodeId } from "../../src/raft/types.js";
import { TcpTransport, type TcpTransportOptions } from "../../src/transport/tcp-transport.js";
import type { PeerTls } from "../../src/transport/tls.js";
import { logged, recordingLogger, tcpHarness, waitFor } from "./harness.js";
import { runTransportSuite } from "./suite.js";

const LOOPBACK = "127.0.0.1";
const ca = createThrowawayCa("test CA");
const member = (name: string): PeerTls => ({
  ...ca.issue({ commonName: name, hosts: [LOOPBACK, "localhost"] }),
  ca: ca.pem.cert,
});
const tls = member("member");

runTransportSuite(
  "TcpTransport over mutual TLS",
  tcpHarness({ tls, maxFrameBytes: 256 * 1024, snapshotChunkBytes: 64 * 1024, queueLimit: 10_000 }),
);

function heartbeat(from: NodeId, to: NodeId): Message {
  return { type: "heartbeat", from, to, term: 1, commit: 0, ctx: 0 };
}

/** Node 1 dialing node 2, each with its own options; 2 must not receive anything. */
async function refusedPair(
  o1: Partial<TcpTransportOptions>,
  o2: Partial<TcpTransportOptions>,
  /** dialer null: it cannot know (a TLS listener hangs up on plaintext without a word). */
  expect: { dialer: RegExp | null; acceptor: RegExp },
): Promise<void> {
  const [log1, log2] = [recordingLogger(), recordingLogger()];
  const peers = new Map([
    [1, { host: LOOPBACK, port: 0 }],
    [2, { host: LOOPBACK, port: 0 }],
  ]);
  const base = { listen: { host: LOOPBACK, port: 0 }, peers, backoffMaxMs: 100 };
  const t2 = await TcpTransport.start({ id: 2, ...base, logger: log2, ...o2 });
  peers.set(2, t2.address());
  const t1 = await TcpTransport.start({ id: 1, ...base, logger: log1, ...o1 });
  try {
    const got: Message[] = [];
    t2.onMessage((m) => got.push(m));
    t1.send(heartbeat(1, 2));
    await waitFor(
      () =>
        (expect.dialer === null || logged(log1.records, "error", expect.dialer).length > 0) &&
        logged(log2.records, "error", expect.acceptor).length > 0,
      "both sides log the refusal",
    );
    // Redials go on (the operator may fix the certificates) but are logged once.
    const attempts = () => t1.stats().disconnects;
    const before = attempts();
    await waitFor(() => attempts() >= before + 3, "more attempts");
    assert.ok(logged(log1.records, "error", /./).length <= 2, "each side logs it once");
    assert.ok(logged(log2.records, "error", /./).length <= 2, "each side logs it once");
    assert.equal(t1.stats().connects, 0);
    assert.deepEqual(got, []);
  } finally {
    await Promise.all([t1.close(), t2.close()]);
  }
}

describe("TcpTransport: who TLS refuses", () => {
  it("a member whose certificate another CA signed", async () => {
    const other = createThrowawayCa("another CA");
    const stranger = { ...other.issue({ commonName: "x", hosts: [LOOPBACK] }), ca: other.pem.cert };
    await refusedPair(
      { tls: stranger },
      { tls },
      { dialer: /not signed by the trusted CA/, acceptor: /TLS handshake/ },
    );
  });

  it("a plaintext member dialing a TLS member, and a TLS member dialing a plaintext one", async () => {
    await refusedPair({}, { tls }, { dialer: null, acceptor: /does not speak TLS/ });
    await refusedPair(
      { tls },
      {},
      { dialer: /does not speak TLS/, acceptor: /speaks TLS and this node does not/ },
    );
  });
});

describe("TcpTransport.reloadTls", () => {
  it("new handshakes use the new certificates, both ways", async () => {
    const next = createThrowawayCa("the next CA");
    const renewed: PeerTls = {
      ...next.issue({ commonName: "member", hosts: [LOOPBACK, "localhost"] }),
      ca: next.pem.cert,
    };
    const peers = new Map([
      [1, { host: LOOPBACK, port: 0 }],
      [2, { host: LOOPBACK, port: 0 }],
    ]);
    const base = { listen: { host: LOOPBACK, port: 0 }, peers, backoffMaxMs: 100 };
    const log1 = recordingLogger();
    const t2 = await TcpTransport.start({ id: 2, ...base, tls });
    peers.set(2, t2.address());
    const t1 = await TcpTransport.start({ id: 1, ...base, tls, logger: log1 });
    try {
      // Node 2 moved to the next CA; node 1 has not yet: it is refused.
      t2.reloadTls(renewed);
      const got: Message[] = [];
      t2.onMessage((m) => got.push(m));
      t1.send(heartbeat(1, 2));
      await waitFor(
        () => logged(log1.records, "error", /not signed by the trusted CA/).length > 0,
        "node 1 refuses node 2's new certificate",
      );
      assert.deepEqual(got, []);
      t1.reloadTls(renewed);
      const send = setInterval(() => t1.send(heartbeat(1, 2)), 50);
      try {
        await waitFor(() => got.length > 0, "a heartbeat over the renewed certificates");
      } finally {
        clearInterval(send);
      }
    } finally {
      await Promise.all([t1.close(), t2.close()]);
    }
  });

  it("is refused for a transport started without TLS", async () => {
    const t = await TcpTransport.start({
      id: 1,
      listen: { host: LOOPBACK, port: 0 },
      peers: new Map([[1, { host: LOOPBACK, port: 0 }]]),
    });
    try {
      assert.throws(() => t.reloadTls(tls), /without TLS/);
    } finally {
      await t.close();
    }
  });
});
