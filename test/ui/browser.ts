// Headless Chromium for the page tests (the trace viewer, the dashboard, the job page): Debian's
// /usr/bin/chromium driven by playwright-core, one browser per test file, a fresh profile in a
// temporary directory. Every page opened through it records what a user would call broken:
// console errors, uncaught exceptions, failed requests and HTTP errors.
//
//   const browser = await openBrowser();                    // null: no Chromium here (skipped)
//   describe("my page", { skip: browser === null && SKIP_REASON }, () => {
//     after(() => browser?.close());
//     it("loads", async () => {
//       const p = await browser!.newPage();
//       await p.page.goto(url);
//       ...
//       p.assertClean();                                    // no console errors, no failures
//     });
//   });
//
// With CI=true a missing Chromium fails the run (the tests must run there); elsewhere the tests
// skip with a loud message saying how to install it. RAFTWORK_CHROMIUM points elsewhere.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.RAFTWORK_CHROMIUM ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const SKIP_REASON =
  `Chromium not found at ${CHROMIUM}: browser tests SKIPPED. ` +
  "Install it with `apt install chromium` (or set RAFTWORK_CHROMIUM); with CI=true they fail instead.";

/** A page and what went wrong on it so far. */
export interface WatchedPage {
  page: Page;
  /** Console errors, page errors, failed requests and HTTP error responses, in order. */
  problems: string[];
  /** Fails the test if anything went wrong on the page (`allow` matches problems to ignore). */
  assertClean(allow?: RegExp): void;
}

export interface Browser {
  context: BrowserContext;
  /** A new tab at a fixed 1400x900 viewport, watched for problems. */
  newPage(): Promise<WatchedPage>;
  close(): Promise<void>;
}

/**
 * Starts Chromium, or returns null (after saying so on stderr) when it is not installed and
 * CI is not set. Under CI=true a missing Chromium is an error.
 */
export async function openBrowser(): Promise<Browser | null> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === "true")
      throw new Error(
        `CI=true but ${CHROMIUM} is missing: install it with \`apt install chromium\``,
      );
    process.stderr.write(`\n${"!".repeat(100)}\n!!! ${SKIP_REASON}\n${"!".repeat(100)}\n\n`);
    return null;
  }
  const profile = mkdtempSync(join(tmpdir(), "raftwork-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1400, height: 900 },
      // A loaded CI machine can take a while to start a browser.
      timeout: 60_000,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      return watch(page);
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function watch(page: Page): WatchedPage {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // A page closed or navigated away aborts its pending requests: not a failure of the page.
    const why = r.failure()?.errorText ?? "";
    if (why !== "net::ERR_ABORTED") problems.push(`request failed: ${r.url()} ${why}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return {
    page,
    problems,
    assertClean(allow?: RegExp) {
      const real = allow ? problems.filter((p) => !allow.test(p)) : problems;
      assert.deepEqual(real, [], `problems on ${page.url()}`);
    },
  };
}

/**
 * Polls `expression` (JavaScript evaluated in the page) until it is truthy, every 50 ms for at
 * most `timeoutMs`. Use it instead of page.waitForFunction: that compiles its function inside
 * the page, which our pages' Content-Security-Policy (no eval) refuses.
 */
export async function waitUntil(page: Page, expression: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await page.evaluate(expression)) return;
    if (Date.now() > deadline)
      assert.fail(`timed out after ${timeoutMs} ms waiting for: ${expression}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * What a basic accessibility review of the page as it stands would flag (an empty list: none):
 * a form control without a label, a button or link without a name, a canvas image without a
 * description, a table without column headers, and visible text below WCAG AA contrast
 * (4.5:1, or 3:1 for large text) on its background. Disabled controls are exempt from contrast,
 * as WCAG says; text over images is not judged.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  return (await page.evaluate(`(() => {
    const problems = [];
    const name = (el) => (el.getAttribute("aria-label") || el.textContent || el.title || "").trim();
    const where = (el) => el.id ? "#" + el.id : el.tagName.toLowerCase() + (el.className ? "." + String(el.className).split(" ")[0] : "");
    const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
    for (const el of document.querySelectorAll("input, select, textarea"))
      if (shown(el) && el.labels.length === 0 && !el.getAttribute("aria-label")) problems.push("no label: " + where(el));
    for (const el of document.querySelectorAll("button, a[href]"))
      if (shown(el) && name(el) === "") problems.push("no name: " + where(el));
    for (const el of document.querySelectorAll("canvas[role=img]"))
      if (!el.getAttribute("aria-label")) problems.push("no description: " + where(el));
    for (const el of document.querySelectorAll("table"))
      if (shown(el) && el.querySelector("tbody tr") && !el.querySelector("th")) problems.push("no headers: " + where(el));
    const rgba = (c) => { const m = c.match(/[\\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
    const lum = ({ r, g, b }) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c.a > 0) return c; }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || seen.has(el) || n.textContent.trim() === "" || !shown(el) || el.closest("[disabled], .kit-sr-only, svg")) continue;
      seen.add(el);
      const s = getComputedStyle(el);
      const fg = rgba(s.color);
      const bg = background(el);
      const opacity = Number(s.opacity);
      const mix = (f, b, a) => Math.round(f * a + b * (1 - a));
      const a = fg.a * opacity;
      const shownFg = { r: mix(fg.r, bg.r, a), g: mix(fg.g, bg.g, a), b: mix(fg.b, bg.b, a) };
      const [hi, lo] = [lum(shownFg), lum(bg)].sort((x, y) => y - x);
      const ratio = (hi + 0.05) / (lo + 0.05);
      const size = parseFloat(s.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) problems.push("contrast " + ratio.toFixed(2) + ": " + where(el) + " " + JSON.stringify(n.textContent.trim().slice(0, 30)));
    }
    return problems;
  })()`)) as string[];
}
