// The Transport conformance suite: one set of cases run against every adapter (TcpTransport
// over loopback, the simulator's SimNetwork endpoints). An adapter plugs in through a small
// harness; the cases use only the Transport interface.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeConfChangeEntry } from "../../src/raft/confchange-codec.js";
import { type Entry, type Message, type NodeId, simpleConf } from "../../src/raft/types.js";
import type { PeerUpdates, Transport } from "../../src/transport/transport.js";
import type { HostPort } from "../../src/util/host-port.js";

type Endpoint = Transport & PeerUpdates;

export interface TransportHarness {
  /**
   * Starts one transport per id, all able to reach each other; `cuttable` lets cut() cut their
   * links (TCP puts a proxy on each).
   */
  create(ids: NodeId[], opts?: { cuttable?: boolean }): Promise<Map<NodeId, Endpoint>>;
  /** The address book node `id` was given (what setPeers takes). */
  addresses(id: NodeId): ReadonlyMap<NodeId, HostPort>;
  /**
   * Cuts both directions between a and b silently, as a partition does (no close, no reset);
   * resolves once the ends have noticed, where the adapter has anything to notice.
   */
  cut(a: NodeId, b: NodeId): Promise<void>;
  /** Restores every cut link. */
  heal(): void;
  /**
   * Lets traffic flow until `done()` holds (real time with a generous deadline, or virtual time
   * until the network is idle); fails naming `what` if it never does.
   */
  settle(done: () => boolean, what: string): Promise<void>;
  /** Closes whatever create() started that is still open. */
  dispose(): Promise<void>;
  /** Messages on one directed pair arrive in send order (TCP) rather than in any order. */
  readonly ordered: boolean;
}

/** Deterministic bytes (no RNG needed: content just has to be distinctive). */
/** A valid conf entry's data (validate.ts decodes it) carrying `context`. */
export function confEntryData(context: Uint8Array): Uint8Array {
  const conf = simpleConf([1, 2, 3]);
  return encodeConfChangeEntry({ changes: [], transition: "auto", context, conf });
}

export function pattern(length: number, salt: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + salt * 7 + (i >>> 8)) & 0xff;
  return out;
}

function entries(prevIndex: number, n: number, size: number, term: number): Entry[] {
  return Array.from({ length: n }, (_, i) => ({
    index: prevIndex + 1 + i,
    term,
    type: i % 5 === 4 ? ("conf" as const) : ("normal" as const),
    data: i % 5 === 4 ? confEntryData(pattern(size, prevIndex + i)) : pattern(size, prevIndex + i),
  }));
}

/** One message of every type, from `from` to `to`. */
export function everyMessageType(from: NodeId, to: NodeId): Message[] {
  const base = { from, to, term: 7 };
  return [
    { ...base, type: "prevote", term: 8, lastLogIndex: 41, lastLogTerm: 6 },
    { ...base, type: "vote", lastLogIndex: 41, lastLogTerm: 6, transfer: true },
    { ...base, type: "vote", lastLogIndex: 0, lastLogTerm: 0 },
    { ...base, type: "prevote-resp", granted: false },
    { ...base, type: "vote-resp", granted: true },
    {
      ...base,
      type: "app",
      prevIndex: 40,
      prevTerm: 6,
      entries: entries(40, 5, 100, 7),
      commit: 39,
    },
    { ...base, type: "app", prevIndex: 45, prevTerm: 7, entries: [], commit: 45 },
    {
      ...base,
      type: "app-resp",
      success: false,
      matchIndex: 0,
      rejectIndex: 45,
      conflictTerm: 5,
      conflictIndex: 30,
    },
    { ...base, type: "heartbeat", commit: 45, ctx: 12 },
    { ...base, type: "heartbeat-resp", ctx: 12 },
    {
      ...base,
      type: "snap",
      snapshot: {
        metadata: { index: 100, term: 7, conf: simpleConf([1, 2, 3]) },
        data: pattern(1000, 3),
      },
    },
    { ...base, type: "timeout-now", index: 0 },
  ];
}

/** Records every onPeerLost report of these transports as [reporter, lost peer]. */
export function recordLost(ts: Iterable<Transport>): [NodeId, NodeId][] {
  const lost: [NodeId, NodeId][] = [];
  for (const t of ts) t.onPeerLost((peer) => lost.push([t.id, peer]));
  return lost;
}

function collect(t: Transport): Message[] {
  const got: Message[] = [];
  t.onMessage((m) => got.push(m));
  return got;
}

function get(ts: Map<NodeId, Endpoint>, id: NodeId): Endpoint {
  const t = ts.get(id);
  assert.ok(t, `transport ${id}`);
  return t;
}

export function runTransportSuite(name: string, makeHarness: () => TransportHarness): void {
  /** Runs a case with a fresh harness, disposed even when the case fails. */
  const withHarness = (body: (h: TransportHarness) => Promise<void>) => async (): Promise<void> => {
    const h = makeHarness();
    try {
      await body(h);
    } finally {
      await h.dispose();
    }
  };

  describe(`Transport conformance: ${name}`, () => {
    it(
      "delivers every message type intact, Uint8Array data included",
      withHarness(async (h) => {
        const ts = await h.create([1, 2]);
        const got = collect(get(ts, 2));
        const sent = everyMessageType(1, 2);
        for (const m of sent) get(ts, 1).send(m);
        await h.settle(() => got.length >= sent.length, "every message type delivered");
        const key = (m: Message) =>
          JSON.stringify(m, (_k, v) => (v instanceof Uint8Array ? [...v] : v));
        if (h.ordered) assert.deepStrictEqual(got, sent);
        else assert.deepStrictEqual(got.map(key).sort(), sent.map(key).sort());
        for (const m of got) {
          if (m.type === "app") for (const e of m.entries) assert.ok(e.data instanceof Uint8Array);
          if (m.type === "snap") assert.ok(m.snapshot.data instanceof Uint8Array);
        }
      }),
    );

    it(
      "routes by `to` and keeps `from` between every pair of three nodes",
      withHarness(async (h) => {
        const ids = [1, 2, 3];
        const ts = await h.create(ids);
        const got = new Map(ids.map((id) => [id, collect(get(ts, id))]));
        for (const from of ids) {
          for (const to of ids) {
            if (from !== to)
              get(ts, from).send({
                type: "heartbeat-resp",
                from,
                to,
                term: 1,
                ctx: from * 10 + to,
              });
          }
        }
        await h.settle(() => ids.every((id) => got.get(id)?.length === 2), "all pairs delivered");
        for (const id of ids) {
          const msgs = got.get(id) ?? [];
          assert.deepStrictEqual(
            msgs.map((m) => [m.from, m.to, m.type === "heartbeat-resp" ? m.ctx : -1]).sort(),
            ids.filter((f) => f !== id).map((f) => [f, id, f * 10 + id]),
          );
        }
      }),
    );

    it(
      "delivers many messages per pair, in order where the adapter promises it",
      withHarness(async (h) => {
        const ts = await h.create([1, 2]);
        const got = collect(get(ts, 2));
        const n = 2000;
        for (let i = 0; i < n; i++)
          get(ts, 1).send({ type: "heartbeat", from: 1, to: 2, term: 3, commit: i, ctx: i });
        await h.settle(() => got.length >= n, `${n} heartbeats delivered`);
        const ctxs = got.map((m) => (m.type === "heartbeat" ? m.ctx : -1));
        const expected = Array.from({ length: n }, (_, i) => i);
        assert.deepStrictEqual(h.ordered ? ctxs : [...ctxs].sort((a, b) => a - b), expected);
      }),
    );

    it(
      "carries large batches of appends with 256-byte entries",
      withHarness(async (h) => {
        const ts = await h.create([1, 2]);
        const got = collect(get(ts, 2));
        const n = 500;
        const perMsg = 32;
        for (let i = 0; i < n; i++) {
          const prevIndex = i * perMsg;
          get(ts, 1).send({
            type: "app",
            from: 1,
            to: 2,
            term: 2,
            prevIndex,
            prevTerm: i === 0 ? 0 : 2,
            entries: entries(prevIndex, perMsg, 256, 2),
            commit: prevIndex,
          });
        }
        await h.settle(() => got.length >= n, `${n} appends delivered`);
        let total = 0;
        for (const m of got) {
          assert.equal(m.type, "app");
          if (m.type !== "app") continue;
          for (const e of m.entries) {
            const body = pattern(256, e.index - 1);
            assert.deepStrictEqual(e.data, e.type === "conf" ? confEntryData(body) : body);
            total++;
          }
        }
        assert.equal(total, n * perMsg);
      }),
    );

    it(
      "delivers a snapshot much larger than a frame, and what follows it",
      withHarness(async (h) => {
        const ts = await h.create([1, 2]);
        const got = collect(get(ts, 2));
        const data = pattern(6 * 1024 * 1024 + 123, 9);
        get(ts, 1).send({
          type: "snap",
          from: 1,
          to: 2,
          term: 4,
          snapshot: { metadata: { index: 5000, term: 4, conf: simpleConf([1, 2]) }, data },
        });
        get(ts, 1).send({ type: "heartbeat", from: 1, to: 2, term: 4, commit: 5000, ctx: 0 });
        await h.settle(() => got.length >= 2, "snapshot and heartbeat delivered");
        const snap = got.find((m) => m.type === "snap");
        assert.ok(snap?.type === "snap");
        assert.equal(snap.snapshot.metadata.index, 5000);
        assert.ok(
          Buffer.from(snap.snapshot.data).equals(Buffer.from(data)),
          "snapshot bytes intact",
        );
        if (h.ordered) assert.equal(got[1]?.type, "heartbeat");
      }),
    );

    it(
      "reports a peer that closed its transport as lost, and only that peer",
      withHarness(async (h) => {
        const ts = await h.create([1, 2, 3]);
        const lost = new Map<NodeId, NodeId[]>([
          [1, []],
          [3, []],
        ]);
        for (const [id, seen] of lost) get(ts, id).onPeerLost((peer) => seen.push(peer));
        const got = new Map([1, 2, 3].map((id) => [id, collect(get(ts, id))]));
        // Connections both ways between 1 and 2, and between 1 and 3.
        for (const [from, to] of [
          [1, 2],
          [2, 1],
          [1, 3],
          [3, 1],
        ] as const)
          get(ts, from).send({ type: "timeout-now", from, to, term: 1, index: 0 });
        await h.settle(
          () => got.get(1)?.length === 2 && got.get(2)?.length === 1 && got.get(3)?.length === 1,
          "connections established",
        );
        await get(ts, 2).close();
        await h.settle(() => (lost.get(1) ?? []).includes(2), "node 1 told that 2 is gone");
        assert.deepEqual([...new Set(lost.get(1))], [2], "only 2 is reported to 1");
        assert.ok(!(lost.get(3) ?? []).includes(1), "3 still reaches 1");
      }),
    );

    it(
      "after a silent cut heals, delivery resumes both ways and nobody was reported lost",
      withHarness(async (h) => {
        const ts = await h.create([1, 2, 3], { cuttable: true });
        const got = new Map([1, 2, 3].map((id) => [id, collect(get(ts, id))]));
        const lost = recordLost(ts.values());
        const ping = (from: NodeId, to: NodeId, ctx: number) =>
          get(ts, from).send({ type: "heartbeat-resp", from, to, term: 1, ctx });
        const has = (id: NodeId, ctx: number) =>
          (got.get(id) ?? []).some((m) => m.type === "heartbeat-resp" && m.ctx === ctx);
        ping(1, 2, 1);
        ping(2, 1, 1);
        await h.settle(() => has(2, 1) && has(1, 1), "warm-up both ways");
        await h.cut(1, 2);
        // Messages sent into the cut may be lost or may wait: either is allowed.
        ping(1, 2, 2);
        ping(2, 1, 2);
        // Other links are unaffected.
        ping(1, 3, 3);
        ping(3, 2, 3);
        await h.settle(() => has(3, 3) && has(2, 3), "links around the cut still work");
        h.heal();
        ping(1, 2, 4);
        ping(2, 1, 4);
        await h.settle(() => has(2, 4) && has(1, 4), "delivery after the heal");
        assert.deepEqual(lost, [], "a silent cut is not a lost peer");
      }),
    );

    it(
      "setPeers: a removed node neither reaches nor hears from this one; re-adding restores it",
      withHarness(async (h) => {
        const ts = await h.create([1, 2, 3]);
        const got = new Map([1, 2, 3].map((id) => [id, collect(get(ts, id))]));
        const lost = recordLost(ts.values());
        const ctxs = (id: NodeId, from: NodeId) =>
          (got.get(id) ?? []).flatMap((m) =>
            m.type === "heartbeat-resp" && m.from === from ? [m.ctx] : [],
          );
        const ping = (from: NodeId, to: NodeId, ctx: number) =>
          get(ts, from).send({ type: "heartbeat-resp", from, to, term: 1, ctx });
        ping(1, 2, 1);
        ping(2, 1, 1);
        await h.settle(() => ctxs(2, 1).includes(1) && ctxs(1, 2).includes(1), "warm-up");

        const all = h.addresses(1);
        get(ts, 1).setPeers(new Map([...all].filter(([id]) => id !== 2)));
        ping(1, 2, 2);
        ping(2, 1, 2);
        ping(1, 3, 2);
        ping(3, 1, 2);
        await h.settle(
          () => ctxs(3, 1).includes(2) && ctxs(1, 3).includes(2),
          "the remaining peer still served",
        );
        assert.deepEqual(ctxs(2, 1), [1], "nothing reaches a removed node");
        assert.deepEqual(ctxs(1, 2), [1], "nothing from a removed node is delivered");

        get(ts, 1).setPeers(all);
        ping(1, 2, 3);
        ping(2, 1, 3);
        await h.settle(
          () => ctxs(2, 1).includes(3) && ctxs(1, 2).includes(3),
          "both ways again once re-added",
        );
        assert.deepEqual(lost, [], "removing a peer is not losing it");
      }),
    );

    it(
      "close() stops delivery, makes send() a no-op and leaves no handles behind",
      withHarness(async (h) => {
        const baseline = handleCounts();
        const ts = await h.create([1, 2, 3]);
        const got2 = collect(get(ts, 2));
        const got3 = collect(get(ts, 3));
        get(ts, 1).send({ type: "timeout-now", from: 1, to: 2, term: 1, index: 0 });
        get(ts, 1).send({ type: "timeout-now", from: 1, to: 3, term: 1, index: 0 });
        await h.settle(() => got2.length === 1 && got3.length === 1, "warm-up delivered");
        await get(ts, 2).close();
        await get(ts, 2).close(); // idempotent
        get(ts, 2).send({ type: "timeout-now", from: 2, to: 1, term: 1, index: 0 }); // no throw
        get(ts, 1).send({ type: "timeout-now", from: 1, to: 2, term: 1, index: 0 }); // to a closed node
        get(ts, 1).send({ type: "timeout-now", from: 1, to: 3, term: 1, index: 0 });
        await h.settle(() => got3.length === 2, "the live node still served");
        assert.equal(got2.length, 1, "nothing delivered to a closed transport");
        await Promise.all([...ts.values()].map((t) => t.close()));
        // Node releases a closed server's handle a moment after close() calls back: poll.
        const leftovers = () =>
          [...handleCounts()]
            .filter(([kind, n]) => n > (baseline.get(kind) ?? 0))
            .map(([kind, n]) => `${n} ${kind} (baseline ${baseline.get(kind) ?? 0})`);
        await h.settle(
          () => leftovers().length === 0,
          `no handles left: ${leftovers().join(", ")}`,
        );
      }),
    );
  });
}

/** Live sockets, servers and timers (setImmediate callbacks are not handles). */
function handleCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === "Immediate") continue;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}
