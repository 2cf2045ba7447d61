// The dashboard behind auth (README, "Security"): with auth on, the page and its data need a
// session, a same-origin cookie (HttpOnly, SameSite=Strict) holding a token from the login
// form at /ui/login; without one the page redirects there and the data routes answer 401.
// The key browser's /v1/kv reads accept the same cookie (http.ts), so it sees what the user
// may read. Static files (the page's scripts and styles) stay public, and so does
// /ui/api/node: the other members' dashboards fetch this node's status there, which is what
// /metrics shows anyway. With auth off nothing changes.
import type { IncomingMessage, ServerResponse } from "node:http";
import { securityHeaders } from "../../util/static-assets.js";
import type { AuthGate } from "./gate.js";
import { cookie, readSmallBody, SESSION_COOKIE, tooLargeBody } from "./http.js";

/** A dashboard session lasts longer than an API token: an hour. */
export const SESSION_TTL_MS = 60 * 60 * 1000;
/** How often an open event stream's session is checked again. */
export const SESSION_RECHECK_MS = 2000;
const PROTECTED = new Set(["/ui", "/ui/", "/ui/index.html", "/ui/events", "/ui/api/metrics"]);
const PAGES = new Set(["/ui", "/ui/", "/ui/index.html"]);

type Handle = (req: IncomingMessage, res: ServerResponse) => boolean;

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );
}

function loginPage(res: ServerResponse, status: number, message: string, name = "") {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raftwork: log in</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/kit/kit.css">
<link rel="stylesheet" href="/ui/dashboard/dashboard.css"></head>
<body><main>
<h1>raftwork dashboard</h1>
<p>Authentication is enabled on this cluster: log in with a raftwork user.</p>
${message === "" ? "" : `<p role="alert" id="login-error">${escapeHtml(message)}</p>`}
<form method="post" action="/ui/login">
<p><label>User <input name="name" autocomplete="username" required value="${escapeHtml(name)}"></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>
<p><button type="submit">Log in</button></p>
</form></main></body></html>
`;
  res.writeHead(status, {
    ...securityHeaders("text/html; charset=utf-8"),
    "Content-Length": Buffer.byteLength(html),
    "Cache-Control": "no-store",
  });
  res.end(html);
}

function redirect(res: ServerResponse, to: string, headers: Record<string, string> = {}) {
  res.writeHead(303, {
    Location: to,
    "Cache-Control": "no-store",
    "Content-Length": 0,
    ...headers,
  });
  res.end();
}

/**
 * A POST from another site's page: Sec-Fetch-Site says so in browsers that send it; else an
 * Origin naming another host. (The page's no-referrer policy makes a same-origin form send
 * "Origin: null", so that alone proves nothing.)
 */
function foreignPost(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) return site !== "same-origin" && site !== "none";
  const origin = req.headers.origin;
  if (origin === undefined || origin === "null") return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

function sessionCookie(token: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}`;
}

/** The dashboard's handler with the login in front of it. */
export function guardDashboard(handle: Handle, gate: AuthGate): Handle {
  const login = async (req: IncomingMessage, res: ServerResponse) => {
    if (foreignPost(req))
      return loginPage(res, 403, "Refused: the form was sent from another site.");
    const body = await readSmallBody(req);
    if (body === null) return tooLargeBody(req, res);
    const form = new URLSearchParams(body.toString("utf8"));
    const name = form.get("name") ?? "";
    const r = await gate.authenticate(name, form.get("password") ?? "", SESSION_TTL_MS);
    if (!r.ok) return loginPage(res, 401, "Wrong user name or password.", name);
    redirect(res, "/ui", { "Set-Cookie": sessionCookie(r.value, SESSION_TTL_MS / 1000) });
  };

  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0] as string;
    if (path !== "/ui" && !path.startsWith("/ui/")) return handle(req, res);
    if (!gate.enabled) return handle(req, res);
    if (path === "/ui/login") {
      if (req.method === "POST") {
        login(req, res).catch(() => loginPage(res, 500, "Login failed; try again."));
      } else loginPage(res, 200, "");
      return true;
    }
    if (path === "/ui/logout") {
      redirect(res, "/ui/login", { "Set-Cookie": sessionCookie("", 0) });
      return true;
    }
    if (!PROTECTED.has(path)) return handle(req, res);
    const token = cookie(req, SESSION_COOKIE);
    const valid = () => {
      const who = gate.identify(token);
      return who.ok && who.value !== undefined && gate.checkUser(who.value) === null;
    };
    if (valid()) {
      // The live stream outlasts the check at its start: it ends when the session does
      // (expired, password changed, auth re-enabled), and the page then finds the login.
      if (path === "/ui/events") {
        const timer = setInterval(() => {
          if (gate.enabled && !valid()) res.destroy();
        }, SESSION_RECHECK_MS);
        timer.unref();
        res.once("close", () => clearInterval(timer));
      }
      return handle(req, res);
    }
    if (PAGES.has(path)) redirect(res, "/ui/login");
    else {
      const text = JSON.stringify({
        error: "log in at /ui/login first (the session is missing or has expired)",
      });
      res.writeHead(401, {
        ...securityHeaders("application/json; charset=utf-8"),
        "Content-Length": Buffer.byteLength(text),
        "Cache-Control": "no-store",
      });
      res.end(text);
    }
    return true;
  };
}
