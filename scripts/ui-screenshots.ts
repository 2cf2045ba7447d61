// Takes the README's screenshots of the cluster dashboard and the MapReduce job page in headless
// Chromium (test/ui/browser.ts), on real processes: a 3-node `kv serve` cluster under a light
// client load whose leader is killed and restarted (so the page has a leader history and
// charts), and an `mr run` of the gated word count caught in its reduce phase.
//
//   npm run build && flock /tmp/bench.lock node --import tsx scripts/ui-screenshots.ts \
//     [--dashboard docs/dashboard.png] [--job docs/mr-job.png] [--load-seconds 60]

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client, killAll, removeTempDirs, TestCluster } from "../test/kv-process/harness.js";
import {
  APPS,
  freePort,
  killAll as killMr,
  makeInputs,
  removeTempDirs as removeMrDirs,
  runJob,
  tempDir,
  waitFor,
} from "../test/mapreduce/helpers.js";
import { openBrowser, waitUntil } from "../test/ui/browser.js";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? def) : def;
};
const dashboardPng = flag("--dashboard", "docs/dashboard.png");
const jobPng = flag("--job", "docs/mr-job.png");
const loadSeconds = Number(flag("--load-seconds", "60"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const browser = await openBrowser();
if (!browser) process.exit(1);

async function dashboard(): Promise<void> {
  const cluster = await TestCluster.create(3);
  try {
    await cluster.startAll();
    let leader = await cluster.leader(30_000);
    const follower = cluster.nodes.find((n) => n.id !== leader)?.id as number;
    const client = new Client("screenshot", () => [cluster.url(follower)]);
    for (const [k, v] of [
      ["config/election-timeout", "300ms"],
      ["config/heartbeat", "50ms"],
      ["users/ada", '{"name":"Ada Lovelace","role":"admin"}'],
      ["users/alan", '{"name":"Alan Turing","role":"reader"}'],
      ["users/barbara", '{"name":"Barbara Liskov","role":"writer"}'],
      ["users/edsger", '{"name":"Edsger Dijkstra","role":"reader"}'],
      ["users/leslie", '{"name":"Leslie Lamport","role":"admin"}'],
    ])
      await client.write("PUT", `/v1/kv/${k}`, v as string);

    const p = await browser?.newPage();
    if (!p) return;
    await p.page.goto(`${cluster.url(follower)}/ui`);
    await waitUntil(p.page, `document.body.dataset.state === "live"`, 30_000);

    // A light load through the follower: writes and reads, about 50 a second, with the
    // leader killed a third of the way in and restarted (a new leader, then a full cluster).
    const until = Date.now() + loadSeconds * 1000;
    let i = 0;
    const load = (async () => {
      while (Date.now() < until) {
        const key = `counter/${i % 20}`;
        await client.write("PUT", `/v1/kv/${key}`, String(i), 5000);
        await client.read(`/v1/kv/${key}`, 5000);
        i++;
        await sleep(30);
      }
    })();
    await sleep((loadSeconds * 1000) / 4);
    const old = leader;
    await cluster.kill9(old);
    leader = await cluster.leader(30_000);
    await sleep(4000);
    await cluster.start(old);

    await p.page.getByLabel("Key prefix").fill("users/");
    await p.page.getByRole("button", { name: "Search" }).click();
    await waitUntil(p.page, `document.querySelectorAll("#keys tbody tr").length === 5`, 30_000);
    await p.page.getByLabel("Span").selectOption("60");
    await waitUntil(
      p.page,
      `[...document.querySelectorAll("#members tbody tr")].every((r) => !r.classList.contains("down"))`,
      30_000,
    );
    // While the load still runs: the charts and the members' request rates are live.
    await sleep(Math.max(0, until - Date.now() - 3000));
    await p.page.screenshot({ path: dashboardPng, fullPage: true });
    await load;
    console.log(
      `${dashboardPng}: node ${follower}'s dashboard, ${i} writes and reads, leader ${old} killed and restarted`,
    );
    p.assertClean(/ERR_CONNECTION_REFUSED|HTTP 50[34]/);
  } finally {
    killAll();
    cluster.cleanup();
    removeTempDirs();
  }
}

async function job(): Promise<void> {
  const dir = tempDir("mr-shot-");
  const inputs = makeInputs(dir, 6, 3000);
  const port = await freePort();
  const run = runJob(
    {
      app: join(APPS, "gated.mjs"),
      workers: 2,
      reduce: 4,
      out: join(dir, "out"),
      inputs,
      flags: ["--http", `127.0.0.1:${port}`, "--task-timeout", "120s"],
    },
    { MR_TEST_DIR: dir },
  );
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => (await fetch(`${url}/status`).catch(() => null))?.ok === true,
      30_000,
      "the status server",
    );
    const p = await browser?.newPage();
    if (!p) return;
    await p.page.goto(`${url}/ui`);
    // Caught with its maps done and its reduces held by the gate (the ones that got no keys
    // finish at once).
    await waitUntil(
      p.page,
      `document.querySelector("#map-text").textContent.startsWith("6 of 6 done") && document.querySelectorAll("#tasks [data-state=warn]").length === 2`,
      60_000,
    );
    await sleep(1500);
    await p.page.screenshot({ path: jobPng, fullPage: true });
    console.log(`${jobPng}: the job page in the reduce phase`);
    writeFileSync(join(dir, "release"), "");
    await waitUntil(p.page, `document.body.dataset.state === "done"`, 60_000);
    p.assertClean();
    await run.exited;
  } finally {
    killMr();
    removeMrDirs();
  }
}

try {
  await dashboard();
  await job();
} finally {
  await browser.close();
}
