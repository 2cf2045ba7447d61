// The page kit in Chromium, used the way the dashboard will use it: a table that follows a
// server's events, a badge that follows the connection, and when the server goes away, the
// "this node is gone" banner with links to the other members, gone again once it is back.
import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createAssetHandler, securityHeaders, UI_DIR } from "../../src/util/static-assets.js";
import { accessibilityProblems, openBrowser, SKIP_REASON, waitUntil } from "./browser.js";

const browser = await openBrowser();
const fixtures = new URL("./fixtures/", import.meta.url).pathname;

let members = [
  { id: 1, role: "leader" },
  { id: 2, role: "follower" },
];
let up = true;
const streams = new Set<ServerResponse>();
const assets = createAssetHandler({
  files: { "/": join(fixtures, "kit.html") },
  dirs: { "/ui/": UI_DIR, "/fixtures/": fixtures },
});
const server = createServer((req, res) => {
  if (assets(req, res)) return;
  if (req.url !== "/events") return void res.writeHead(404).end();
  if (!up) return void res.writeHead(503).end();
  res.writeHead(200, { ...securityHeaders("text/event-stream"), "Cache-Control": "no-store" });
  streams.add(res);
  res.on("close", () => streams.delete(res));
  res.write(`event: status\ndata: ${JSON.stringify({ members })}\n\n`);
});

function broadcast(): void {
  for (const s of streams) s.write(`event: status\ndata: ${JSON.stringify({ members })}\n\n`);
}

describe("ui kit", { skip: browser === null && SKIP_REASON }, () => {
  let url = "";
  before(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    for (const s of streams) s.destroy();
    server.close();
    await browser?.close();
  });

  it("follows the server's events, says when it is gone, and recovers when it is back", async () => {
    if (!browser) return;
    const p = await browser.newPage();
    const { page } = p;
    const text = async (sel: string) => (await page.locator(sel).textContent()) ?? "";
    await page.goto(url);
    await waitUntil(page, `document.querySelector("#badge").textContent === "live"`);
    await waitUntil(page, `document.querySelectorAll("#rows tbody tr").length === 2`);
    assert.match(await text("#rows tbody tr:first-child"), /1leader/);
    assert.equal(await page.getAttribute("#badge", "data-state"), "ok");

    // A change on the server shows up in place.
    members = [
      { id: 1, role: "follower" },
      { id: 2, role: "leader" },
      { id: 3, role: "follower" },
    ];
    broadcast();
    await waitUntil(page, `document.querySelectorAll("#rows tbody tr").length === 3`);
    assert.match(await text("#rows tbody tr:nth-child(2)"), /2leader/);

    // The server goes away: reconnecting, then gone, with a link to another member.
    up = false;
    for (const s of streams) s.destroy();
    await waitUntil(page, `document.querySelector("#badge").textContent === "gone"`);
    assert.equal(await page.isVisible("#gone"), true);
    assert.match(await text("#gone"), /This node is gone\. Try: node 2/);
    assert.equal(await page.getAttribute("#gone a", "href"), "http://127.0.0.1:1/ui");
    assert.equal(await page.getAttribute("#badge", "data-state"), "bad");

    // It comes back: live again, the banner goes, the table has the latest state.
    members = [{ id: 1, role: "leader" }];
    up = true;
    await waitUntil(page, `document.querySelector("#badge").textContent === "live"`);
    assert.equal(await page.isVisible("#gone"), false);
    await waitUntil(page, `document.querySelectorAll("#rows tbody tr").length === 1`);
    // Only the event stream's outage may have left traces (503s, the cut connection).
    p.assertClean(/\/events|status of 503|ERR_INCOMPLETE_CHUNKED_ENCODING/);
    await page.close();
  });

  it("the accessibility check finds what it looks for (and nothing on the kit's own parts)", async () => {
    if (!browser) return;
    const { page } = await browser.newPage();
    await page.goto(url);
    await waitUntil(page, `document.querySelector("#badge").textContent === "live"`);
    assert.deepEqual(await accessibilityProblems(page), []);
    await page.evaluate(`(() => {
      const faint = document.createElement("span");
      faint.textContent = "faint";
      faint.style.color = "#aaaaaa";
      const input = document.createElement("input");
      input.id = "nameless";
      const button = document.createElement("button");
      document.querySelector("main").append(faint, input, button);
    })()`);
    const found = await accessibilityProblems(page);
    assert.equal(found.length, 3, found.join("\n"));
    assert.match(found.join("\n"), /no label: #nameless/);
    assert.match(found.join("\n"), /no name: button/);
    assert.match(found.join("\n"), /contrast 2\.\d+: span "faint"/);
    await page.close();
  });
});
