// The dashboard with auth on, in headless Chromium against a real node: the page sends the
// browser to its login form, a wrong password is refused, the right one sets the session
// cookie and the page goes live, and its key browser shows what the user may read and says
// 403 for the rest; an ended session sends the page back to the login.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { killAll, removeTempDirs, TestCluster } from "../kv-process/harness.js";
import { openBrowser, SKIP_REASON, type WatchedPage, waitUntil } from "./browser.js";

const browser = await openBrowser();
const DEADLINE = 60_000;

describe("dashboard login", { skip: browser === null && SKIP_REASON, timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let base = "";
  let rootToken = "";
  const pages: WatchedPage[] = [];
  const call = async (verb: string, body: unknown, token?: string) => {
    const res = await fetch(`${base}/v1/auth/${verb}`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    assert.equal(res.status, 200, `${verb}: ${await res.clone().text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };

  before(async () => {
    cluster = await TestCluster.create(1);
    await cluster.startAll();
    await cluster.leader(DEADLINE);
    base = cluster.url(1);
    await call("user-add", { name: "root", password: "rootpw" });
    await call("user-grant-role", { name: "root", role: "root" });
    await call("user-add", { name: "alice", password: "alicepw" });
    await call("role-add", { name: "reader" });
    await call("role-grant-permission", {
      name: "reader",
      type: "read",
      key: "app/",
      prefix: true,
    });
    await call("user-grant-role", { name: "alice", role: "reader" });
    await call("enable", {});
    const login = await fetch(`${base}/v1/auth/authenticate`, {
      method: "POST",
      body: JSON.stringify({ name: "root", password: "rootpw" }),
    });
    const { token } = (await login.json()) as { token: string };
    rootToken = token;
    for (const k of ["app/one", "secret/two"]) {
      const put = await fetch(`${base}/v1/kv/${encodeURIComponent(k)}`, {
        method: "PUT",
        body: "v",
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(put.status, 200);
    }
  });

  after(async () => {
    for (const p of pages) await p.page.close().catch(() => {});
    await browser?.close();
    killAll();
    cluster?.cleanup();
    removeTempDirs();
  });

  it("asks for a login, refuses a wrong password, then shows what the user may read", async () => {
    if (!browser) throw new Error("no browser");
    const p = await browser.newPage();
    pages.push(p);
    const { page } = p;
    await page.goto(`${base}/ui`);
    assert.match(page.url(), /\/ui\/login$/);
    await page.getByLabel("User").fill("alice");
    await page.getByLabel("Password").fill("wrong");
    // Submitting navigates: wait for the page it loads before looking into it (an evaluate
    // during the navigation would lose its context).
    const submit = () =>
      Promise.all([
        page.waitForEvent("load", { timeout: DEADLINE }),
        page.getByRole("button", { name: "Log in" }).click(),
      ]);
    await submit();
    await waitUntil(page, `document.querySelector("#login-error") !== null`, DEADLINE);
    assert.match(
      (await page.locator("#login-error").textContent()) ?? "",
      /Wrong user name or password/,
    );
    await page.getByLabel("Password").fill("alicepw");
    await submit();
    await waitUntil(page, `document.body.dataset.state === "live"`, DEADLINE);
    assert.match(page.url(), /\/ui$/);
    await page.getByLabel("Key prefix").fill("app/");
    await page.getByRole("button", { name: "Search" }).click();
    await waitUntil(page, `document.querySelectorAll("#keys tbody tr").length === 1`, DEADLINE);
    assert.equal(await page.locator("#keys tbody tr td").first().textContent(), "app/one");
    // The 401 of the wrong password is the only failed load so far.
    p.assertClean(/401/);
    await page.getByLabel("Key prefix").fill("secret/");
    await page.getByRole("button", { name: "Search" }).click();
    await waitUntil(
      page,
      `document.querySelector("#keys-status").textContent.includes("403")`,
      DEADLINE,
    );
    assert.match(
      (await page.locator("#keys-status").textContent()) ?? "",
      /403: etcdserver: permission denied/,
    );
  });

  it("sends the page back to the login once its session no longer works", async () => {
    const p = pages[0] as WatchedPage;
    // Re-enabling auth draws a new token key: every session ends, and the node cuts the page's
    // open event stream at its next check.
    await call("disable", {}, rootToken);
    await call("enable", {});
    // waitForURL, not a polled evaluate: the navigation would cut an evaluate in flight.
    await p.page.waitForURL(/\/ui\/login$/, { timeout: DEADLINE });
  });
});
