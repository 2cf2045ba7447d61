// The durability promise (docs/architecture.md, "The durability model"): an acknowledged
// write survives kill -9 of every node at once, once they restart with the same data
// directories.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Client, killAll, sleep, TestCluster } from "./harness.js";

let c: TestCluster | undefined;
after(() => {
  killAll();
  c?.cleanup();
});

describe("kv serve durability", () => {
  it("kill -9 of all nodes during a write load loses no acknowledged write, and keeps order", async () => {
    const cluster = await TestCluster.create(3);
    c = cluster;
    await cluster.startAll();
    await cluster.leader();

    const CLIENTS = 4;
    const acked: string[][] = Array.from({ length: CLIENTS }, () => []);
    const sent: string[][] = Array.from({ length: CLIENTS }, () => []);
    let load = true;
    const workers = Array.from({ length: CLIENTS }, async (_, k) => {
      const client = new Client(`durable-${k}`, () => cluster.urls);
      for (let i = 0; load && i < 100_000; i++) {
        const token = `c${k}.${i};`;
        sent[k]?.push(token);
        const a = await client.write("POST", "/v1/kv/journal?op=append", token, 1500);
        // Once the nodes are dead the client gives up: the write's outcome is unknown.
        if (a === null) return;
        assert.equal(a.status, 200, `append ${token}: ${a.body}`);
        acked[k]?.push(token);
      }
    });

    // Let the load run, then kill every process at once (no clean shutdown, no final fsync).
    const deadline = Date.now() + 10_000;
    while (acked.flat().length < 200 && Date.now() < deadline) await sleep(20);
    await Promise.all(cluster.nodes.map((n) => cluster.kill9(n.id)));
    load = false;
    await Promise.all(workers);
    const ackedCount = acked.flat().length;
    assert.ok(ackedCount >= 50, `only ${ackedCount} writes acknowledged before the kill`);

    await cluster.startAll();
    await cluster.leader();
    const reader = new Client("reader", () => cluster.urls);
    const got = await reader.read("/v1/kv/journal", 15_000);
    assert.equal(got?.status, 200);
    const tokens = (got?.body ?? "")
      .split(";")
      .filter((t) => t !== "")
      .map((t) => `${t};`);

    const seen = new Map<string, number>();
    for (const t of tokens) seen.set(t, (seen.get(t) ?? 0) + 1);
    for (const [t, n] of seen) assert.equal(n, 1, `${t} appears ${n} times`);
    for (let k = 0; k < CLIENTS; k++) {
      for (const t of acked[k] ?? []) assert.ok(seen.has(t), `acknowledged ${t} lost`);
      const mine = tokens.filter((t) => t.startsWith(`c${k}.`));
      assert.deepEqual(
        mine,
        (sent[k] ?? []).slice(0, mine.length),
        `client ${k}'s appends are present in order, as a prefix of what it sent`,
      );
    }
    console.log(`durability: ${ackedCount} acknowledged appends survived kill -9 of all nodes`);
  });
});
