// The MapReduce job page in headless Chromium, on a real job: `raftwork mr run` with two workers
// and the gated word count (test/mapreduce/apps/gated.mjs: its reduce calls wait for a release
// file, so the test sees the job mid-way without sleeping). The page loads without console
// errors, shows every map task done and the reduce tasks running on their workers, then
// follows them finishing once released, ending on "job done" with the final numbers. And a job
// whose app throws: the page, open before any worker, shows the worker joining, the failures
// and "job failed" with the app's error.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Page } from "playwright-core";
import {
  APPS,
  freePort,
  killAll,
  makeInputs,
  outputLines,
  removeTempDirs,
  runJob,
  startCoordinator,
  startWorker,
  tempDir,
  waitFor,
} from "../mapreduce/helpers.js";
import { accessibilityProblems, openBrowser, SKIP_REASON, waitUntil } from "./browser.js";

const browser = await openBrowser();
const DEADLINE = 60_000;

const text = async (page: Page, sel: string) => (await page.locator(sel).textContent()) ?? "";
const cells = (page: Page, task: string) =>
  page.locator(`#tasks tbody tr[data-task="${task}"] td`).allTextContents();

describe("MapReduce job page", { skip: browser === null && SKIP_REASON, timeout: 240_000 }, () => {
  after(async () => {
    await browser?.close();
    killAll();
    removeTempDirs();
  });

  it("shows the tasks, workers and counters, and follows the reduce tasks finishing", async () => {
    if (!browser) return;
    const dir = tempDir("mr-page-");
    const inputs = makeInputs(dir, 3, 300);
    const out = join(dir, "out");
    const port = await freePort();
    const job = runJob(
      {
        app: join(APPS, "gated.mjs"),
        workers: 2,
        reduce: 2,
        out,
        inputs,
        // A blocked reduce makes no progress: it must not be declared stalled meanwhile.
        flags: ["--http", `127.0.0.1:${port}`, "--task-timeout", "120s"],
      },
      { MR_TEST_DIR: dir },
    );
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => (await fetch(`${url}/status`).catch(() => null))?.ok === true,
      DEADLINE,
      "the coordinator's status server",
    );

    const p = await browser.newPage();
    const { page } = p;
    await page.goto(`${url}/ui`);
    await waitUntil(page, `document.body.dataset.state === "live"`, DEADLINE);
    assert.equal(await page.locator("#tasks tbody tr").count(), 5);

    // Every map task done, every reduce task running on a worker, waiting for the release.
    await waitUntil(
      page,
      `document.querySelector("#reduce-text").textContent === "0 of 2 done, 2 running"`,
      DEADLINE,
    );
    assert.equal(await text(page, "#phase-badge"), "reduce phase");
    assert.equal(await text(page, "#map-text"), "3 of 3 done, 0 running");
    assert.equal(
      await page.getAttribute("#map-progress", "aria-valuetext"),
      "3 of 3 done, 0 running",
    );
    for (const i of [0, 1, 2]) {
      const [name, state, worker, attempts] = await cells(page, `map ${i}`);
      assert.equal(name, `map ${i}`);
      assert.equal(state, "done");
      assert.match(worker ?? "", /^worker [12]$/);
      assert.equal(attempts, "1");
    }
    for (const r of [0, 1]) {
      const c = await cells(page, `reduce ${r}`);
      assert.equal(c[1], "running", c.join(" | "));
      assert.match(c[2] ?? "", /^worker [12]$/);
      assert.match(c[6] ?? "", /so far$/);
    }
    assert.equal(await page.locator("#workers tbody tr").count(), 2);
    const worker = await page.locator("#workers tbody tr:first-child td").allTextContents();
    assert.equal(worker[2], "live");
    assert.match(worker[3] ?? "", /^reduce [01]$/);
    assert.match(worker[4] ?? "", /ago$/);
    assert.match(await text(page, "#counters"), /Input[\d,]+ bytes, 900 lines/);
    assert.equal(await text(page, "#live-badge"), "live");
    assert.deepEqual(await accessibilityProblems(page), []);

    // Released: the reduce tasks finish, the page follows them to the end of the job.
    writeFileSync(join(dir, "release"), "");
    await waitUntil(page, `document.body.dataset.state === "done"`, DEADLINE);
    assert.equal(await text(page, "#phase-badge"), "job done");
    assert.equal(await text(page, "#reduce-text"), "2 of 2 done, 0 running");
    for (const r of [0, 1]) {
      const c = await cells(page, `reduce ${r}`);
      assert.equal(c[1], "done", c.join(" | "));
      assert.match(c[6] ?? "", /\d+(\.\d+)? m?s$/);
    }
    assert.equal(await job.exited, 0, job.stderr());
    const lines = outputLines(out).length;
    assert.match(await text(page, "#counters"), new RegExp(`Output${lines} lines`));
    // The final status stays on the page: the coordinator's exit is not an outage.
    assert.equal(await text(page, "#live-badge"), "final");
    assert.equal(await page.isVisible("#gone"), false);
    p.assertClean();
    await page.close();
  });

  it("shows a failing job: a worker joining, the app's failures, then 'job failed'", async () => {
    if (!browser) return;
    const dir = tempDir("mr-page-fail-");
    const c = await startCoordinator([
      "--reduce",
      "1",
      "--out",
      join(dir, "out"),
      ...makeInputs(dir, 1, 20),
    ]);
    await waitFor(
      async () => (await fetch(c.statusUrl).catch(() => null))?.ok === true,
      DEADLINE,
      "the coordinator's status server",
    );
    const p = await browser.newPage();
    const { page } = p;
    await page.goto(c.statusUrl.replace(/\/status$/, "/ui"));
    await waitUntil(page, `document.body.dataset.state === "live"`, DEADLINE);
    assert.equal(await text(page, "#phase-badge"), "map phase");
    assert.equal(await page.locator("#workers tbody tr").count(), 0);
    assert.deepEqual((await cells(page, "map 0")).slice(1, 4), ["idle", "–", "0"]);
    assert.equal(await page.isVisible("#job-error"), false);

    startWorker(c.addr, join(APPS, "map-throws.mjs"));
    await waitUntil(page, `document.body.dataset.state === "done"`, DEADLINE);
    assert.equal(await text(page, "#phase-badge"), "job failed");
    assert.equal(await page.isVisible("#job-error"), true);
    assert.match(await text(page, "#job-error"), /^The job failed: .*boom in map/);
    assert.match(await text(page, "#failures"), /map 0 failed 4 times: .*boom in map/);
    assert.match(await text(page, "#counters"), /App failures4/);
    assert.equal(await page.locator("#workers tbody tr").count(), 1);
    const [name, state, , attempts, , failures] = await cells(page, "map 0");
    assert.deepEqual([name, state, attempts, failures], ["map 0", "idle (failed)", "4", "4"]);
    assert.equal(await c.proc.exited, 1, c.proc.stderr());
    assert.deepEqual(await accessibilityProblems(page), [], "the failed job's page");
    p.assertClean();
    await page.close();
  });
});
