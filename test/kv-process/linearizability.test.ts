// Linearizability under process faults: concurrent clients do random put/append/get on a few
// keys through random nodes while a nemesis kill -9s and restarts nodes and pauses them with
// SIGSTOP/SIGCONT. The recorded history must be linearizable (src/sim/linearizability.ts), and
// every acknowledged append must appear exactly once in the final values.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, describe, it } from "node:test";
import { checkHistory, formatResult, type KvOperation } from "../../src/sim/linearizability.js";
import { Rng } from "../../src/sim/rng.js";
import { Client, killAll, request, sleep, TestCluster } from "./harness.js";

const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
const KEYS = ["a", "b", "log"];
/** Only appended to (never put), so each append's token must survive in its final value. */
const APPEND_ONLY = "log";
const CLIENTS = 4;
const LOAD_MS = 8000;

let c: TestCluster | undefined;
after(() => {
  killAll();
  c?.cleanup();
});

describe("kv serve linearizability", () => {
  it(`random put/append/get under kill -9 and SIGSTOP is linearizable (SEED=${SEED})`, async () => {
    console.log(`linearizability: SEED=${SEED}`);
    const rng = new Rng(SEED);
    const cluster = await TestCluster.create(3);
    c = cluster;
    await cluster.startAll();
    await cluster.leader();

    const history: KvOperation[] = [];
    const appended: { key: string; token: string; acked: boolean }[] = [];
    const stopAt = performance.now() + LOAD_MS;

    const clients = Array.from({ length: CLIENTS }, async (_, k) => {
      const crng = new Rng(`${SEED}-${k}`);
      const client = new Client(`lin-${SEED}-${k}`, () => cluster.urls);
      for (let i = 0; performance.now() < stopAt; i++) {
        const key = KEYS[crng.u32() % KEYS.length] as string;
        const dice = crng.float();
        const call = performance.now();
        if (dice < 0.4) {
          const a = await client.read(`/v1/kv/${key}`, 3000);
          // A read that never got an answer had no effect: leave it out of the history.
          if (a === null) continue;
          assert.ok(a.status === 200 || a.status === 404, `GET ${key}: ${a.status} ${a.body}`);
          history.push({
            key,
            client: k,
            input: { op: "get" },
            output: { value: a.status === 200 ? a.body : null },
            call,
            return: performance.now(),
          });
        } else {
          const append = dice < 0.7 || key === APPEND_ONLY;
          const value = append ? `[${k}.${i}]` : `${k}.${i}`;
          const path = append ? `/v1/kv/${key}?op=append` : `/v1/kv/${key}`;
          const a = await client.write(append ? "POST" : "PUT", path, value, 3000);
          if (a !== null)
            assert.equal(a.status, 200, `${append ? "append" : "put"} ${key}: ${a.body}`);
          if (append) appended.push({ key, token: value, acked: a !== null });
          history.push({
            key,
            client: k,
            input: append ? { op: "append", value } : { op: "put", value },
            ...(a === null ? {} : { output: {} }),
            call,
            return: a === null ? Number.POSITIVE_INFINITY : performance.now(),
          });
        }
      }
    });

    const nemesis = (async () => {
      while (performance.now() < stopAt - 1000) {
        await sleep(400 + (rng.u32() % 400));
        const victim = 1 + (rng.u32() % 3);
        if (rng.float() < 0.5) {
          await cluster.kill9(victim);
          await sleep(300 + (rng.u32() % 500));
          await cluster.start(victim);
        } else {
          cluster.pause(victim);
          await sleep(300 + (rng.u32() % 700));
          cluster.resume(victim);
        }
      }
    })();

    await Promise.all([...clients, nemesis]);
    const result = checkHistory(history);
    assert.equal(result.result, "ok", formatResult(result));

    // The append-only key's final value: every acknowledged append exactly once,
    // unacknowledged ones at most once.
    await cluster.leader();
    const reader = new Client("final-reader", () => cluster.urls);
    const final = await reader.read(`/v1/kv/${APPEND_ONLY}`, 10_000);
    const value = final?.status === 200 ? final.body : "";
    const ours = appended.filter((x) => x.key === APPEND_ONLY);
    assert.ok(
      ours.some((x) => x.acked),
      "some appends were acknowledged",
    );
    for (const ap of ours) {
      const n = value.split(ap.token).length - 1;
      if (ap.acked) assert.equal(n, 1, `acknowledged append ${ap.token} appears ${n} times`);
      else assert.ok(n <= 1, `append ${ap.token} appears ${n} times`);
    }
    const writes = history.filter((h) => h.input.op !== "get").length;
    const unknown = history.filter((h) => h.return === Number.POSITIVE_INFINITY).length;
    console.log(
      `linearizability: ${history.length} operations (${writes} writes, ${unknown} unknown), linearizable`,
    );
    // Sanity: the check had something to chew on.
    assert.ok(history.length > 40, `only ${history.length} operations completed`);
    assert.ok((await request(`${cluster.url(1)}/v1/status`)) !== null);
  });
});
