// Security of a job's traffic (README, "Security"): the control protocol (workers to the
// coordinator), inputs and outputs (the same), and map output (reducers to the workers that
// hold it). Two independent settings, the same in every process of a job:
//
// - TLS, mutual: every server presents its certificate and requires one from the caller, both
//   signed by the job's CA (mr --cert-file, --key-file, --trusted-ca-file). A process that is
//   not part of the job cannot connect at all; traffic is encrypted.
// - A shared token (mr --token-file): every request carries it (Authorization: Bearer) and
//   every server refuses one without it (401), compared in constant time. On its own it keeps
//   strangers out of a job on a trusted network; with TLS it also stays secret in transit.
//
// One process runs one job, and its servers and clients (the worker's task thread too, see
// thread-protocol.ts) all use the settings given here once at start, as the single http.Agent
// of the protocol's client always did.

import { timingSafeEqual } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import {
  type ClientTls,
  clientTlsOptions,
  type ServerTls,
  serverTlsOptions,
} from "../../util/tls.js";

export interface MrSecurity {
  /** This process's certificate and key, and the job's CA (checks both directions). */
  tls?: { cert: string; key: string; ca: string };
  /** The job's shared token. */
  token?: string;
}

const SOCKETS = { keepAlive: true, maxSockets: 16 };
let settings: MrSecurity = {};
let agent: http.Agent = new http.Agent(SOCKETS);

/** Sets this process's security settings; call once, before any request or server. */
export function configureSecurity(s: MrSecurity): void {
  settings = s;
  agent.destroy();
  agent = s.tls
    ? new https.Agent({ ...SOCKETS, ...clientTlsOptions(clientTls(s.tls)) })
    : new http.Agent(SOCKETS);
}

/** The settings, to hand to a task thread (they are structured-cloneable). */
export function currentSecurity(): MrSecurity {
  return settings;
}

/** The scheme of every URL of the job: https with TLS. */
export function scheme(): "http" | "https" {
  return settings.tls ? "https" : "http";
}

/** What a request of the protocol's client needs: its agent, module and headers. */
export function clientSide(): {
  agent: http.Agent;
  request: typeof http.request;
  headers: Record<string, string>;
} {
  return {
    agent,
    request: settings.tls ? https.request : http.request,
    headers: settings.token === undefined ? {} : { authorization: `Bearer ${settings.token}` },
  };
}

/** A server with these settings (HTTPS requiring a client certificate, with TLS). */
export function createServer(handler?: http.RequestListener): http.Server {
  const guarded = handler && guard(handler);
  if (!settings.tls) return guarded ? http.createServer(guarded) : http.createServer();
  const options = serverTlsOptions(serverTls(settings.tls));
  return (guarded
    ? https.createServer(options, guarded)
    : https.createServer(options)) as unknown as http.Server;
}

/** `handler`, answering 401 instead to a request without the job's token (if there is one). */
export function guard(handler: http.RequestListener): http.RequestListener {
  return (req, res) => {
    if (settings.token !== undefined && !hasToken(req, settings.token)) return refuse(res);
    handler(req, res);
  };
}

function hasToken(req: IncomingMessage, token: string): boolean {
  const got = req.headers.authorization;
  if (typeof got !== "string" || !got.startsWith("Bearer ")) return false;
  const a = Buffer.from(got.slice(7));
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function refuse(res: ServerResponse): void {
  const body = JSON.stringify({ error: "this job needs its token (mr --token-file)" });
  res.writeHead(401, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "www-authenticate": "Bearer",
  });
  res.end(body);
}

function serverTls(t: NonNullable<MrSecurity["tls"]>): ServerTls {
  return { cert: t.cert, key: t.key, ca: t.ca };
}

function clientTls(t: NonNullable<MrSecurity["tls"]>): ClientTls {
  return { cert: t.cert, key: t.key, ca: t.ca };
}
