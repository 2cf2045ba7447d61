// Serves the web pages' files (ui/, the compiled trace model) from the installed package, for
// every layer that has a page: the trace viewer (cli), the cluster dashboard (kv), the job page
// (mapreduce). No network access, nothing generated at run time: a request maps to a file that
// ships in the package, or to nothing.
//
//   const assets = createAssetHandler({
//     files: { "/": join(UI_DIR, "viewer/index.html") },   // exact paths
//     dirs: { "/ui/": UI_DIR },                             // prefixes (longest wins)
//   });
//   http.createServer((req, res) => { if (!assets(req, res)) notFound(res); });
//
// Safety: GET and HEAD only; a path is decoded once and refused if it holds "..", ".", a
// dotfile, a backslash or a NUL; the file must lie inside its directory after symlinks are
// resolved, be a regular file and have a known extension (no listings, no guessing). Same
// origin only (no CORS headers ever; subresource requests from another origin are refused by
// their Sec-Fetch-Site, and every response says Cross-Origin-Resource-Policy: same-origin);
// pages get a Content-Security-Policy that allows only this origin (no network access from
// the page either). A server bound to loopback answers only to a loopback Host header, so a
// web page cannot reach it through DNS rebinding.
//
// Import it as util/static-assets.js, not through util/index.ts: the index is what the Raft
// core may load, and the core loads no I/O modules.

import { createReadStream, type Stats } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's root directory (this file is src/util/ or dist/util/ below it). */
export function packageRoot(): string {
  return fileURLToPath(new URL("../../", import.meta.url));
}

/** Where the pages' hand-written assets live in the package (see ui/README.md). */
export const UI_DIR = join(packageRoot(), "ui");

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".jsonl": "application/jsonl; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
};

/**
 * A page may load scripts, styles, images and data from its own origin only, run no inline
 * script, and not be framed.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Headers every response of a page's server carries (assets, APIs, event streams). */
export function securityHeaders(contentType: string): Record<string, string> {
  const h: Record<string, string> = {
    "Content-Type": contentType,
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
  };
  if (contentType.startsWith("text/html")) {
    h["Content-Security-Policy"] = PAGE_CSP;
    h["X-Frame-Options"] = "DENY";
  }
  return h;
}

/**
 * True if a browser made this request on behalf of another origin's page (a fetch, an
 * EventSource, a script or image tag elsewhere). Top-level navigations are allowed from
 * anywhere: a link from another member's dashboard must open this one. Clients that are not
 * browsers send no Sec-Fetch-Site and are not refused here.
 */
export function isCrossOrigin(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site === undefined || site === "same-origin" || site === "none") return false;
  return req.headers["sec-fetch-mode"] !== "navigate";
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

/** A loopback name or address ("localhost", "127.0.0.1", "::1", "[::1]"): a server bound to it. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  if (LOOPBACK_NAMES.has(h) || h.endsWith(".localhost")) return true;
  return isIP(h) === 4 && h.startsWith("127.");
}

/** The Host header's host part, without the port ("[::1]:80" -> "[::1]"). */
function hostOf(req: IncomingMessage): string {
  const host = req.headers.host ?? "";
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : (host.split(":")[0] ?? "");
}

/**
 * Refuses (and answers 403 to) a request the server should not serve to a browser: from
 * another origin (isCrossOrigin), or, when `loopback` says the server listens on loopback
 * only, with a Host that is not a loopback name (DNS rebinding). Returns true if it answered.
 */
export function refuseForeign(
  req: IncomingMessage,
  res: ServerResponse,
  loopback: boolean,
): boolean {
  if (!isCrossOrigin(req) && (!loopback || isLoopbackHost(hostOf(req)))) return false;
  sendText(res, 403, "forbidden: same-origin requests only\n");
  return true;
}

/** A short plain-text answer (errors, 404s) with the security headers. */
export function sendText(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    ...securityHeaders("text/plain; charset=utf-8"),
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
  });
  res.end(text);
}

export interface AssetHandlerOptions {
  /** Exact URL path -> file (pages at their public paths, a trace file). */
  files?: Readonly<Record<string, string>>;
  /** URL path prefix ending in "/" -> directory served below it. Longest prefix wins. */
  dirs?: Readonly<Record<string, string>>;
  /** The server listens on loopback only: refuse non-loopback Host headers. Default true. */
  loopback?: boolean;
}

/**
 * Returns a handler that serves the request if its path is one of `files` or below one of
 * `dirs` (true), and leaves it alone otherwise (false: the caller routes it on). Never throws;
 * every failure is an HTTP answer (400, 403, 404, 405, 500).
 */
export function createAssetHandler(
  opts: AssetHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const files = new Map(Object.entries(opts.files ?? {}));
  const dirs = Object.entries(opts.dirs ?? {}).sort((a, b) => b[0].length - a[0].length);
  for (const [prefix] of dirs)
    if (!prefix.startsWith("/") || !prefix.endsWith("/"))
      throw new Error(`asset prefix "${prefix}" must start and end with "/"`);
  const loopback = opts.loopback ?? true;
  return (req, res) => {
    const path = requestPath(req.url ?? "/");
    const file = path === null ? undefined : files.get(path);
    const dir = path === null ? undefined : dirs.find(([prefix]) => path.startsWith(prefix));
    if (path !== null && file === undefined && dir === undefined) return false;
    if (refuseForeign(req, res, loopback)) return true;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      sendText(res, 405, "method not allowed\n");
      return true;
    }
    if (path === null) {
      sendText(res, 400, "bad path\n");
      return true;
    }
    if (file !== undefined) void serveFile(req, res, file, null);
    else if (dir !== undefined) {
      const rel = path.slice(dir[0].length);
      if (!safeRelative(rel)) sendText(res, 404, "not found\n");
      else void serveFile(req, res, join(dir[1], ...rel.split("/")), dir[1]);
    }
    return true;
  };
}

/** The decoded path of a request URL, or null if it cannot be decoded. */
function requestPath(url: string): string | null {
  try {
    // The URL parser resolves dot segments (also %2e%2e); decoding afterwards can still
    // produce "..", "/" or "\" from %2e, %2f, %5c: safeRelative refuses those.
    return decodeURIComponent(new URL(url, "http://localhost").pathname);
  } catch {
    return null;
  }
}

/** A path below a directory: non-empty segments, none "." or ".." or hidden, no "\" or NUL. */
function safeRelative(rel: string): boolean {
  if (rel === "" || rel.includes("\\") || rel.includes("\0")) return false;
  return rel.split("/").every((seg) => seg !== "" && !seg.startsWith("."));
}

async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  within: string | null,
): Promise<void> {
  try {
    const type = CONTENT_TYPES[extname(file).toLowerCase()];
    if (!type) return sendText(res, 404, "not found\n");
    let real = file;
    if (within !== null) {
      real = await realpath(file);
      const root = await realpath(within);
      if (!real.startsWith(root + sep)) return sendText(res, 404, "not found\n");
    }
    const st: Stats = await stat(real);
    if (!st.isFile()) return sendText(res, 404, "not found\n");
    const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const headers = {
      ...securityHeaders(type),
      ETag: etag,
      // Revalidate every time: a rebuilt package must never show a stale page.
      "Cache-Control": "no-cache",
    };
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, "Content-Length": st.size });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const stream = createReadStream(real);
    stream.on("error", () => res.destroy());
    stream.pipe(res);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR" || code === "ELOOP")
      sendText(res, 404, "not found\n");
    else sendText(res, 500, "cannot read the file\n");
  }
}
