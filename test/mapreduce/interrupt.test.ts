// Interrupts of `mr run`: Ctrl-C (SIGINT to the whole process group, as a terminal sends it)
// and SIGINT to `mr run` alone. Every process must clean up what it made (worker scratch
// directories, temporary app builds, partial outputs), none may be left running, and `mr run`
// exits 128 + the signal's number. (Signals to a worker and a coordinator started by hand:
// faults.test.ts.)

import assert from "node:assert/strict";
import { copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  APPS,
  cleanUpAfterAll,
  freePort,
  makeInputs,
  processesWith,
  runJob,
  status,
  tempDir,
  waitFor,
} from "./helpers.js";

cleanUpAfterAll();

/** What processes leave in their TMPDIR: worker scratch dirs and temporary app builds. */
const leftovers = (tmp: string) => readdirSync(tmp).filter((n) => n.startsWith("raftwork-"));

const scratchDirs = (tmp: string) =>
  readdirSync(tmp).filter((n) => n.startsWith("raftwork-mr-worker-"));

/**
 * `mr run` of the gated app (reduce waits for a release file that never comes), with its own
 * TMPDIR and a copy of the app at a unique path (to find its processes with ps), held in the
 * reduce phase: both workers hold map output in their scratch directories.
 */
async function jobInReducePhase() {
  const dir = tempDir();
  const tmp = tempDir("mr-interrupt-tmp-");
  const app = join(tempDir(), "interrupted-gated.mjs");
  copyFileSync(join(APPS, "gated.mjs"), app);
  const out = join(tempDir(), "out");
  const statusPort = await freePort();
  const p = runJob(
    {
      app,
      workers: 2,
      reduce: 2,
      out,
      inputs: makeInputs(dir, 4, 20),
      flags: ["--http", `127.0.0.1:${statusPort}`],
    },
    { MR_TEST_DIR: dir, MR_WAIT_PEERS: "1", TMPDIR: tmp },
    true,
  );
  const url = `http://127.0.0.1:${statusPort}/status`;
  await waitFor(
    async () => (await status(url))?.phase === "reduce" && scratchDirs(tmp).length === 2,
    60_000,
    "the reduce phase, with two workers' scratch directories",
  );
  assert.equal(processesWith(app).length, 3, "mr run and its two workers");
  return { p, tmp, app, out };
}

async function assertCleanedUp(job: Awaited<ReturnType<typeof jobInReducePhase>>) {
  const { p, tmp, app, out } = job;
  assert.equal(await p.exited, 130, p.stderr());
  assert.match(p.stderr(), /raftwork: interrupted: the job did not finish/);
  await waitFor(() => processesWith(app).length === 0, 20_000, "no process of the job left");
  assert.deepEqual(leftovers(tmp), [], "no scratch directory or app build left behind");
  assert.deepEqual(
    readdirSync(out).filter((n) => n.includes("mr-out")),
    [],
    "no output, partial or not (every reduce was held)",
  );
}

describe("mr interrupts", { timeout: 240_000 }, () => {
  it("Ctrl-C (SIGINT to the process group) of mr run: exit 130, every scratch directory removed, no process left", async () => {
    const job = await jobInReducePhase();
    process.kill(-(job.p.child.pid as number), "SIGINT");
    await assertCleanedUp(job);
  });

  it("SIGINT to mr run alone: it stops its workers, which clean up too", async () => {
    const job = await jobInReducePhase();
    job.p.child.kill("SIGINT");
    await assertCleanedUp(job);
  });
});
