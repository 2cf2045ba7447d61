// TcpTransport.setPeers with real sockets: a learner joining before or after the members know
// it, re-addressing a peer, and what a removal does to the links (the shared suite checks
// delivery after removal on both adapters).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message, NodeId } from "../../src/raft/types.js";
import { TcpTransport } from "../../src/transport/tcp-transport.js";
import type { HostPort } from "../../src/util/host-port.js";
import { BlackholeProxy } from "../support/blackhole-proxy.js";
import {
  FAST_LINKS,
  freePort,
  logged,
  recordingLogger,
  startTcpCluster,
  waitFor,
} from "./harness.js";
import { recordLost } from "./suite.js";

const LOOPBACK = "127.0.0.1";

function note(from: NodeId, to: NodeId, ctx: number): Message {
  return { type: "heartbeat-resp", from, to, term: 1, ctx };
}

function ctxsFrom(got: Message[], from: NodeId): number[] {
  return got.flatMap((m) => (m.type === "heartbeat-resp" && m.from === from ? [m.ctx] : []));
}

describe("TcpTransport.setPeers", () => {
  it("a learner that dials before it is added is refused, then connects once added", async () => {
    const log = recordingLogger();
    const { transports, peers } = await startTcpCluster([1, 2], { ...FAST_LINKS, logger: log });
    const t1 = transports.get(1) as TcpTransport;
    const learnerPeers = new Map<NodeId, HostPort>([...peers, [3, { host: LOOPBACK, port: 0 }]]);
    const t3 = await TcpTransport.start({
      id: 3,
      listen: { host: LOOPBACK, port: 0 },
      peers: learnerPeers,
      ...FAST_LINKS,
    });
    try {
      const got: Message[] = [];
      t1.onMessage((m) => got.push(m));
      t3.send(note(3, 1, 1));
      await waitFor(
        () => t1.stats().rejected["unknown-peer"] >= 2 && t3.stats().refusedByPeer >= 2,
        "refused while unknown, and retried",
      );
      assert.deepEqual(got, []);
      // Routine during a join: not an error on the member's side.
      assert.equal(logged(log.records, "error", /not a peer/).length, 0);
      assert.equal(logged(log.records, "info", /node 3 is not a peer of node 1/).length, 1);
      t1.setPeers(new Map([...peers, [3, t3.address()]]));
      await waitFor(() => ctxsFrom(got, 3).includes(1), "the learner's message, once added");
    } finally {
      await Promise.all([...transports.values(), t3].map((t) => t.close()));
    }
  });

  it("a member added before it starts is dialed until it is up", async () => {
    const { transports, peers } = await startTcpCluster([1, 2], FAST_LINKS);
    const t1 = transports.get(1) as TcpTransport;
    const port = await freePort();
    let t3: TcpTransport | null = null;
    try {
      t1.setPeers(new Map([...peers, [3, { host: LOOPBACK, port }]]));
      t1.send(note(1, 3, 7));
      await waitFor(() => t1.stats().disconnects >= 2, "dials to the absent member failed");
      t3 = await TcpTransport.start({
        id: 3,
        listen: { host: LOOPBACK, port },
        peers: new Map([
          [1, peers.get(1) as HostPort],
          [3, { host: LOOPBACK, port }],
        ]),
      });
      const got: Message[] = [];
      t3.onMessage((m) => got.push(m));
      await waitFor(() => ctxsFrom(got, 1).includes(7), "the queued message, once it is up");
    } finally {
      await Promise.all([...transports.values(), ...(t3 ? [t3] : [])].map((t) => t.close()));
    }
  });

  it("re-addressing a peer moves the link to the new address, with nobody reported lost", async () => {
    const { transports, peers } = await startTcpCluster([1, 2], FAST_LINKS);
    const [t1, t2] = [transports.get(1), transports.get(2)] as [TcpTransport, TcpTransport];
    const proxy = await BlackholeProxy.start({ target: peers.get(2) as HostPort });
    try {
      const got: Message[] = [];
      t2.onMessage((m) => got.push(m));
      const lost = recordLost([t1, t2]);
      t1.send(note(1, 2, 1));
      await waitFor(() => ctxsFrom(got, 1).includes(1), "direct delivery");
      // Node 2 "moved" behind the proxy.
      t1.setPeers(new Map([...peers, [2, proxy.address]]));
      t1.send(note(1, 2, 2));
      await waitFor(() => ctxsFrom(got, 1).includes(2), "delivery at the new address");
      assert.equal(proxy.stats.accepted, 1, "the link redialed through the new address");
      assert.ok(proxy.stats.forwarded.up > 0);
      assert.deepEqual(lost, []);
      // Setting the same addresses again changes nothing.
      t1.setPeers(new Map([...peers, [2, proxy.address]]));
      t1.send(note(1, 2, 3));
      await waitFor(() => ctxsFrom(got, 1).includes(3), "still delivering");
      assert.equal(proxy.stats.accepted, 1);
    } finally {
      await Promise.all([t1.close(), t2.close()]);
      await proxy.close();
    }
  });

  it("a removal closes both directions on purpose and forgets the peer's handshake", async () => {
    const { transports, peers } = await startTcpCluster([1, 2], {
      ...FAST_LINKS,
      hello: { http: "127.0.0.1:8000" },
    });
    const [t1, t2] = [transports.get(1), transports.get(2)] as [TcpTransport, TcpTransport];
    try {
      const got: Message[] = [];
      t1.onMessage((m) => got.push(m));
      const lost = recordLost([t1, t2]);
      t2.send(note(2, 1, 1));
      t1.send(note(1, 2, 1));
      await waitFor(() => got.length === 1 && t1.stats().connects === 1, "both directions up");
      assert.deepEqual(t1.peerHello(2), { http: "127.0.0.1:8000" });
      t1.setPeers(new Map([[1, peers.get(1) as HostPort]]));
      assert.equal(t1.peerHello(2), undefined);
      t1.send(note(1, 2, 2));
      assert.equal(t1.stats().dropped, 1, "a send to a removed peer is dropped at once");
      // Node 2 sees its connection closed, and is refused when it redials.
      await waitFor(() => t2.stats().disconnects >= 1, "node 2's link closed");
      t2.send(note(2, 1, 2));
      await waitFor(() => t2.stats().refusedByPeer >= 1, "node 2 refused");
      assert.deepEqual(ctxsFrom(got, 2), [1]);
      assert.deepEqual(lost, [], "closed on purpose both ways: nobody reported lost");
    } finally {
      await Promise.all([t1.close(), t2.close()]);
    }
  });

  it("rejects an impossible address (a caller bug)", async () => {
    const { transports } = await startTcpCluster([1]);
    const t1 = transports.get(1) as TcpTransport;
    try {
      assert.throws(
        () => t1.setPeers(new Map([[2, { host: LOOPBACK, port: 70_000 }]])),
        RangeError,
      );
      assert.throws(() => t1.setPeers(new Map([[0, { host: LOOPBACK, port: 1 }]])), RangeError);
    } finally {
      await t1.close();
    }
  });
});
