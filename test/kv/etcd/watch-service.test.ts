// etcd's Watch service over gRPC (src/kv/etcd/watch-service.ts): created/canceled answers,
// events from a past revision, prefix and prev_kv, progress requests, the compacted answer.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { b, startNodes, stopNodes, str, type TestNode, type Wire } from "./harness.js";

/** A watch stream whose responses are read one at a time, each within a deadline. */
function openWatch(node: TestNode) {
  const call = (
    node.client.raw.Watch as unknown as { Watch(): ClientDuplexStream<Wire, Wire> }
  ).Watch();
  const queue: Wire[] = [];
  const waiting: ((w: Wire) => void)[] = [];
  call.on("data", (w: Wire) => {
    const next = waiting.shift();
    if (next) next(w);
    else queue.push(w);
  });
  call.on("error", () => {});
  return {
    send: (req: Wire) => call.write(req),
    next: (ms = 5000): Promise<Wire> => {
      const q = queue.shift();
      if (q) return Promise.resolve(q);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no watch response in time")), ms);
        waiting.push((w) => {
          clearTimeout(timer);
          resolve(w);
        });
      });
    },
    close: () => call.cancel(),
  };
}

describe("etcd Watch service", () => {
  let nodes: TestNode[];
  let node: TestNode;
  before(async () => {
    nodes = await startNodes(2);
    node = nodes[0] as TestNode;
  });
  after(() => stopNodes(nodes));

  it("a prefix watch from a past revision replays history, then live events with prev_kv", async () => {
    const put = await node.client.KV.Put({ key: b("w/a"), value: b("1") });
    const start = (put.header as Wire).revision;
    await node.client.KV.Put({ key: b("w/a"), value: b("2") });
    const w = openWatch(node);
    w.send({
      create_request: { key: b("w/"), range_end: b("w0"), start_revision: start, prev_kv: true },
    });
    const created = await w.next();
    assert.equal(created.created, true);
    const replayed: Wire[] = [];
    while (replayed.length < 2) replayed.push(...((await w.next()).events as Wire[]));
    assert.deepEqual(
      replayed.map((e) => str((e.kv as Wire).value)),
      ["1", "2"],
    );
    assert.equal(str(((replayed[1] as Wire).prev_kv as Wire).value), "1");
    await node.client.KV.DeleteRange({ key: b("w/a") });
    const del = ((await w.next()).events as Wire[])[0] as Wire;
    assert.equal(del.type, 1);
    assert.equal(str((del.kv as Wire).key), "w/a");
    assert.equal(str((del.kv as Wire).value), "", "a DELETE carries only the key and mod_revision");
    w.close();
  });

  it("delivers every event when responses outrun the stream's buffer (nothing taken is dropped)", async () => {
    // 20 watchers on one stream and 100 writes at once: hundreds of responses queue in a turn,
    // far beyond what the call buffers before write() says to wait for 'drain'.
    const w = openWatch(node);
    const WATCHERS = 20;
    const WRITES = 100;
    for (let i = 0; i < WATCHERS; i++)
      w.send({ create_request: { key: b("burst/"), range_end: b("burst0") } });
    for (let i = 0; i < WATCHERS; i++) assert.equal((await w.next()).created, true);
    await Promise.all(
      Array.from({ length: WRITES }, (_, i) =>
        node.client.KV.Put({ key: b(`burst/${i}`), value: b("x".repeat(1024)) }),
      ),
    );
    const seen = new Map<string, number>();
    let total = 0;
    while (total < WATCHERS * WRITES) {
      const r = await w.next(10_000);
      const n = ((r.events as Wire[] | undefined) ?? []).length;
      seen.set(r.watch_id as string, (seen.get(r.watch_id as string) ?? 0) + n);
      total += n;
    }
    assert.equal(seen.size, WATCHERS);
    for (const [id, n] of seen) assert.equal(n, WRITES, `watcher ${id}`);
    w.close();
  });

  it("cancel, progress requests, and the compacted answer", async () => {
    const w = openWatch(node);
    w.send({ create_request: { key: b("solo") } });
    const created = await w.next();
    w.send({ progress_request: {} });
    const progress = await w.next();
    assert.equal(progress.watch_id, "-1");
    assert.equal((progress.header as Wire).revision, String(node.service.sm.revision));
    w.send({ cancel_request: { watch_id: created.watch_id } });
    const canceled = await w.next();
    assert.equal(canceled.canceled, true);

    await node.client.KV.Put({ key: b("c"), value: b("1") });
    await node.client.KV.Put({ key: b("c"), value: b("2") });
    const rev = node.service.sm.revision;
    await node.client.KV.Compact({ revision: rev });
    w.send({ create_request: { key: b("c"), start_revision: rev - 1 } });
    let answer = await w.next();
    if (answer.created && !answer.canceled) answer = await w.next();
    assert.equal(answer.canceled, true);
    assert.equal(answer.compact_revision, String(rev));
    w.close();
  });

  it("a follower's watch sees the writes it applies", async () => {
    const follower = nodes[1] as TestNode;
    const w = openWatch(follower);
    w.send({ create_request: { key: b("fw") } });
    await w.next();
    await node.client.KV.Put({ key: b("fw"), value: b("x") });
    const ev = ((await w.next()).events as Wire[])[0] as Wire;
    assert.equal(str((ev.kv as Wire).value), "x");
    w.close();
  });
});
