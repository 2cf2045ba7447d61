// The operations routes of the HTTP API (README, "Operations"; design.md, "The membership and
// operations contract"):
//
//   GET  /health       200 {"health": true, "leader": ID} once a linearizable read through this
//                      node succeeded within 1 s; 503 {"health": false, "reason"} otherwise
//   POST /v1/leader    {"id": N}: 200 {"leader": N} once N leads (thesis §3.10); 409 if N is
//                      not a voter; 504 if the transfer did not end within an election timeout
//   GET  /v1/snapshot  200, a backup of this member's state machine (backup-format.ts), streamed
//
// A follower relays /v1/leader to the leader. For /health it asks the leader for a read index
// (the leader confirms its lease with a heartbeat round, ReadIndex, thesis §6.4) and then waits
// until its own state machine has applied that index, which is a linearizable read served
// through this follower (thesis §6.4.1): the answer covers this member's replication too, not
// only the leader's. /health is open without auth, as in etcd (design.md, security contract).

import type http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RaftService } from "../node/api.js";
import { NotLeaderError } from "../node/errors.js";
import type { NodeId } from "../raft/types.js";
import { type HostPort, parseHostPort } from "../util/host-port.js";
import type { Logger } from "../util/logger.js";
import { BEARER_CHALLENGE, httpCaller, httpRefusal } from "./auth/http.js";
import type { AuthGate } from "./auth/index.js";
import { takeBackup } from "./backup.js";
import { FORWARDED_HEADER } from "./http-api.js";
import type { MemberLink } from "./member-link.js";
import type { KvStateMachine } from "./state-machine.js";

/** How long a health check may take (etcd's `endpoint health` uses the same second). */
export const HEALTH_TIMEOUT_MS = 1000;
/** Header of the leader's answer to a relayed health check: the read index it confirmed. */
const READ_INDEX_HEADER = "x-raftwork-read-index";
const JSON_TYPE = "application/json";
const MAX_LEADER_BODY = 1024;

export interface OpsRoutesOptions {
  service: RaftService;
  sm: KvStateMachine;
  id: NodeId;
  /** Where member `id` serves the HTTP API, if known (the Raft handshake says). */
  peerHttp: (id: NodeId) => string | null;
  /** How this member calls the others (HTTPS when they serve TLS, with the member proof). */
  members: MemberLink;
  electionTimeoutMs: number;
  /** With auth on, /v1/leader and /v1/snapshot need the root role (/health stays open). */
  gate?: AuthGate;
  logger?: Logger;
  now?: () => number;
}

export interface OpsRoutes {
  /** Answers the request and returns true if it is one of these routes. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
}

export function createOpsRoutes(o: OpsRoutesOptions): OpsRoutes {
  // The core abandons a transfer after one election timeout; the news of a won election
  // reaches the old leader with the new leader's first heartbeat, so allow one more.
  const transferWaitMs = 2 * o.electionTimeoutMs;

  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const route =
      path === "/health"
        ? { method: "GET", run: health }
        : path === "/v1/leader"
          ? { method: "POST", run: moveLeader }
          : path === "/v1/snapshot"
            ? { method: "GET", run: snapshot }
            : null;
    if (route === null) return false;
    if (path !== "/health" && o.gate?.enabled) {
      const who = httpCaller(o.gate, req);
      const refused = who.ok ? o.gate.checkAdmin(who.value.user) : who.error;
      if (refused !== null) {
        const r = httpRefusal(refused);
        if (r.status === 401) res.setHeader("www-authenticate", BEARER_CHALLENGE);
        res.writeHead(r.status, {
          "content-type": JSON_TYPE,
          "content-length": Buffer.byteLength(r.body),
        });
        res.end(r.body);
        req.resume();
        return true;
      }
    }
    if (req.method !== route.method) {
      res.setHeader("allow", route.method);
      answer(res, 405, { error: `method ${req.method} not allowed; use ${route.method}` });
      req.resume();
      return true;
    }
    route.run(req, res).catch((err: unknown) => {
      o.logger?.error({ err, path }, "unexpected error in an operations route");
      if (!res.headersSent) answer(res, 500, { error: "internal error" });
      else res.destroy();
    });
    return true;
  }

  // ---- /health -----------------------------------------------------------------------------

  async function health(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    const sick = (reason: string) => answer(res, 503, { health: false, reason });
    const s = o.service.status();
    if (s.leader === null) return sick("no leader known");
    if (s.leader === o.id) {
      const index = await leaderReadIndex(deadline);
      if (typeof index === "string") return sick(index);
      if (req.headers[FORWARDED_HEADER] !== undefined) res.setHeader(READ_INDEX_HEADER, index);
      return answer(res, 200, { health: true, leader: o.id });
    }
    if (req.headers[FORWARDED_HEADER] !== undefined) {
      return sick(`not the leader (node ${s.leader} is)`);
    }
    const leader = s.leader;
    const target = leaderAddress(leader);
    if (typeof target === "string") return sick(target);
    const r = await call(leader, target, req, "GET", "/health", null, deadline - Date.now());
    if (typeof r === "string") return sick(`cannot reach the leader (node ${leader}): ${r}`);
    const index = Number(r.headers[READ_INDEX_HEADER]);
    if (r.status !== 200 || !Number.isSafeInteger(index)) {
      const reason = parseReason(r.body) ?? `status ${r.status}`;
      return sick(`the leader (node ${leader}) did not confirm a read: ${reason}`);
    }
    // The read is served here once this member applied what the leader had when it confirmed.
    while (o.service.status().appliedIndex < index) {
      if (Date.now() >= deadline) {
        const behind = index - o.service.status().appliedIndex;
        return sick(`this member is ${behind} entries behind the leader's read index after 1 s`);
      }
      await sleep(5);
    }
    answer(res, 200, { health: true, leader });
  }

  /** The leader's applied index once a read barrier passed, or why it did not in time. */
  async function leaderReadIndex(deadline: number): Promise<number | string> {
    try {
      await o.service.readBarrier(Math.max(1, deadline - Date.now()));
      return o.service.status().appliedIndex;
    } catch (err) {
      if (err instanceof NotLeaderError) return "leadership changed during the check";
      const why = err instanceof Error ? err.message : String(err);
      return `a linearizable read did not complete within 1 s (${why})`;
    }
  }

  // ---- /v1/leader --------------------------------------------------------------------------

  async function moveLeader(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_LEADER_BODY);
    if (body === null) return answer(res, 413, { error: `body over ${MAX_LEADER_BODY} bytes` });
    const target = parseLeaderBody(body);
    if (typeof target === "string") return answer(res, 400, { error: target });
    const s = o.service.status();
    if (s.leader === null) return answer(res, 503, { error: "no leader known; retry later" });
    if (s.leader !== o.id) {
      if (req.headers[FORWARDED_HEADER] !== undefined) {
        return answer(res, 503, { error: "not the leader (leadership is changing); retry later" });
      }
      const addr = leaderAddress(s.leader);
      if (typeof addr === "string") return answer(res, 503, { error: addr });
      const r = await call(s.leader, addr, req, "POST", "/v1/leader", body, transferWaitMs + 5000);
      if (typeof r === "string") {
        // The request may have reached the leader and started a transfer: outcome unknown.
        return answer(res, 504, { error: `no answer from the leader (node ${s.leader}): ${r}` });
      }
      res.writeHead(r.status, { "content-type": JSON_TYPE, "content-length": r.body.length });
      res.end(r.body);
      return;
    }
    if (!s.members.includes(target)) {
      return answer(res, 409, { error: `node ${target} is not a voter of this cluster` });
    }
    if (target === o.id) return answer(res, 200, { leader: target });
    if (o.service.transferLeader?.(target) !== true) {
      return answer(res, 503, { error: "this node stopped leading; retry later" });
    }
    const deadline = Date.now() + transferWaitMs;
    while (o.service.status().leader !== target) {
      if (Date.now() >= deadline) {
        return answer(res, 504, {
          error: `node ${target} did not take over within an election timeout (is it up and caught up?)`,
        });
      }
      await sleep(10);
    }
    answer(res, 200, { leader: target });
  }

  // ---- /v1/snapshot ------------------------------------------------------------------------

  async function snapshot(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const backup = takeBackup(o.service, o.sm, o.id, o.now);
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="raftwork-${o.id}-${backup.meta.index}.backup"`,
      "x-raftwork-backup-index": String(backup.meta.index),
      "x-raftwork-backup-term": String(backup.meta.term),
    });
    let closed = false;
    res.once("close", () => {
      closed = true;
    });
    try {
      for await (const chunk of backup.chunks) {
        if (closed) return;
        if (!res.write(chunk)) await new Promise((r) => res.once("drain", r).once("close", r));
      }
      res.end();
    } catch (err) {
      // Cut the stream short: the client's copy then lacks its checksum and is refused.
      o.logger?.warn({ err }, "a backup stream failed; the client gets a truncated file");
      res.destroy();
    } finally {
      await backup.chunks.return(undefined);
    }
  }

  // ---- helpers -----------------------------------------------------------------------------

  function leaderAddress(leader: NodeId): HostPort | string {
    const text = o.peerHttp(leader);
    const hp = text === null ? null : parseHostPort(text);
    if (hp === null || !hp.ok) return `the leader's (node ${leader}) HTTP address is not known yet`;
    return hp.value;
  }

  /** Relays `from`'s request to member `to`, keeping the client's credentials. */
  function call(
    to: NodeId,
    target: HostPort,
    from: IncomingMessage,
    method: string,
    path: string,
    body: Buffer | null,
    timeoutMs: number,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer } | string> {
    return new Promise((resolve) => {
      const headers: http.OutgoingHttpHeaders = { [FORWARDED_HEADER]: String(o.id) };
      for (const h of ["authorization", "cookie"]) {
        const v = from.headers[h];
        if (v !== undefined) headers[h] = v;
      }
      if (body !== null) {
        headers["content-type"] = JSON_TYPE;
        headers["content-length"] = body.length;
      }
      const r = o.members.request(to, target, {
        method,
        path,
        headers,
        timeout: Math.max(1, timeoutMs),
      });
      if (r === null) {
        resolve(`no Raft handshake with node ${to} yet`);
        return;
      }
      r.on("timeout", () => r.destroy(new Error("timed out")));
      r.on("error", (e) => resolve(e.message));
      r.on("response", (pres) => {
        const parts: Buffer[] = [];
        pres.on("data", (c: Buffer) => parts.push(c));
        pres.on("end", () =>
          resolve({
            status: pres.statusCode ?? 502,
            headers: pres.headers,
            body: Buffer.concat(parts),
          }),
        );
        pres.on("error", (e) => resolve(e.message));
      });
      r.end(body ?? undefined);
    });
  }

  return { handle, close: () => {} };
}

/** {"id": N} with N a member id; anything else is refused with a message saying what. */
export function parseLeaderBody(body: Buffer): NodeId | string {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    return 'the body must be JSON {"id": N}';
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return 'the body must be {"id": N}';
  const keys = Object.keys(v);
  const extra = keys.find((k) => k !== "id");
  if (extra !== undefined) return `unknown field ${JSON.stringify(extra)}; the body is {"id": N}`;
  const id = (v as { id?: unknown }).id;
  if (!Number.isSafeInteger(id) || (id as number) < 1) return '"id" must be a positive integer';
  return id as number;
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": JSON_TYPE, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function parseReason(body: Buffer): string | null {
  try {
    const v = JSON.parse(body.toString("utf8")) as { reason?: unknown; error?: unknown };
    const r = v.reason ?? v.error;
    return typeof r === "string" ? r : null;
  } catch {
    return null;
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= limit) parts.push(c);
    });
    req.on("end", () => resolve(size > limit ? null : Buffer.concat(parts)));
    req.on("error", () => resolve(null));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
