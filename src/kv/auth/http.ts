// Auth on the native HTTP API and the dashboard (README, "Security"): credentials come as
// `Authorization: Bearer TOKEN` (a token from POST /v1/auth/authenticate or etcd's
// Authenticate: the same tokens) or, for reads only, as the dashboard's session cookie
// (HttpOnly, SameSite=Strict, so another site's page cannot send it). Refusals are 401 (no or
// bad credentials) and 403 (not permitted), with etcd's messages in the JSON error.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type AuthErrorCode, type AuthResult, authError } from "./errors.js";
import type { AuthGate } from "./gate.js";

export const AUTHENTICATE_PATH = "/v1/auth/authenticate";
export const SESSION_COOKIE = "raftwork_session";
/** Largest body POST /v1/auth/authenticate reads. */
const MAX_LOGIN_BODY = 16 * 1024;

/** Who sent a request, and the token to forward with it. */
export interface HttpCaller {
  user?: string;
  token?: string;
}

/** The request's token: its bearer token, else (GET and HEAD only) the session cookie. */
export function requestToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === "string") {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    return m ? m[1] : h; // anything else fails as a bad token, not as no token
  }
  if (req.method !== "GET" && req.method !== "HEAD") return undefined;
  return cookie(req, SESSION_COOKIE);
}

export function cookie(req: IncomingMessage, name: string): string | undefined {
  const raw = req.headers.cookie;
  if (typeof raw !== "string") return undefined;
  for (const part of raw.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The caller of `req` (no user while auth is off), or why its credentials are refused. */
export function httpCaller(gate: AuthGate, req: IncomingMessage): AuthResult<HttpCaller> {
  const token = requestToken(req);
  const r = gate.identify(token);
  if (!r.ok) return r;
  return {
    ok: true,
    value: r.value === undefined ? {} : { user: r.value, token: token as string },
  };
}

/** The WWW-Authenticate challenge of a 401 (RFC 6750). */
export const BEARER_CHALLENGE = 'Bearer realm="raftwork"';

/** HTTP status and JSON error body of an auth refusal. */
export function httpRefusal(code: AuthErrorCode): { status: number; body: string } {
  const e = authError(code);
  const message =
    code === "UserEmpty"
      ? `authentication required: send Authorization: Bearer TOKEN (from POST ${AUTHENTICATE_PATH})`
      : e.message;
  return { status: e.http, body: JSON.stringify({ error: message }) };
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** Reads a small body; null if it is over `limit` (answer with tooLargeBody()). */
export function readSmallBody(
  req: IncomingMessage,
  limit = MAX_LOGIN_BODY,
): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("error", () => resolve(null));
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // Stop reading: the caller answers 413 and closes the connection.
        req.pause();
        resolve(null);
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
  });
}

/** 413 for a body readSmallBody() refused, then the connection closes (the rest is unread). */
export function tooLargeBody(req: IncomingMessage, res: ServerResponse): void {
  res.once("finish", () => req.socket.destroy());
  json(res, 413, { error: "body is too large" }, { connection: "close" });
}

/**
 * POST /v1/auth/authenticate with JSON {"name", "password"}: 200 {"token"} for a good
 * password; 401 for a bad one; 400 when auth is off or the body is bad.
 */
export async function serveAuthenticate(gate: AuthGate, req: IncomingMessage, res: ServerResponse) {
  if (req.method !== "POST") {
    return json(
      res,
      405,
      { error: `method ${req.method} not allowed; use POST` },
      { allow: "POST" },
    );
  }
  const body = await readSmallBody(req);
  if (body === null) return tooLargeBody(req, res);
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    v = null;
  }
  const o = v as Record<string, unknown> | null;
  if (
    typeof o !== "object" ||
    o === null ||
    typeof o.name !== "string" ||
    typeof o.password !== "string"
  ) {
    return json(res, 400, { error: 'body must be JSON {"name": string, "password": string}' });
  }
  const r = await gate.authenticate(o.name, o.password);
  if (!r.ok) {
    const { status, body: text } = httpRefusal(r.error);
    return json(res, status, JSON.parse(text));
  }
  json(res, 200, { token: r.value });
}
