// The trace viewer in headless Chromium: it loads without console errors, shows a known
// trace's nodes, records and violation, steps through events from the keyboard, selects what
// is clicked, and a copied URL reproduces the view pixel for pixel. Also a simulator trace
// with a planted bug, a 60 s all-faults trace, and a malformed trace.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { startViewServer, type ViewServer } from "../../src/cli/sim-view.js";
import {
  KNOWN_RECORDS,
  knownTraceText,
  writePlantedBugTrace,
  writeReferenceTrace,
} from "../sim/trace-fixture.js";
import { openBrowser, SKIP_REASON, waitUntil } from "./browser.js";

const browser = await openBrowser();
const dir = mkdtempSync(join(tmpdir(), "raftwork-viewer-"));
const servers: ViewServer[] = [];

async function serve(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  writeFileSync(file, text);
  const s = await startViewServer(file, { host: "127.0.0.1", port: 0 });
  servers.push(s);
  return s.url;
}

async function serveFile(file: string): Promise<string> {
  const s = await startViewServer(file, { host: "127.0.0.1", port: 0 });
  servers.push(s);
  return s.url;
}

/** Open `url` and wait until the trace is drawn (or the page says it cannot be). */
async function open(url: string) {
  if (!browser) throw new Error("no browser");
  const p = await browser.newPage();
  await p.page.goto(url);
  await p.page.waitForSelector("body[data-state=ready], body[data-state=error]", {
    timeout: 60_000,
  });
  return p;
}

const text = async (page: Page, sel: string) => (await page.locator(sel).textContent()) ?? "";

/** After the next two animation frames: the view has been drawn and the URL updated. */
const drawn = (page: Page) =>
  page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))");

// Expressions that run in the page are given as strings: this file is typed for Node, not the DOM.
const whereIs = (page: Page, line: number) =>
  page.evaluate(`raftworkViewer.where(${line})`) as Promise<{ x: number; y: number } | null>;
const selectedLine = async (page: Page) => {
  const m = /line (\d+)/.exec(await text(page, "#selection"));
  return m ? Number(m[1]) : null;
};

describe("trace viewer", { skip: browser === null && SKIP_REASON }, () => {
  let known = "";
  before(async () => {
    known = await serve("known.jsonl", knownTraceText());
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows a known trace: its nodes, records, every node's state and the violation", async () => {
    const p = await open(known);
    const { page } = p;
    assert.equal(await page.getAttribute("body", "data-state"), "ready");
    const stats = await text(page, "#trace-stats");
    assert.match(stats, /3 nodes/);
    assert.match(stats, new RegExp(`${KNOWN_RECORDS.length} records`));
    assert.match(stats, /10 message fates/);
    assert.match(stats, /seed 7/);
    assert.equal(await text(page, "#trace-name"), "known.jsonl");
    assert.equal(await text(page, "#violation-badge"), "violation: election-safety");
    assert.equal(await page.locator("#goto-violation").isDisabled(), false);
    assert.equal(await page.locator("#states tbody tr").count(), 3);
    assert.equal(await page.locator("#filter-nodes input").count(), 3);
    // The record kind from the future is announced, not fatal.
    assert.match(await text(page, "#banner"), /future-thing/);
    p.assertClean();
    await page.close();
  });

  it("steps through events with the keyboard; v jumps to the violation", async () => {
    const p = await open(known);
    const { page } = p;
    await page.locator("#chart").focus();
    await page.keyboard.press("ArrowRight");
    assert.equal(await selectedLine(page), 1);
    assert.match(await text(page, "#sel-text"), /trace of 3 nodes/);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    assert.equal(await selectedLine(page), 3);
    assert.match(await text(page, "#sel-text"), /node 2 started from its disk/);
    await page.keyboard.press("ArrowLeft");
    assert.equal(await selectedLine(page), 2);
    await drawn(page);
    assert.match(page.url(), /[#&]sel=2(&|$)/);
    // Screen readers hear the selection.
    assert.match(await text(page, "#announce"), /node 1 started/);
    await page.keyboard.press("End");
    assert.equal(await selectedLine(page), KNOWN_RECORDS.length);
    await page.keyboard.press("Home");
    assert.equal(await selectedLine(page), 1);
    await page.keyboard.press("v");
    assert.equal(await selectedLine(page), KNOWN_RECORDS.length);
    assert.match(await text(page, "#sel-text"), /VIOLATION election-safety: two leaders in term 1/);
    // The node states after the crash of node 2 and its restart.
    const crash = KNOWN_RECORDS.findIndex((r) => r.ev === "crash") + 1;
    await page.evaluate(`location.hash = "sel=${crash}"`);
    await waitUntil(
      page,
      `document.querySelector("#selection").textContent.includes("line ${crash}")`,
    );
    const row2 = await text(page, "#states tbody tr:nth-child(2)");
    assert.match(row2, /down/);
    p.assertClean();
    await page.close();
  });

  it("filters skip what they hide, when stepping too", async () => {
    const p = await open(known);
    const { page } = p;
    await page.getByLabel("node 3", { exact: true }).uncheck();
    await page.getByLabel(/^messages/).uncheck();
    await page.locator("#chart").focus();
    const seen: string[] = [];
    for (let i = 0; i < KNOWN_RECORDS.length; i++) {
      await page.keyboard.press("ArrowRight");
      const line = await selectedLine(page);
      if (line === null || seen.includes(String(line))) break;
      seen.push(String(line));
    }
    const kinds = seen.map((l) => KNOWN_RECORDS[Number(l) - 1] as Record<string, unknown>);
    assert.ok(kinds.length > 5, `stepped through ${kinds.length} records`);
    for (const r of kinds) {
      assert.ok(
        !["deliver", "drop", "dup"].includes(r.ev as string),
        `stepped onto ${JSON.stringify(r)}`,
      );
      assert.notEqual(r.node, 3, `stepped onto ${JSON.stringify(r)}`);
    }
    assert.match(page.url(), /hide-nodes=3/);
    assert.match(page.url(), /hide-events=messages/);
    p.assertClean();
    await page.close();
  });

  it("selects the event that is clicked", async () => {
    const p = await open(known);
    const { page } = p;
    for (const ev of ["crash", "start"]) {
      const line = KNOWN_RECORDS.findLastIndex((r) => r.ev === ev) + 1;
      const at = await whereIs(page, line);
      assert.ok(at, `line ${line} is in view`);
      await page.mouse.click(at.x, at.y);
      assert.equal(await selectedLine(page), line, ev);
    }
    p.assertClean();
    await page.close();
  });

  it("a copied URL reproduces the view: range, filters, selection, pixels", async () => {
    const a = await open(known);
    await a.page.locator("#chart").focus();
    for (const key of ["ArrowRight", "ArrowRight", "ArrowRight", "ArrowRight", "+", "+"])
      await a.page.keyboard.press(key);
    await a.page
      .getByLabel(/^heartbeat/)
      .first()
      .uncheck();
    await a.page.keyboard.press("Shift+ArrowRight");
    await drawn(a.page);
    const url = a.page.url();
    assert.match(url, /#from=.*&to=.*&sel=4.*hide-types=heartbeat/);
    const b = await open(url);
    for (const sel of ["#selection", "#range", "#states"])
      assert.equal(await text(b.page, sel), await text(a.page, sel), sel);
    assert.equal(
      await b.page
        .getByLabel(/^heartbeat/)
        .first()
        .isChecked(),
      false,
    );
    const pixels = (pg: Page) => pg.evaluate(`document.getElementById("chart").toDataURL()`);
    assert.equal(await pixels(b.page), await pixels(a.page), "the two diagrams differ");
    a.assertClean();
    b.assertClean();
    await a.page.close();
    await b.page.close();
  });

  it("is usable from the keyboard alone, with labelled controls", async () => {
    const p = await open(known);
    const { page } = p;
    assert.equal(await page.getAttribute("html", "lang"), "en");
    assert.match((await page.getAttribute("#chart", "aria-label")) ?? "", /3 nodes/);
    const unlabeled = await page.evaluate(`[...document.querySelectorAll("input, button")]
      .filter((el) => !(el.closest("label") || el.textContent.trim() || el.getAttribute("aria-label")))
      .map((el) => el.outerHTML)`);
    assert.deepEqual(unlabeled, []);
    // Tab reaches the diagram.
    let focused = "";
    for (let i = 0; i < 20 && focused !== "chart"; i++) {
      await page.keyboard.press("Tab");
      focused = String(await page.evaluate(`document.activeElement?.id ?? ""`));
    }
    assert.equal(focused, "chart");
    await page.keyboard.press("ArrowRight");
    assert.equal(await selectedLine(page), 1);
    p.assertClean();
    await page.close();
  });

  it("shows the violation a planted bug makes the simulator report", async () => {
    const file = join(dir, "bug.jsonl");
    const result = await writePlantedBugTrace(file);
    const v = result.violations[0];
    assert.ok(v);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n").length;
    const p = await open(await serveFile(file));
    const { page } = p;
    assert.equal(await text(page, "#violation-badge"), `violation: ${v.invariant}`);
    await page.locator("#goto-violation").click();
    assert.equal(await selectedLine(page), lines);
    assert.match(await text(page, "#sel-text"), new RegExp(`VIOLATION ${v.invariant}`));
    p.assertClean();
    await page.close();
  });

  it("opens a 60 s, 5-node, all-faults trace: aggregated when zoomed out, arrows when zoomed in", async () => {
    const file = join(dir, "big.jsonl");
    await writeReferenceTrace(file);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n").length;
    const p = await open(await serveFile(file));
    const { page } = p;
    const records = await page.evaluate("raftworkViewer.records");
    assert.equal(records, lines);
    assert.match(await text(page, "#range"), /counted per column/);
    await page.locator("#chart").focus();
    for (let i = 0; i < 6; i++) await page.keyboard.press("+");
    await waitUntil(page, `!document.getElementById("range").textContent.includes("counted")`);
    for (let i = 0; i < 10; i++) await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("ArrowRight");
    assert.ok((await selectedLine(page)) !== null);
    p.assertClean();
    await page.close();
  });

  it("says which line of a malformed trace is wrong", async () => {
    // The server refuses to serve a malformed trace; the page too, if the file changed since.
    const file = join(dir, "bad.jsonl");
    writeFileSync(file, knownTraceText());
    const url = await serveFile(file);
    writeFileSync(file, `${knownTraceText()}{"t":2000,"ev":"apply","node":1}\n`);
    const p = await open(url);
    assert.equal(await p.page.getAttribute("body", "data-state"), "error");
    assert.match(
      await text(p.page, "#banner"),
      new RegExp(`trace line ${KNOWN_RECORDS.length + 1}: apply record has no "index"`),
    );
    p.assertClean();
    await p.page.close();
  });
});
