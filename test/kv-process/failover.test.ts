// Three `kv serve` processes: reads and writes through any node, kill -9 of the leader,
// catch-up of a restarted node (through the log and through InstallSnapshot), exactly-once
// retries across nodes.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Client, killAll, request, TestCluster } from "./harness.js";

let c: TestCluster;
before(async () => {
  // A small snapshot interval so that a node that was down misses compacted entries.
  c = await TestCluster.create(3, ["--snapshot-entries", "50", "--log-level", "debug"]);
  await c.startAll();
});
after(() => {
  killAll();
  c?.cleanup();
});

const other = (ids: number[], not: number): number => ids.find((i) => i !== not) as number;

/** Waits until node `id` has applied at least `index`. */
async function appliedAtLeast(id: number, index: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const s = await c.status(id);
    if (s && s.appliedIndex >= index) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`node ${id} did not apply index ${index} in time`);
}

describe("kv serve processes", () => {
  it("writes and reads through any node (followers forward to the leader)", async () => {
    const leader = await c.leader();
    for (const n of c.nodes) {
      const put = await request(`${c.url(n.id)}/v1/kv/k${n.id}`, {
        method: "PUT",
        body: `v${n.id}`,
      });
      assert.equal(put?.status, 200, `PUT through node ${n.id}`);
    }
    for (const n of c.nodes) {
      for (const m of c.nodes) {
        const get = await request(`${c.url(n.id)}/v1/kv/k${m.id}`);
        assert.deepEqual(
          get,
          { status: 200, body: `v${m.id}` },
          `GET k${m.id} through node ${n.id}`,
        );
      }
    }
    const s = await c.status(leader);
    assert.equal(s?.role, "leader");
    assert.deepEqual(s?.members, [1, 2, 3]);
  });

  it("kill -9 of the leader: a new leader is elected and writes resume", async () => {
    const old = await c.leader();
    await c.kill9(old);
    const client = new Client("failover", () => c.urls.filter((_, i) => i + 1 !== old));
    const put = await client.write("PUT", "/v1/kv/after-failover", "yes", 15_000);
    assert.equal(put?.status, 200);
    const next = await c.leader();
    assert.notEqual(next, old);

    // The old leader restarts from its data directory and catches up through the log.
    await c.start(old);
    const s = await c.status(next);
    await appliedAtLeast(old, s?.commitIndex ?? Number.POSITIVE_INFINITY);
    assert.deepEqual(await request(`${c.url(old)}/v1/kv/after-failover`), {
      status: 200,
      body: "yes",
    });
  });

  it("a node that was down while the log was compacted catches up through InstallSnapshot", async () => {
    const leader = await c.leader();
    const down = other([1, 2, 3], leader);
    await c.kill9(down);
    const client = new Client("bulk", () => [c.url(leader)]);
    for (let i = 0; i < 120; i++) {
      const r = await client.write("PUT", `/v1/kv/bulk-${i}`, `${i}`);
      assert.equal(r?.status, 200);
    }
    const before = c.logs.get(down)?.length ?? 0;
    await c.start(down);
    const s = await c.status(leader);
    await appliedAtLeast(down, s?.commitIndex ?? Number.POSITIVE_INFINITY);
    const log = (c.logs.get(down) ?? "").slice(before);
    assert.match(log, /installed snapshot from leader/, "caught up through a snapshot");
  });

  it("exactly-once: a retried write with the same client and request id is applied once", async () => {
    await c.leader();
    const headers = { "x-client-id": "eo-client", "x-request-id": "7" };
    const body = "+once";
    const first = await request(`${c.url(1)}/v1/kv/eo?op=append`, {
      method: "POST",
      body,
      headers,
    });
    assert.equal(first?.status, 200);
    for (const n of c.nodes) {
      const retry = await request(`${c.url(n.id)}/v1/kv/eo?op=append`, {
        method: "POST",
        body,
        headers,
      });
      assert.equal(retry?.status, 200, `retry through node ${n.id} answers like the original`);
    }
    assert.deepEqual(await request(`${c.url(2)}/v1/kv/eo`), { status: 200, body: "+once" });
    const stale = await request(`${c.url(3)}/v1/kv/eo?op=append`, {
      method: "POST",
      body,
      headers: { ...headers, "x-request-id": "6" },
    });
    assert.equal(stale?.status, 400, "an id below the latest is refused");
  });
});
