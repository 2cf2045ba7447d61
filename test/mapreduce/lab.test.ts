// Process-level equivalents of the MIT 6.5840 MapReduce lab tests (test-mr.sh): outputs equal
// the sequential reference, map and reduce tasks run in parallel, each map task runs once when
// nothing fails, nobody exits before the output is complete, and crashes do not matter.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  APPS,
  cleanUpAfterAll,
  EXAMPLES,
  makeInputs,
  outputLines,
  runJob,
  seqLines,
  startCoordinator,
  startWorker,
  tempDir,
  waitFor,
} from "./helpers.js";
import { SEED } from "./seed.js";

cleanUpAfterAll();

describe("mr lab: results", { timeout: 240_000 }, () => {
  const inputs = makeInputs(tempDir(), 4);

  it("wc (TypeScript app, 2 workers, 3 reduce tasks) equals mr seq", async () => {
    const out = tempDir();
    const p = runJob({ app: join(EXAMPLES, "wc.ts"), workers: 2, reduce: 3, out, inputs });
    assert.equal(await p.exited, 0, p.stderr());
    assert.deepEqual(outputLines(out), await seqLines(join(EXAMPLES, "wc.ts"), inputs));
    assert.deepEqual(readdirSync(out).sort(), ["mr-out-0", "mr-out-1", "mr-out-2"]);
    // Keys are sorted in UTF-8 byte order within each file.
    for (let r = 0; r < 3; r++) {
      const keys = readFileSync(join(out, `mr-out-${r}`), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ")[0] as string);
      const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.deepEqual(keys, sorted);
    }
    assert.match(p.stdout(), /job done/);
  });

  it("indexer equals mr seq, with input splits (small --split-size) and reduce input on disk (small --memory)", async () => {
    const out = tempDir();
    const app = join(EXAMPLES, "indexer.mjs");
    const p = runJob({
      app,
      workers: 2,
      reduce: 2,
      flags: ["--split-size", "4KiB", "--memory", "16KiB"],
      out,
      inputs,
    });
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout(), /(\d+) map tasks/);
    assert.ok(Number(/(\d+) map tasks/.exec(p.stdout())?.[1]) > inputs.length, "inputs were split");
    assert.deepEqual(outputLines(out), await seqLines(app, inputs));
  });
});

describe("mr examples", { timeout: 240_000 }, () => {
  const inputs = makeInputs(tempDir(), 3);

  it("sort: range partitions concatenate into one sorted output, equal to seq", async () => {
    const out = tempDir();
    const app = join(EXAMPLES, "sort.mjs");
    const p = runJob({ app, workers: 2, reduce: 3, out, inputs });
    assert.equal(await p.exited, 0, p.stderr());
    const all = [0, 1, 2].flatMap((r) =>
      readFileSync(join(out, `mr-out-${r}`), "utf8")
        .split("\n")
        .filter(Boolean),
    );
    const keys = all.map((l) => l.slice(0, l.lastIndexOf(" ")));
    const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(keys, sorted);
    assert.deepEqual([...all].sort(), await seqLines(app, inputs));
  });

  it("grep: the pattern comes from MR_GREP_PATTERN; output equals seq", async () => {
    const out = tempDir();
    const app = join(EXAMPLES, "grep.mjs");
    const env = { MR_GREP_PATTERN: "über.*whale" };
    const p = runJob({ app, workers: 2, reduce: 2, out, inputs }, env);
    assert.equal(await p.exited, 0, p.stderr());
    const lines = outputLines(out);
    assert.ok(lines.length > 0 && lines.every((l) => /über.*whale/.test(l)));
    assert.deepEqual(lines, await seqLines(app, inputs, env));
  });
});

describe("mr lab: parallelism and exactly-once", { timeout: 240_000 }, () => {
  it("map tasks run in parallel on two workers", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 2, 5);
    const out = tempDir();
    const p = runJob(
      { app: join(APPS, "mtiming.mjs"), workers: 2, reduce: 1, out, inputs },
      { MR_TEST_DIR: dir },
    );
    assert.equal(await p.exited, 0, p.stderr());
    assert.deepEqual(outputLines(out), ["parallel 2"]);
  });

  it("reduce tasks run in parallel on two workers", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 2, 5);
    const out = tempDir();
    const p = runJob(
      { app: join(APPS, "rtiming.mjs"), workers: 2, reduce: 2, out, inputs },
      { MR_TEST_DIR: dir },
    );
    assert.equal(await p.exited, 0, p.stderr());
    assert.ok(
      outputLines(out).some((l) => l.endsWith(" 2")),
      outputLines(out).join("\n"),
    );
  });

  it("each map task runs exactly once when nothing fails", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 8, 5);
    const out = tempDir();
    const p = runJob(
      { app: join(APPS, "jobcount.mjs"), workers: 3, reduce: 2, out, inputs },
      { MR_TEST_DIR: dir },
    );
    assert.equal(await p.exited, 0, p.stderr());
    assert.equal(readdirSync(join(dir, "runs")).length, inputs.length);
    assert.deepEqual(outputLines(out), [`a ${inputs.length}`]);
    assert.match(p.stdout(), /retries 0, backups 0/);
  });

  it("no process exits before every output file is in place (early exit)", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 3, 5);
    const out = tempDir();
    const app = join(APPS, "early-exit.mjs");
    const c = await startCoordinator([
      "--reduce",
      "3",
      "--out",
      out,
      "--task-timeout",
      "5s",
      ...inputs,
    ]);
    const workers = [0, 1, 2].map(() => startWorker(c.addr, app));
    const first = await Promise.race(
      [c.proc, ...workers].map((p) => p.exited.then(() => outputLines(out))),
    );
    await Promise.all([c.proc, ...workers].map((p) => p.exited));
    assert.equal(await c.proc.exited, 0, c.proc.stderr());
    for (const w of workers) assert.equal(await w.exited, 0, w.stderr());
    const final = outputLines(out);
    assert.deepEqual(first, final, "output at the first exit equals the final output");
    assert.deepEqual(final, await seqLines(app, inputs));
  });
});

describe("mr lab: crashes", { timeout: 240_000 }, () => {
  const crashSeed = String(SEED);
  // A timeout turns a hang into a failure that names the seed.
  const limit = { timeout: 150_000 };

  it(
    "output equals seq while apps crash, exit and hang and workers keep restarting",
    limit,
    async () => {
      const dir = tempDir();
      const inputs = makeInputs(dir, 5, 20);
      const out = tempDir();
      const app = join(APPS, "crash.mjs");
      const c = await startCoordinator([
        "--reduce",
        "3",
        "--out",
        out,
        "--task-timeout",
        "1s",
        ...inputs,
      ]);
      let coordinatorDone = false;
      void c.proc.exited.then(() => {
        coordinatorDone = true;
      });
      // Keep three workers running: restart each one that dies, until the job is over. A worker
      // started just as the coordinator exits would look for it for a while: it is killed.
      const running = new Set<ReturnType<typeof startWorker>>();
      const keepAlive = async () => {
        while (!coordinatorDone) {
          const w = startWorker(c.addr, app, ["--log-level", "error", "--connect-timeout", "2s"], {
            MR_CRASH_SEED: crashSeed,
          });
          running.add(w);
          await w.exited;
          running.delete(w);
        }
      };
      const lanes = [keepAlive(), keepAlive(), keepAlive()];
      await waitFor(() => coordinatorDone, 90_000, "the crash job to finish");
      for (const w of running) w.child.kill("SIGKILL");
      await Promise.all(lanes);
      assert.equal(await c.proc.exited, 0, c.proc.stderr());
      assert.deepEqual(outputLines(out), await seqLines(app, inputs, { MR_CRASH: "0" }));
    },
  );

  it("mr run replaces worker processes that die", limit, async () => {
    const inputs = makeInputs(tempDir(), 3, 20);
    const out = tempDir();
    const app = join(APPS, "crash.mjs");
    const p = runJob(
      { app, workers: 2, reduce: 2, flags: ["--task-timeout", "1s"], out, inputs },
      { MR_CRASH_SEED: crashSeed },
    );
    assert.equal(await p.exited, 0, p.stderr());
    assert.deepEqual(outputLines(out), await seqLines(app, inputs, { MR_CRASH: "0" }));
  });
});
