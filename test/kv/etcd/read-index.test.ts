// A follower's linearizable reads (src/kv/etcd/backend.ts leaderRevision): they share one
// read-index call to the leader per round trip, and a read never uses a call that was already
// on its way when the read arrived (its barrier may predate writes acknowledged before it).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { b, startNodes, stopNodes, type TestNode } from "./harness.js";

describe("etcd API: a follower's linearizable reads", () => {
  let nodes: TestNode[];
  let leader: TestNode;
  let follower: TestNode;
  /** The leader's read barriers, held until the test releases them. */
  const barriers: Array<() => void> = [];
  before(async () => {
    nodes = await startNodes(2);
    [leader, follower] = nodes as [TestNode, TestNode];
    leader.service.readBarrier = () => new Promise<void>((resolve) => barriers.push(resolve));
  });
  after(async () => stopNodes(nodes));

  const waitFor = async (what: string, cond: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it("reads arriving while a read-index call is in flight share the next call, sent after it", async () => {
    const done: string[] = [];
    const read = (name: string) =>
      follower.client.KV.Range({ key: b("k") }).then(() => done.push(name));
    const first = read("first");
    await waitFor("the first barrier", () => barriers.length === 1);
    const later = Array.from({ length: 20 }, (_, i) => read(`later-${i}`));
    // They arrived while call 1 is in flight: none may be answered by it.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(barriers.length, 1, "no second call while the first is in flight");
    barriers.shift()?.();
    await first;
    await waitFor("the second barrier", () => barriers.length === 1);
    assert.deepEqual(done, ["first"], "the later reads wait for a barrier that started after them");
    barriers.shift()?.();
    await Promise.all(later);
    assert.equal(done.length, 21);
    assert.equal(barriers.length, 0, "20 reads, one call");
  });

  it("a failed call fails its reads (Unavailable); the next reads get a new call", async () => {
    const held = leader.service.readBarrier;
    leader.service.readBarrier = () => Promise.reject(new Error("barrier failed"));
    const failed = await follower.client.KV.Range({ key: b("k") }).then(
      () => "answered",
      (e: { code?: number }) => `error ${e.code}`,
    );
    assert.equal(failed, "error 14");
    leader.service.readBarrier = held;
    const next = follower.client.KV.Range({ key: b("k") });
    await waitFor("a new barrier", () => barriers.length === 1);
    barriers.shift()?.();
    await next;
  });
});
