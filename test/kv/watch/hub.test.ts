// The watch hub: etcd 3.4's watch behaviours one per test, then the hub against the model's
// events over random writes, watchers, compactions, restores and slow consumers.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { prefixEnd } from "../../../src/kv/mvcc/keys.js";
import { restoreSnapshot, snapshotChunks } from "../../../src/kv/mvcc/snapshot.js";
import { MvccStore } from "../../../src/kv/mvcc/store.js";
import {
  CancelReason,
  WatchFilter,
  WatchHub,
  type WatchResponse,
} from "../../../src/kv/watch/hub.js";
import { IntervalIndex } from "../../../src/kv/watch/interval-index.js";
import { bytes as b, eventOf, Model, type ModelEvent, SEED, text } from "../mvcc/model.js";

const ALL_END = new Uint8Array([0]);

function setup() {
  const store = new MvccStore();
  const hub = new WatchHub(store);
  const stream = hub.openStream();
  const put = (k: string, v = "v") => assert.ok(store.put({ key: b(k), value: b(v) }).ok);
  const del = (k: string, end?: string) =>
    assert.ok(
      store.deleteRange({ key: b(k), rangeEnd: end === undefined ? undefined : b(end) }).ok,
    );
  return { store, hub, stream, put, del };
}

/** The responses' events as [revision, type, key] triples. */
function events(rs: WatchResponse[]): Array<[number, number, string]> {
  return rs.flatMap((r) =>
    r.events.map((e): [number, number, string] => [e.kv.modRevision, e.type, text(e.kv.key)]),
  );
}

describe("watch", () => {
  it("a key watcher gets one response per revision, with the write's revision in the header", () => {
    const { stream, put, del } = setup();
    const id = stream.watch({ key: b("k") });
    const [created] = stream.take();
    assert.deepEqual(
      { id: created?.watchId, created: created?.created, rev: created?.revision },
      { id: 0, created: true, rev: 1 },
    );
    put("k", "1");
    put("other");
    del("k");
    const rs = stream.take();
    assert.deepEqual(
      rs.map((r) => [r.watchId, r.revision]),
      [
        [id, 2],
        [id, 4],
      ],
    );
    assert.deepEqual(events(rs), [
      [2, 0, "k"],
      [4, 1, "k"],
    ]);
  });

  it("a DELETE event carries only the key and mod_revision; prev_kv when asked", () => {
    const { stream, put, del } = setup();
    put("k", "old");
    stream.watch({ key: b("k"), prevKv: true });
    put("k", "new");
    del("k");
    const rs = stream.take().slice(1);
    assert.deepEqual(eventOf(rs[0]?.events[0] as never).prev?.value, "old");
    const d = eventOf(rs[1]?.events[0] as never);
    assert.deepEqual(d.kv, { key: "k", value: "", create: 0, mod: 4, ver: 0, lease: 0n });
    assert.equal(d.prev?.value, "new");
  });

  it("prefix and range watchers get a revision's events together, in key order", () => {
    const { store, stream } = setup();
    stream.watch({ key: b("a/"), rangeEnd: prefixEnd(b("a/")) });
    stream.watch({ key: b("a/m"), rangeEnd: ALL_END }); // every key >= a/m
    stream.take();
    store.txn({
      success: [
        { put: { key: b("a/z") } },
        { put: { key: b("b") } },
        { put: { key: b("a/c") } },
        { put: { key: b("a/") } },
      ],
    });
    const rs = stream.take();
    assert.equal(rs.length, 2);
    assert.deepEqual(events([rs[0] as WatchResponse]), [
      [2, 0, "a/"],
      [2, 0, "a/c"],
      [2, 0, "a/z"],
    ]);
    assert.deepEqual(events([rs[1] as WatchResponse]), [
      [2, 0, "a/z"],
      [2, 0, "b"],
    ]);
  });

  it("filters: NOPUT drops puts, NODELETE drops deletes", () => {
    const { stream, put, del } = setup();
    const noPut = stream.watch({ key: b("k"), filters: [WatchFilter.NOPUT] });
    const noDel = stream.watch({ key: b("k"), filters: [WatchFilter.NODELETE] });
    put("k");
    del("k");
    const rs = stream.take().filter((r) => r.events.length > 0);
    assert.deepEqual(
      rs.map((r) => [r.watchId, r.events[0]?.type]),
      [
        [noDel, 0],
        [noPut, 1],
      ],
    );
  });

  it("from a past revision it replays history, then follows live events, with no gap or repeat", () => {
    const { hub, stream, put } = setup();
    for (let i = 0; i < 10; i++) put(`k${i % 3}`, String(i));
    stream.watch({ key: b("k"), rangeEnd: prefixEnd(b("k")), startRevision: 4 });
    put("k0", "live-before-sync");
    assert.equal(hub.syncPending, true);
    while (hub.sync(3));
    put("k1", "live");
    const revs = events(stream.take()).map(([rev]) => rev);
    assert.deepEqual(revs, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  });

  it("a replay batch never splits a revision", () => {
    const store = new MvccStore();
    const hub = new WatchHub(store, { batchEvents: 2 });
    const stream = hub.openStream();
    store.txn({ success: ["a", "b", "c"].map((k) => ({ put: { key: b(k) } })) });
    store.put({ key: b("d") });
    stream.watch({ key: b("\0"), rangeEnd: ALL_END, startRevision: 1 });
    while (hub.sync());
    const rs = stream.take().slice(1);
    assert.deepEqual(
      rs.map((r) => r.events.length),
      [3, 1],
    );
    assert.deepEqual(
      rs.map((r) => r.revision),
      [2, 3],
    );
  });

  it("from a compacted revision: created, then compact_revision and canceled", () => {
    const { store, stream, put } = setup();
    for (let i = 0; i < 5; i++) put("k");
    store.compact(4);
    stream.watch({ key: b("k"), startRevision: 3 });
    const [created, compacted] = stream.take();
    assert.equal(created?.created, true);
    assert.deepEqual(
      { c: compacted?.canceled, rev: compacted?.compactRevision, id: compacted?.watchId },
      { c: true, rev: 4, id: created?.watchId },
    );
    // The compact revision itself is still there: every event from it on replays.
    stream.watch({ key: b("k"), startRevision: 4 });
    stream.take();
  });

  it("an unsynced watcher whose next revision gets compacted is canceled the same way", () => {
    const { store, hub, stream, put } = setup();
    for (let i = 0; i < 5; i++) put("k");
    stream.watch({ key: b("k"), startRevision: 2 });
    stream.take();
    store.compact(5);
    const [resp] = stream.take();
    assert.deepEqual([resp?.canceled, resp?.compactRevision], [true, 5]);
    assert.equal(hub.watcherCount, 0);
  });

  it("from a future revision it starts there", () => {
    const { stream, put } = setup();
    stream.watch({ key: b("k"), startRevision: 4 });
    put("k");
    put("k");
    put("k");
    assert.deepEqual(
      events(stream.take()).map(([rev]) => rev),
      [4],
    );
  });

  it("cancel answers canceled and ends the events; an unknown id is ignored", () => {
    const { stream, put } = setup();
    const id = stream.watch({ key: b("k") });
    assert.equal(stream.cancel(id), true);
    assert.equal(stream.cancel(99), false);
    put("k");
    const rs = stream.take();
    assert.deepEqual(
      rs.map((r) => [r.created, r.canceled]),
      [
        [true, false],
        [false, true],
      ],
    );
  });

  it("refuses an empty range, a duplicate id and a negative start with etcd's reasons", () => {
    const { stream } = setup();
    assert.equal(stream.watch({ key: b("b"), rangeEnd: b("a") }), -1);
    assert.equal(stream.watch({ key: b("k"), watchId: 7 }), 7);
    assert.equal(stream.watch({ key: b("k"), watchId: 7 }), -1);
    assert.equal(stream.watch({ key: b("k"), startRevision: -1 }), -1);
    const refused = stream.take().filter((r) => r.canceled);
    assert.deepEqual(
      refused.map((r) => [r.watchId, r.created, r.cancelReason]),
      [
        [-1, true, CancelReason.emptyRange],
        [-1, true, "mvcc: duplicate watch ID provided on the WatchStream"],
        [-1, true, "etcdserver: mvcc: required revision has been compacted"],
      ],
    );
  });

  it("picks ids from 0 per stream, skipping ids the client chose", () => {
    const { hub, stream } = setup();
    assert.equal(stream.watch({ key: b("a"), watchId: 1 }), 1);
    assert.equal(stream.watch({ key: b("a") }), 0);
    assert.equal(stream.watch({ key: b("a") }), 2);
    assert.equal(hub.openStream().watch({ key: b("a") }), 0);
  });

  it("a progress request answers with watch_id -1 once every watcher of the stream is synced", () => {
    const { hub, stream, put } = setup();
    for (let i = 0; i < 4; i++) put("k");
    stream.watch({ key: b("k") });
    stream.watch({ key: b("k"), startRevision: 2 });
    stream.take();
    stream.requestProgress();
    assert.deepEqual(stream.take(), [], "deferred while a watcher replays");
    while (hub.sync());
    const rs = stream.take();
    assert.deepEqual(rs.at(-1), { ...rs.at(-1), watchId: -1, revision: 5, events: [] });
  });

  it("progress_notify: idle synced watchers get the current revision on each tick", () => {
    const { hub, stream, put } = setup();
    const idle = stream.watch({ key: b("idle"), progressNotify: true });
    stream.watch({ key: b("busy"), progressNotify: true });
    stream.watch({ key: b("quiet") });
    stream.take();
    put("busy");
    stream.take();
    hub.progressTick();
    assert.deepEqual(
      stream.take().map((r) => [r.watchId, r.revision, r.events.length]),
      [[idle, 2, 0]],
    );
    hub.progressTick();
    assert.equal(stream.take().length, 2, "both are idle now");
  });

  it("a slow consumer is canceled past the bound, with a reason; other watchers go on", () => {
    const store = new MvccStore();
    const hub = new WatchHub(store, { maxPendingBytes: 4096 });
    const slow = hub.openStream();
    const fast = hub.openStream();
    const slowId = slow.watch({ key: b("k") });
    fast.watch({ key: b("k") });
    slow.take();
    for (let i = 0; i < 100; i++) {
      store.put({ key: b("k"), value: new Uint8Array(100) });
      fast.take();
    }
    const rs = slow.take();
    assert.equal(rs.length, 1, "its queued events were dropped");
    assert.deepEqual(
      [rs[0]?.watchId, rs[0]?.canceled, rs[0]?.cancelReason],
      [slowId, true, CancelReason.slow],
    );
    assert.equal(hub.watcherCount, 1);
  });

  it("a replaying watcher waits for its consumer instead of being canceled", () => {
    const store = new MvccStore();
    const hub = new WatchHub(store, { maxPendingBytes: 4096, batchEvents: 5 });
    for (let i = 0; i < 200; i++) store.put({ key: b("k"), value: new Uint8Array(100) });
    const s = hub.openStream();
    s.watch({ key: b("k"), startRevision: 1 });
    for (let i = 0; i < 50; i++) hub.sync();
    assert.ok(s.pending < 20, `queued ${s.pending}`);
    const got: number[] = [];
    while (hub.syncPending || s.pending > 0) {
      hub.sync();
      got.push(...events(s.take()).map(([rev]) => rev));
    }
    assert.deepEqual(
      got,
      Array.from({ length: 200 }, (_, i) => i + 2),
    );
  });

  it("after a snapshot is installed under them, watchers resume from history", () => {
    const { store, hub, stream, put } = setup();
    stream.watch({ key: b("k"), rangeEnd: prefixEnd(b("k")) });
    put("k1");
    stream.take();
    // A leader's state, five revisions further on, arrives as a snapshot.
    const leader = new MvccStore();
    leader.put({ key: b("k1") });
    for (let i = 0; i < 5; i++) leader.put({ key: b(`k${i}`), value: b("x") });
    restoreSnapshot(store, snapshotChunks(leader));
    while (hub.sync());
    put("k9");
    assert.deepEqual(
      events(stream.take()).map(([rev]) => rev),
      [3, 4, 5, 6, 7, 8],
    );
  });

  it("closing a stream removes its watchers", () => {
    const { hub, stream } = setup();
    stream.watch({ key: b("a") });
    stream.watch({ key: b("a"), rangeEnd: b("z") });
    stream.close();
    assert.equal(hub.watcherCount, 0);
    assert.equal(stream.watch({ key: b("a") }), -1);
  });
});

describe("IntervalIndex", () => {
  it("finds every range holding a key, against a scan", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(60), fc.nat(60), fc.nat(5), fc.boolean()), { maxLength: 300 }),
        fc.array(fc.nat(62), { maxLength: 30 }),
        (ops, probes) => {
          const idx = new IntervalIndex<number>();
          const ref = new Set<string>();
          const name = (n: number) => String.fromCharCode(40 + n);
          for (const [a, z, item, add] of ops) {
            const [s, e] = [name(Math.min(a, z)), z === 60 ? "\u0100" : name(Math.max(a, z) + 1)];
            const k = `${s}|${e}|${item}`;
            if (add) {
              idx.add(s, e, item);
              ref.add(k);
            } else {
              idx.delete(s, e, item);
              ref.delete(k);
            }
          }
          for (const p of probes) {
            const key = name(p);
            const got: string[] = [];
            idx.stab(key, (item) => got.push(String(item)));
            const want = [...ref]
              .map((k) => k.split("|"))
              .filter(([s, e]) => key >= (s as string) && key < (e as string))
              .map(([, , item]) => item as string);
            assert.deepEqual(got.sort(), want.sort());
          }
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe("watch hub against the model", () => {
  const KEYS = ["a", "ab", "b", "c", "\u00ff"];
  type Op =
    | { k: "put"; key: string }
    | { k: "del"; key: string; prefix: boolean }
    | { k: "watch"; key: string; range: 0 | 1 | 2; rel: number; prevKv: boolean; filter: number }
    | { k: "sync"; budget: number }
    | { k: "take"; stream: number }
    | { k: "compact"; rel: number }
    | { k: "restore" };
  const key = fc.constantFrom(...KEYS);
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant("put" as const), key }) },
    {
      weight: 2,
      arbitrary: fc.record({ k: fc.constant("del" as const), key, prefix: fc.boolean() }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant("watch" as const),
        key,
        range: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
        rel: fc.integer({ min: -8, max: 2 }),
        prevKv: fc.boolean(),
        filter: fc.constantFrom(-1, -1, 0, 1),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant("sync" as const),
        budget: fc.integer({ min: 1, max: 6 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant("take" as const), stream: fc.nat(2) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant("compact" as const),
        rel: fc.integer({ min: -4, max: 0 }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ k: "restore" as const }) },
  );

  it("delivers exactly the model's events to each watcher, in order, or cancels it for compaction", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120, size: "max" }), (ops) => {
        const store = new MvccStore();
        const model = new Model();
        // Two members: writes apply to both; "restore" installs a snapshot of the other under
        // the hub's, as a follower installing the leader's snapshot would.
        const other = new MvccStore();
        const hub = new WatchHub(store);
        const streams = [hub.openStream(), hub.openStream(), hub.openStream()];
        interface W {
          stream: number;
          id: number;
          match: (k: string) => boolean;
          from: number;
          prevKv: boolean;
          filter: number;
          got: ModelEvent[];
          compacted: boolean;
        }
        const ws: W[] = [];
        const byId = (s: number, id: number) => ws.find((w) => w.stream === s && w.id === id);
        const drain = (s: number) => {
          for (const r of streams[s]?.take() ?? []) {
            if (r.watchId < 0) continue;
            const w = byId(s, r.watchId) as W;
            if (r.compactRevision > 0) w.compacted = true;
            const revs = r.events.map((e) => e.kv.modRevision);
            assert.ok(
              revs.every((x) => x <= r.revision),
              "header revision covers the events",
            );
            w.got.push(...r.events.map(eventOf));
          }
        };
        let n = 0;
        for (const o of ops) {
          n++;
          if (o.k === "put") {
            const value = b(`v${n}`);
            store.put({ key: b(o.key), value });
            other.put({ key: b(o.key), value });
            model.put({ key: b(o.key), value });
          } else if (o.k === "del") {
            const req = { key: b(o.key), rangeEnd: o.prefix ? prefixEnd(b(o.key)) : undefined };
            store.deleteRange(req);
            other.deleteRange(req);
            model.deleteRange(req);
          } else if (o.k === "watch") {
            const s = n % 3;
            const start = o.rel === 2 ? 0 : Math.max(1, model.rev + o.rel);
            const end = [undefined, prefixEnd(b(o.key)), ALL_END][o.range];
            const id = streams[s]?.watch({
              key: b(o.key),
              rangeEnd: end,
              startRevision: start,
              prevKv: o.prevKv,
              filters: o.filter < 0 ? [] : [o.filter as 0 | 1],
            }) as number;
            const match =
              o.range === 0
                ? (k: string) => k === o.key
                : o.range === 1
                  ? (k: string) => k.startsWith(o.key)
                  : (k: string) => k >= o.key;
            ws.push({
              stream: s,
              id,
              match,
              from: start === 0 ? model.rev + 1 : start,
              prevKv: o.prevKv,
              filter: o.filter,
              got: [],
              compacted: false,
            });
          } else if (o.k === "sync") hub.sync(o.budget);
          else if (o.k === "take") drain(o.stream);
          else if (o.k === "compact") {
            const rev = model.rev + o.rel;
            if (model.compact(rev).ok) {
              store.compact(rev);
              other.compact(rev);
            }
          } else restoreSnapshot(store, snapshotChunks(other));
        }
        while (hub.sync());
        for (let s = 0; s < 3; s++) drain(s);
        for (const w of ws) {
          const want: ModelEvent[] = [];
          for (let r = Math.max(w.from, 2); r <= model.rev; r++) {
            for (const e of model.eventsAt(r)) {
              if (!w.match(e.kv.key) || e.type === w.filter) continue;
              want.push(w.prevKv && e.prev ? e : { type: e.type, kv: e.kv });
            }
          }
          if (w.compacted) {
            assert.deepEqual(
              w.got,
              want.slice(0, w.got.length),
              "a compacted watcher got a prefix",
            );
          } else assert.deepEqual(w.got, want);
        }
      }),
      { seed: SEED, numRuns: 300, includeErrorInReport: true },
    );
  });
});
