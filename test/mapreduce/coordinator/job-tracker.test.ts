import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JobTracker } from "../../../src/mapreduce/coordinator/job-tracker.js";
import type { Assignment } from "../../../src/mapreduce/protocol/messages.js";

const HASH = "a".repeat(64);
const counters = { inputBytes: 1, inputRecords: 1, outputPairs: 1, spills: 0 };

function setup(maps = 2, nReduce = 2) {
  const splits = Array.from({ length: maps }, (_, i) => ({
    path: `f${i}`,
    start: 0,
    end: 10,
    size: 10,
    mtimeMs: 0,
  }));
  const s = new JobTracker({ splits, nReduce, taskTimeoutMs: 1000, heartbeatMs: 250 });
  const join = (now = 0, port = 9000) => {
    const r = s.register(
      { appHash: HASH, appName: "wc.ts", advertise: `http://127.0.0.1:${port}` },
      now,
    );
    assert.ok(r.ok);
    return r.value.workerId;
  };
  const ask = (w: number, now: number) => s.requestTask(w, now) as Assignment;
  /** Completes a task as its worker would: map via complete, reduce via the output upload. */
  const finish = (w: number, a: Assignment, now: number) => {
    assert.ok(a.type === "map" || a.type === "reduce");
    if (a.type === "map") return s.completeMap(w, a.attempt, counters, now);
    if (s.canAcceptOutput(w, a.attempt, now) === undefined) return false;
    s.completeReduce(w, a.attempt, counters, now);
    return true;
  };
  return { s, join, ask, finish };
}

describe("JobTracker", () => {
  it("hands out every map task, then reduce tasks only once every map task is done", () => {
    const { s, join, ask, finish } = setup(2, 1);
    const w1 = join();
    const w2 = join();
    const m1 = ask(w1, 0);
    const m2 = ask(w2, 0);
    assert.equal(m1.type, "map");
    assert.equal(m2.type, "map");
    assert.ok(finish(w1, m1, 10));
    assert.equal(ask(w1, 10).type, "wait", "no reduce while a map task runs");
    assert.ok(finish(w2, m2, 20));
    const r = ask(w1, 20);
    assert.equal(r.type, "reduce");
    assert.ok(
      r.type === "reduce" &&
        r.sources.length === 2 &&
        r.sources.every((x) => x.url.startsWith("http://127.0.0.1:9000/v1/map-output/")),
    );
    assert.ok(finish(w1, r, 30));
    assert.ok(s.succeeded);
    assert.equal(ask(w2, 30).type, "done");
    assert.equal(s.status(30).counters.attempts, 3, "every task ran exactly once");
  });

  it("refuses a worker whose app differs from the first worker's", () => {
    const { s, join } = setup();
    join();
    const r = s.register(
      { appHash: "b".repeat(64), appName: "other.mjs", advertise: "http://127.0.0.1:1" },
      0,
    );
    assert.ok(!r.ok && /other\.mjs differs from the job's app/.test(r.error));
  });

  it("refuses a worker whose app failed to load, with its reason, and counts no task failure", () => {
    const { s, join, ask, finish } = setup(1, 1);
    const reason = "app package.json: not a module: expected a .js, .mjs, .ts or .mts file";
    const refused = s.register(
      {
        appHash: "b".repeat(64),
        appName: "package.json",
        advertise: "http://127.0.0.1:1",
        appError: reason,
      },
      0,
    );
    assert.deepEqual(refused, { ok: false, error: reason });
    assert.deepEqual(s.events.at(-1), { type: "worker-refused", app: "package.json", reason });
    // The refused worker fixed nothing: the next worker's app becomes the job's.
    const w = join(10);
    const st = s.status(10);
    assert.equal(st.refusedWorkers, 1);
    assert.equal(st.lastRefusal, reason);
    assert.equal(st.workers, 1);
    assert.equal(st.counters.failures, 0, "a refusal is not a task failure");
    assert.ok(finish(w, ask(w, 20), 30));
    assert.ok(finish(w, ask(w, 40), 50));
    assert.equal(s.status(50).phase, "done");
  });

  it("reissues the task of a worker that stops heartbeating, without counting a failure", () => {
    const { s, join, ask, finish } = setup(1, 1);
    const w1 = join();
    const m = ask(w1, 0);
    const w2 = join(900);
    assert.equal(ask(w2, 900).type, "wait");
    s.heartbeat(w2, undefined, 1100);
    s.tick(1100); // w1 silent for 1100 ms > 1000
    const again = ask(w2, 1100);
    assert.equal(again.type, "map");
    assert.equal(s.requestTask(w1, 1200), undefined, "a lost worker must register again");
    assert.equal(finish(w1, m, 1200), false, "a lost worker's late completion is ignored");
    assert.ok(finish(w2, again, 1300));
    assert.equal(s.status(1300).tasks[0]?.failures, 0);
  });

  it("reissues a task whose app makes no progress; heartbeats alone are not progress", () => {
    const { s, join, ask } = setup(1, 1);
    const w1 = join();
    const m = ask(w1, 0);
    assert.ok(m.type === "map");
    s.heartbeat(w1, { attempt: m.attempt, progress: 1 }, 600);
    s.tick(1500);
    assert.equal(s.status(1500).map.running, 1, "progress at 600 ms keeps it alive at 1500 ms");
    for (let t = 1700; t <= 2000; t += 100) s.heartbeat(w1, { attempt: m.attempt, progress: 1 }, t);
    s.tick(2000);
    assert.equal(s.status(2000).map.running, 0, "stalled since 600 ms: given up");
    assert.deepEqual(s.heartbeat(w1, { attempt: m.attempt, progress: 1 }, 2000), {
      cancel: true,
      done: false,
    });
    assert.equal(ask(w1, 2100).type, "map", "the task is handed out again");
  });

  it("accepts only the first completion of a task", () => {
    const { s, join, ask, finish } = setup(1, 1);
    const w1 = join();
    const w2 = join();
    const m = ask(w1, 0);
    s.heartbeat(w1, undefined, 900);
    s.heartbeat(w2, undefined, 900);
    s.tick(1500); // w1's attempt stalled (no progress since 0): the task is idle again
    const m2 = ask(w2, 1500);
    assert.equal(m2.type, "map");
    assert.ok(finish(w2, m2, 1600));
    s.heartbeat(w1, undefined, 1600);
    assert.equal(finish(w1, m, 1700), false);
  });

  it("reruns completed map tasks whose worker is lost before every reducer fetched them", () => {
    const { s, join, ask, finish } = setup(2, 1);
    const w1 = join(0, 9001);
    const w2 = join(0, 9002);
    assert.ok(finish(w1, ask(w1, 0), 10));
    assert.ok(finish(w1, ask(w1, 10), 20));
    const r = ask(w2, 20);
    assert.equal(r.type, "reduce");
    // The reducer cannot fetch from w1, which has been silent for a while: w1 is lost.
    assert.ok(r.type === "reduce");
    s.fail(w2, r.attempt, "fetch", "connection refused", r.sources[0]?.mapTask, 600);
    const st = s.status(600);
    assert.equal(st.lostWorkers, 1);
    assert.equal(st.map.done, 0, "both map tasks run again");
    assert.equal(st.tasks[2]?.failures, 0, "fetch failures do not count");
    const again = ask(w2, 600);
    assert.ok(again.type === "map");
  });

  it("fails the job after 4 app failures of one task, with the app's error", () => {
    const { s, join, ask } = setup(1, 1);
    const w = join();
    for (let i = 0; i < 4; i++) {
      const a = ask(w, i);
      assert.ok(a.type === "map");
      s.fail(
        w,
        a.attempt,
        "app",
        "app x.mjs: map task 0 (input f0): map threw: boom",
        undefined,
        i,
      );
    }
    assert.ok(s.finished && !s.succeeded);
    assert.match(s.failure ?? "", /map threw: boom \(failed 4 times/);
    assert.equal(ask(w, 10).type, "done");
  });

  it("starts one backup copy of a straggler once it ran > 3x the median and >= 5 s", () => {
    const { s, join, ask, finish } = setup(3, 1);
    const [w1, w2, w3] = [join(), join(), join()];
    const slow = ask(w1, 0);
    assert.ok(finish(w2, ask(w2, 0), 1000));
    assert.ok(finish(w3, ask(w3, 0), 1000));
    const beat = (t: number) => {
      s.heartbeat(w1, slow.type === "map" ? { attempt: slow.attempt, progress: t } : undefined, t);
      s.heartbeat(w2, undefined, t);
    };
    beat(4900);
    assert.equal(ask(w2, 4900).type, "wait", "not before 5 s");
    beat(5100);
    const backup = ask(w2, 5100);
    assert.ok(backup.type === "map" && slow.type === "map" && backup.task === slow.task);
    assert.equal(ask(w3, 5100).type, "wait", "only one backup per task");
    assert.ok(finish(w2, backup, 5200));
    assert.deepEqual(
      s.heartbeat(w1, { attempt: slow.type === "map" ? slow.attempt : 0, progress: 9999 }, 5300),
      { cancel: true, done: false },
    );
    assert.equal(s.status(5300).counters.backups, 1);
  });
});
