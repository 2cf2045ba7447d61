// The pages' static file server: content types and headers, revalidation, and every way out
// of its directories refused (dot segments however encoded, backslashes, NULs, dotfiles,
// symlinks, directories, unknown types), other origins and rebinding hosts refused.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createAssetHandler, PAGE_CSP } from "../../src/util/static-assets.js";

const root = mkdtempSync(join(tmpdir(), "raftwork-assets-"));
const pub = join(root, "pub");
mkdirSync(join(pub, "sub"), { recursive: true });
writeFileSync(join(pub, "app.js"), "export const x = 1;\n");
writeFileSync(join(pub, "sub", "style.css"), "body{}\n");
writeFileSync(join(pub, ".secret.js"), "hidden\n");
writeFileSync(join(pub, "notes.xyz"), "unknown type\n");
writeFileSync(join(root, "outside.js"), "outside\n");
writeFileSync(join(root, "page.html"), "<!doctype html><title>t</title>\n");
symlinkSync(join(root, "outside.js"), join(pub, "escape.js"));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function servers(loopback: boolean): { server: Server; port: () => number } {
  const assets = createAssetHandler({
    loopback,
    files: { "/": join(root, "page.html"), "/gone.js": join(root, "missing.js") },
    dirs: { "/static/": pub },
  });
  const server = createServer((req, res) => {
    if (assets(req, res)) return;
    res.writeHead(418).end("not an asset");
  });
  return { server, port: () => (server.address() as AddressInfo).port };
}

const strict = servers(true);
const open = servers(false);
before(async () => {
  for (const s of [strict, open])
    await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", r));
});
after(() => {
  for (const s of [strict, open]) s.server.close();
  rmSync(root, { recursive: true, force: true });
});

/** A raw request: the path goes out exactly as written (fetch would normalise it). */
function get(
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
  port = strict.port(),
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("static assets", () => {
  it("serves files with their content type and the security headers, and no CORS headers", async () => {
    const js = await get("/static/app.js");
    assert.equal(js.status, 200);
    assert.equal(js.body, "export const x = 1;\n");
    assert.equal(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(js.headers["x-content-type-options"], "nosniff");
    assert.equal(js.headers["cross-origin-resource-policy"], "same-origin");
    assert.equal(js.headers["content-length"], String(js.body.length));
    const css = await get("/static/sub/style.css");
    assert.equal(css.headers["content-type"], "text/css; charset=utf-8");
    const page = await get("/");
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(page.headers["content-security-policy"], PAGE_CSP);
    assert.equal(page.headers["x-frame-options"], "DENY");
    for (const r of [js, css, page])
      assert.deepEqual(
        Object.keys(r.headers).filter((h) => h.startsWith("access-control-")),
        [],
      );
  });

  it("revalidates with the ETag, answers HEAD without a body", async () => {
    const first = await get("/static/app.js");
    const etag = first.headers.etag as string;
    assert.match(etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    const again = await get("/static/app.js", { "If-None-Match": etag });
    assert.equal(again.status, 304);
    assert.equal(again.body, "");
    const head = await get("/static/app.js", {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    assert.equal(head.headers["content-length"], first.headers["content-length"]);
  });

  it("never leaves its directories", async () => {
    const refused = [
      "/static/../outside.js",
      "/static/%2e%2e/outside.js",
      "/static/..%2foutside.js",
      "/static/..%2Foutside.js",
      "/static/sub%2f..%2f..%2foutside.js",
      "/static/..%5coutside.js",
      "/static/%2e%2e%5coutside.js",
      "/static/app.js%00.css",
      "/static/.secret.js",
      "/static/escape.js",
      "/static/sub",
      "/static/sub/",
      "/static/",
      "/static/notes.xyz",
      "/static/nothing.js",
      "/static//app.js",
      "/gone.js",
    ];
    for (const path of refused) {
      const r = await get(path);
      assert.ok(r.status === 404 || r.status === 418, `${path}: ${r.status} ${r.body}`);
      assert.doesNotMatch(r.body, /outside|hidden/, path);
    }
    const bad = await get("/static/%E0%A4%A");
    assert.equal(bad.status, 400);
  });

  it("leaves paths it does not serve to the caller", async () => {
    assert.equal((await get("/api/status")).status, 418);
    assert.equal((await get("/staticfile.js")).status, 418);
  });

  it("answers only GET and HEAD", async () => {
    const r = await get("/static/app.js", {}, "POST");
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, "GET, HEAD");
  });

  it("refuses another origin's page, but not a navigation from it", async () => {
    const cross = { "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors" };
    assert.equal((await get("/static/app.js", cross)).status, 403);
    const sameSite = { "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors" };
    assert.equal((await get("/static/app.js", sameSite)).status, 403);
    const nav = { "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate" };
    assert.equal((await get("/", nav)).status, 200);
    assert.equal((await get("/static/app.js", { "Sec-Fetch-Site": "same-origin" })).status, 200);
  });

  it("on loopback, refuses a Host that is not loopback (DNS rebinding)", async () => {
    assert.equal((await get("/static/app.js", { Host: "evil.example:80" })).status, 403);
    for (const host of ["localhost:1", "127.0.0.1:1", "[::1]:1", "app.localhost"])
      assert.equal((await get("/static/app.js", { Host: host })).status, 200, host);
    assert.equal(
      (await get("/static/app.js", { Host: "evil.example:80" }, "GET", open.port())).status,
      200,
      "a server listening beyond loopback serves any Host",
    );
  });
});
