// Trace viewer load time and panning smoothness in headless Chromium, on the design's reference
// trace: 60 s, 5 nodes, every fault (README, "Trace viewer":
// opens in under 2 s and scrolls smoothly).
//
//   npm run build && flock /tmp/raftwork-bench.lock node --import tsx bench/viewer-load.ts \
//     [--runs 5] [--screenshot docs/viewer.png]
//
// Load: from navigation start to the first frame drawn (the page's own clock: fetching the
// page, its modules and the trace, parsing and indexing it, drawing), median and worst of
// --runs fresh tabs. Panning: a 1 s mouse drag across the diagram, whole trace (aggregated)
// and a 2 s window (arrows drawn), reported as animation frame intervals (16.7 ms is 60 fps),
// and the time of one draw of the diagram alone (100 draws, panning 1% each).

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { startViewServer } from "../src/cli/sim-view.js";
import { writeReferenceTrace } from "../test/sim/trace-fixture.js";
import { openBrowser, waitUntil } from "../test/ui/browser.js";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(flag("--runs") ?? 5);
const screenshot = flag("--screenshot");

const dir = mkdtempSync(join(tmpdir(), "raftwork-viewer-bench-"));
const file = join(dir, "t.jsonl");
const result = await writeReferenceTrace(file);
const text = readFileSync(file, "utf8");
const lines = text.trimEnd().split("\n").length;
console.log(
  `trace: 5 nodes, seed 1, 60 s, every fault: ${lines} records, ${(text.length / 1e6).toFixed(1)} MB, ` +
    `${result.messages} requests`,
);

const server = await startViewServer(file, { host: "127.0.0.1", port: 0 });
const browser = await openBrowser();
if (!browser) process.exit(1);

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;

async function load(url: string): Promise<{ page: Page; firstDrawMs: number; parseMs: number }> {
  const p = await (browser as NonNullable<typeof browser>).newPage();
  await p.page.goto(url);
  await waitUntil(p.page, `document.body.dataset.state === "ready"`, 60_000);
  const stats = (await p.page.evaluate("raftworkViewer")) as {
    firstDrawMs: number;
    parseMs: number;
  };
  p.assertClean();
  return { page: p.page, ...stats };
}

try {
  const firsts: number[] = [];
  const parses: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { page, firstDrawMs, parseMs } = await load(server.url);
    firsts.push(firstDrawMs);
    parses.push(parseMs);
    await page.close();
  }
  console.log(
    `load to first draw: median ${median(firsts).toFixed(0)} ms, worst ${Math.max(...firsts).toFixed(0)} ms ` +
      `(fetch + parse + index: median ${median(parses).toFixed(0)} ms) over ${runs} loads`,
  );

  for (const [label, hash] of [
    ["whole trace", ""],
    ["2 s window", "#from=20000&to=22000"],
  ] as const) {
    const { page } = await load(`${server.url}${hash}`);
    const box = await page.locator("#chart").boundingBox();
    if (!box) throw new Error("no chart");
    await page.evaluate(
      "window.__frames = []; (function f(t) { window.__frames.push(t); requestAnimationFrame(f); })(performance.now())",
    );
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.8, y);
    await page.mouse.down();
    const started = Date.now();
    for (let i = 1; i <= 60; i++) {
      await page.mouse.move(box.x + box.width * (0.8 - (0.6 * i) / 60), y);
      await new Promise((r) => setTimeout(r, Math.max(0, started + i * 16 - Date.now())));
    }
    await page.mouse.up();
    const frames = (await page.evaluate("window.__frames")) as number[];
    const gaps = frames.slice(2).map((t, i) => t - (frames[i + 1] as number));
    const draws = (await page.evaluate("raftworkViewer.drawCost(100)")) as number[];
    console.log(
      `pan (${label}): ${gaps.length} frames, interval median ${median(gaps).toFixed(1)} ms, ` +
        `p95 ${pct(gaps, 0.95).toFixed(1)} ms, worst ${Math.max(...gaps).toFixed(1)} ms; ` +
        `one draw: median ${median(draws).toFixed(1)} ms, p95 ${pct(draws, 0.95).toFixed(1)} ms`,
    );
    await page.close();
  }

  if (screenshot) {
    // A leader elected in the minority side of a partition's end, as the README shows it.
    const recs = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const line =
      recs.findIndex((r) => r.ev === "role" && r.role === "leader" && (r.t as number) > 21_000) + 1;
    const t = recs[line - 1]?.t as number;
    const { page } = await load(`${server.url}#from=${t - 400}&to=${t + 900}&sel=${line}`);
    await page.screenshot({ path: screenshot });
    console.log(`screenshot: ${screenshot} (line ${line})`);
    await page.close();
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
