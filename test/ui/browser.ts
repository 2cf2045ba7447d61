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
