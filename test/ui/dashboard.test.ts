// The cluster dashboard in headless Chromium against a real 3-node cluster (`raftwork kv serve`
// processes on free loopback ports): it loads without console errors, shows the leader and its
// term as the nodes report them, every member's role and the leader's view of each follower,
// finds a key that was put and pages through a prefix; then the leader is killed with -9 and
// the page on a follower shows the new leader and the dead node, while the page the dead node
// served says it is gone and links to the others' dashboards.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { Client, killAll, removeTempDirs, TestCluster } from "../kv-process/harness.js";
import {
  accessibilityProblems,
  openBrowser,
  SKIP_REASON,
  type WatchedPage,
  waitUntil,
} from "./browser.js";

const browser = await openBrowser();
// Two loaded cores: elections, page loads and a browser all share them.
const DEADLINE = 60_000;

const text = async (page: Page, sel: string) => (await page.locator(sel).textContent()) ?? "";
const row = (id: number) => `#members tbody tr[data-member="${id}"]`;

describe("cluster dashboard", { skip: browser === null && SKIP_REASON, timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let leader = 0;
  let term = 0;
  const pages: WatchedPage[] = [];

  async function open(id: number): Promise<WatchedPage> {
    if (!browser) throw new Error("no browser");
    const p = await browser.newPage();
    pages.push(p);
    await p.page.goto(`${cluster.url(id)}/ui`);
    await waitUntil(p.page, `document.body.dataset.state === "live"`, DEADLINE);
    return p;
  }

  before(async () => {
    cluster = await TestCluster.create(3);
    await cluster.startAll();
    leader = await cluster.leader(DEADLINE);
    const client = new Client("dashboard-test", () => cluster.urls);
    const put = async (key: string, value: string) => {
      const a = await client.write("PUT", `/v1/kv/${encodeURIComponent(key)}`, value, DEADLINE);
      assert.equal(a?.status, 200, `PUT ${key}: ${JSON.stringify(a)}`);
    };
    await put("dash/hello", "world");
    for (let i = 0; i < 12; i++) await put(`page/${String(i).padStart(2, "0")}`, `v${i}`);
    leader = await cluster.leader(DEADLINE);
    term = (await cluster.status(leader))?.term ?? 0;
    assert.ok(term > 0);
  });

  after(async () => {
    for (const p of pages) await p.page.close().catch(() => {});
    await browser?.close();
    killAll();
    cluster?.cleanup();
    removeTempDirs();
  });

  const follower = () => cluster.nodes.map((n) => n.id).find((id) => id !== leader) as number;

  it("shows the leader, its term, every member and the leader's view of each follower", async () => {
    const p = await open(follower());
    const { page } = p;
    await waitUntil(
      page,
      `document.querySelector("#leader-badge").textContent === "leader: node ${leader}, term ${term}"`,
      DEADLINE,
    );
    assert.equal(await page.locator("#members tbody tr").count(), 3);
    // Every member answers the node that served the page: all reachable, one leader.
    await waitUntil(
      page,
      `[...document.querySelectorAll("#members tbody tr")].every((r) => !r.classList.contains("down"))`,
      DEADLINE,
    );
    assert.match(await text(page, row(leader)), /leader/);
    for (const n of cluster.nodes.filter((n) => n.id !== leader)) {
      const r = await text(page, row(n.id));
      assert.match(r, /follower/, r);
      // Term, commit, applied, match and lag are numbers once the leader reports progress.
      const cells = await page.locator(`${row(n.id)} td`).allTextContents();
      assert.equal(cells[2], String(term));
      assert.match(cells[5] ?? "", /^\d+$/, `match of node ${n.id}: ${cells}`);
      assert.match(cells[6] ?? "", /^\d+/, `lag of node ${n.id}: ${cells}`);
    }
    assert.match(await text(page, row(follower())), /this node/);
    assert.equal(await text(page, "#leader"), `node ${leader}`);
    assert.equal(await text(page, "#voters"), "node 1, node 2, node 3");
    assert.equal(await text(page, "#learners"), "none");
    assert.equal(await text(page, "#outgoing"), "none (no change in progress)");
    assert.match(await text(page, "#history tbody"), new RegExp(`node ${leader}`));
    // Links to the other members' dashboards, by the addresses they announced.
    const other = cluster.nodes.find((n) => n.id !== follower())?.id as number;
    assert.equal(await page.getAttribute(`${row(other)} a`, "href"), `${cluster.url(other)}/ui`);
    // The charts are labelled for screen readers with what they show.
    await waitUntil(
      page,
      `document.querySelector("#chart-rate").getAttribute("aria-label").includes("now")`,
      DEADLINE,
    );
    assert.deepEqual(await accessibilityProblems(page), []);
    p.assertClean();
  });

  it("shows a learner added to the configuration", async () => {
    const p = await open(follower());
    const { page } = p;
    // A learner that never starts: it neither votes nor counts, so the cluster goes on.
    const r = await fetch(`${cluster.url(leader)}/v1/members`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: 9, raft: "127.0.0.1:1", learner: true }),
      signal: AbortSignal.timeout(DEADLINE),
    });
    assert.equal(r.status, 200, await r.text());
    await waitUntil(page, `document.querySelector("#learners").textContent === "node 9"`, DEADLINE);
    assert.equal(await text(page, "#voters"), "node 1, node 2, node 3");
    p.assertClean();
  });

  it("finds a key that was put, and pages through a prefix", async () => {
    const p = await open(follower());
    const { page } = p;
    await page.getByLabel("Key prefix").fill("dash/");
    await page.getByRole("button", { name: "Search" }).click();
    await waitUntil(page, `document.querySelectorAll("#keys tbody tr").length === 1`, DEADLINE);
    assert.deepEqual(await page.locator("#keys tbody tr td").allTextContents(), [
      "dash/hello",
      "world",
    ]);

    // 12 keys, 10 a page: two pages, forward and back, from the keyboard.
    await page.getByLabel("Per page").selectOption("10");
    await page.getByLabel("Key prefix").fill("page/");
    await page.getByLabel("Key prefix").press("Enter");
    await waitUntil(page, `document.querySelectorAll("#keys tbody tr").length === 10`, DEADLINE);
    assert.equal(await page.locator("#keys-next").isDisabled(), false);
    assert.equal(await page.locator("#keys-prev").isDisabled(), true);
    await page.locator("#keys-next").focus();
    await page.keyboard.press("Enter");
    await waitUntil(page, `document.querySelectorAll("#keys tbody tr").length === 2`, DEADLINE);
    assert.deepEqual(await page.locator("#keys tbody tr td:first-child").allTextContents(), [
      "page/10",
      "page/11",
    ]);
    assert.match(await text(page, "#keys-status"), /Page 2 .*the last page/);
    assert.equal(await page.locator("#keys-next").isDisabled(), true);
    await page.locator("#keys-prev").click();
    await waitUntil(page, `document.querySelectorAll("#keys tbody tr").length === 10`, DEADLINE);
    assert.equal(await text(page, "#keys tbody tr:first-child td:first-child"), "page/00");
    assert.deepEqual(await accessibilityProblems(page), []);
    p.assertClean();
  });

  it("follows the leader's death: a new leader on a follower's page, 'gone' on the dead node's", async () => {
    const survivor = await open(follower());
    const dead = await open(leader);
    const old = leader;
    await cluster.kill9(old);

    // The page the dead node served: gone, with links to the other members' dashboards.
    await waitUntil(dead.page, `document.body.dataset.state === "gone"`, DEADLINE);
    assert.equal(await dead.page.isVisible("#gone"), true);
    assert.match(await text(dead.page, "#gone"), /This node is gone/);
    const links = await dead.page
      .locator("#gone a")
      .evaluateAll((as) => as.map((a) => (a as unknown as { href: string }).href));
    const others = cluster.nodes.filter((n) => n.id !== old).map((n) => `${cluster.url(n.id)}/ui`);
    assert.deepEqual([...links].sort(), others.sort());
    assert.equal(await text(dead.page, "#live-badge"), "gone");
    assert.deepEqual(await accessibilityProblems(dead.page), [], "the gone banner");

    // The follower's page: the dead node is down, another node leads in a later term.
    await waitUntil(
      survivor.page,
      `document.querySelector('${row(old)}').classList.contains("down")`,
      DEADLINE,
    );
    await waitUntil(
      survivor.page,
      `/^leader: node \\d+, term \\d+$/.test(document.querySelector("#leader-badge").textContent) && !document.querySelector("#leader-badge").textContent.startsWith("leader: node ${old},")`,
      DEADLINE,
    );
    const badge = await text(survivor.page, "#leader-badge");
    const m = /^leader: node (\d+), term (\d+)$/.exec(badge);
    assert.ok(m, badge);
    leader = Number(m[1]);
    assert.notEqual(leader, old);
    assert.ok(Number(m[2]) > term, `new term ${m[2]} after ${term}`);
    assert.equal(leader, await cluster.leader(DEADLINE));
    assert.match(await text(survivor.page, row(old)), /down/);
    // The follower's own history shows the change.
    await waitUntil(
      survivor.page,
      `document.querySelector("#history tbody tr:first-child").textContent.includes("node ${leader}")`,
      DEADLINE,
    );
    survivor.assertClean();

    // Following a link from the gone page opens a live member's dashboard.
    await dead.page.locator("#gone a").first().click();
    await waitUntil(dead.page, `document.body.dataset.state === "live"`, DEADLINE);
    assert.ok(others.includes(dead.page.url()), dead.page.url());
    // The dead node's page failed only in talking to the dead node (its event stream cut
    // mid-chunk or reset by the kill -9, then refused).
    dead.assertClean(
      new RegExp(
        `127\\.0\\.0\\.1:${cluster.spec(old).httpPort}/|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_INCOMPLETE_CHUNKED_ENCODING`,
      ),
    );
  });
});
