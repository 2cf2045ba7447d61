// Link liveness with real sockets: links cut silently by a BlackholeProxy (bytes stop, nothing
// closes) must be torn down by the liveness check, redialed with a connect timeout, and carry
// messages again once the cut heals, with no peer reported lost. Deadlines are generous and
// every wait is for an observable condition (counters, delivered messages, proxied bytes).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message, NodeId } from "../../src/raft/types.js";
import type { TcpTransport } from "../../src/transport/tcp-transport.js";
import type { Cut } from "../support/blackhole-proxy.js";
import { FAST_LINKS, linkName, startProxiedCluster, waitFor } from "./harness.js";
import { pattern, recordLost } from "./suite.js";

type Cluster = Awaited<ReturnType<typeof startProxiedCluster>>;

/** A proxied pair 1, 2 where node 1 sends a heartbeat to node 2 every 10 ms. */
async function streaming(
  body: (c: Cluster, got: Message[], lost: [NodeId, NodeId][]) => Promise<void>,
) {
  const c = await startProxiedCluster([1, 2], FAST_LINKS);
  const [t1, t2] = [c.transports.get(1), c.transports.get(2)] as [TcpTransport, TcpTransport];
  const got: Message[] = [];
  t2.onMessage((m) => got.push(m));
  const lost = recordLost([t1, t2]);
  let ctx = 0;
  const timer = setInterval(
    () => t1.send({ type: "heartbeat", from: 1, to: 2, term: 1, commit: 0, ctx: ctx++ }),
    10,
  );
  try {
    await waitFor(() => got.length > 0, "first delivery");
    await body(c, got, lost);
  } finally {
    clearInterval(timer);
    await c.close();
  }
}

function lastCtx(got: Message[]): number {
  const m = got.at(-1);
  return m?.type === "heartbeat" ? m.ctx : -1;
}

/** Cuts both directions of 1 -> 2 (the connection carrying node 1's messages). */
function cutBoth(c: Cluster, cut: Cut): void {
  c.proxies.get(linkName(1, 2))?.blackhole(cut);
}

describe("TcpTransport link liveness", () => {
  for (const mode of ["hold", "drop"] as const) {
    it(`tears down a silently cut link, redials it, and delivers after the heal (${mode})`, async () => {
      await streaming(async (c, got, lost) => {
        const [t1, t2] = [c.transports.get(1), c.transports.get(2)] as TcpTransport[];
        assert.ok(t1 && t2);
        cutBoth(c, { mode });
        await waitFor(
          () => t1.stats().livenessTimeouts >= 1 && t2.stats().livenessTimeouts >= 1,
          "both ends noticed the silence",
        );
        // Redials go into the black hole: their handshakes are never answered.
        await waitFor(() => t1.stats().connectTimeouts >= 2, "redials abandoned at their timeout");
        assert.equal(t1.stats().connects, 1, "no redial got through the cut");
        const atHeal = lastCtx(got);
        c.proxies.get(linkName(1, 2))?.heal();
        await waitFor(() => lastCtx(got) > atHeal + 5, "messages sent after the heal arrive");
        assert.ok(t1.stats().connects >= 2);
        // Whatever crossed is intact and in order: contexts only increase.
        const ctxs = got.map((m) => (m.type === "heartbeat" ? m.ctx : -1));
        assert.deepEqual(
          ctxs,
          [...ctxs].sort((a, b) => a - b),
        );
        assert.deepEqual(lost, [], "a silent cut is not a lost peer");
      });
    });
  }

  for (const direction of ["up", "down"] as const) {
    it(`notices a one-way cut (${direction}) and reports nobody lost`, async () => {
      await streaming(async (c, got, lost) => {
        const [t1, t2] = [c.transports.get(1), c.transports.get(2)] as TcpTransport[];
        assert.ok(t1 && t2);
        cutBoth(c, { direction });
        // The end that hears nothing closes on purpose; its CLOSE crosses the open direction.
        const listener = direction === "down" ? t1 : t2;
        await waitFor(() => listener.stats().livenessTimeouts >= 1, "the deaf end noticed");
        await waitFor(() => t1.stats().connectTimeouts >= 1, "redial into the cut abandoned");
        const atHeal = lastCtx(got);
        c.proxies.get(linkName(1, 2))?.heal();
        await waitFor(() => lastCtx(got) > atHeal + 5, "messages sent after the heal arrive");
        assert.deepEqual(lost, []);
      });
    });
  }

  it("closes the connection on a flipped bit, delivers nothing corrupted, and recovers", async () => {
    const seed = Date.now() % 1_000_000;
    console.log(`wire corruption seed=${seed}`);
    const c = await startProxiedCluster([1, 2], FAST_LINKS);
    const [t1, t2] = [c.transports.get(1), c.transports.get(2)] as [TcpTransport, TcpTransport];
    const proxy = c.proxies.get(linkName(1, 2));
    assert.ok(proxy);
    try {
      const got: Message[] = [];
      t2.onMessage((m) => got.push(m));
      const lost = recordLost([t1, t2]);
      const sent = new Map<number, Message>();
      const send = (i: number) => {
        const m: Message = {
          type: "app",
          from: 1,
          to: 2,
          term: 1,
          prevIndex: i,
          prevTerm: i === 0 ? 0 : 1,
          entries: [{ index: i + 1, term: 1, type: "normal", data: pattern(300, i) }],
          commit: 0,
        };
        sent.set(i, m);
        t1.send(m);
      };
      let next = 0;
      send(next++);
      await waitFor(() => got.length === 1, "warm-up");
      let rng = seed;
      for (let round = 1; round <= 10; round++) {
        rng = (rng * 1103515245 + 12345) % 2 ** 31;
        proxy.corruptNext(rng);
        send(next++);
        await waitFor(() => t2.stats().rejected.checksum >= round, `corruption ${round} caught`);
        // The link comes back: a later message arrives.
        const want = next;
        const resend = setInterval(() => send(next++), 10);
        try {
          await waitFor(
            () => got.some((m) => m.type === "app" && m.prevIndex >= want),
            `delivery after corruption ${round}`,
          );
        } finally {
          clearInterval(resend);
        }
      }
      for (const m of got) {
        assert.ok(m.type === "app");
        assert.deepStrictEqual(m, sent.get(m.prevIndex), "delivered messages are intact");
      }
      assert.deepEqual(lost, [], "a connection closed for corruption is not a lost peer");
    } finally {
      await c.close();
    }
  });

  it("keeps an idle connection open with keepalives in both directions", async () => {
    // Liveness 500 ms, idle for 40 pings (800 ms or more): without keepalives the link would be
    // torn down, and a loaded machine would need a 500 ms stall to tear it down anyway.
    const c = await startProxiedCluster([1, 2], { ...FAST_LINKS, livenessTimeoutMs: 500 });
    const [t1, t2] = [c.transports.get(1), c.transports.get(2)] as [TcpTransport, TcpTransport];
    const proxy = c.proxies.get(linkName(1, 2));
    assert.ok(proxy);
    try {
      let got = 0;
      t2.onMessage(() => got++);
      t1.send({ type: "timeout-now", from: 1, to: 2, term: 1, index: 0 });
      await waitFor(() => got === 1, "one message");
      const before = proxy.stats.forwarded;
      // A PING frame is 13 bytes: wait for 40 each way, while nothing else is sent.
      await waitFor(() => {
        const now = proxy.stats.forwarded;
        return now.up - before.up >= 40 * 13 && now.down - before.down >= 40 * 13;
      }, "keepalives both ways");
      assert.equal(t1.stats().livenessTimeouts + t2.stats().livenessTimeouts, 0);
      assert.equal(t1.stats().connects, 1, "the one connection stayed up");
    } finally {
      await c.close();
    }
  });
});
