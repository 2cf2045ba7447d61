// The KV HTTP API (README, "HTTP API"), served by every node. Writes go through
// RaftService.propose, reads through readBarrier (ReadIndex, thesis §6.4) and then the local
// state machine (docs/architecture.md, "The path of a write" and "... of a linearizable read").
// A follower that gets NotLeaderError forwards the request to the leader it names and relays
// the answer, so clients may talk to any node: writes in batches (forward-batch.ts), reads one
// by one.
//
// Status codes: 400 bad input, 404 missing key or route, 405 wrong method (with Allow),
// 409 CAS mismatch, 413 value over 1 MiB, 503 certainly not applied (safe to retry),
// 504 outcome unknown (retry with the same request id to learn it).

import { isUtf8 } from "node:buffer";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import type * as Zod from "zod";
import type { RaftService } from "../node/api.js";
import { NoSpaceAlarmError } from "../node/disk-health.js";
import {
  LeadershipLostError,
  NotLeaderError,
  ProposalTimeoutError,
  StoppedError,
} from "../node/errors.js";
import type { MemberOps } from "../node/member-ops.js";
import type { NodeId } from "../raft/types.js";
import { formatHostPort, type HostPort, parseHostPort } from "../util/host-port.js";
import type { Logger } from "../util/logger.js";
import { requireOptional } from "../util/optional.js";
import { RepeatFilter } from "../util/repeat-filter.js";
import { err, ok, type Result } from "../util/result.js";
import { logRefusedHandshakes, type ServerTls, serverTlsOptions } from "../util/tls.js";
import {
  AUTHENTICATE_PATH,
  BEARER_CHALLENGE,
  type HttpCaller,
  httpCaller,
  httpRefusal,
  serveAuthenticate,
} from "./auth/http.js";
import { MANAGE_PREFIX, MAX_MANAGE_BODY, serveManagement } from "./auth/http-manage.js";
import { type AuthErrorCode, AuthGate, type Need, toInterval } from "./auth/index.js";
import { encodeCommand, type KvCommand, type Session } from "./commands.js";
import {
  LIST_DEFAULT_LIMIT,
  LIST_MAX_LIMIT,
  MAX_CLIENT_ID_BYTES,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  NEXT_HEADER,
  REVISION_HEADER,
} from "./contract.js";
import {
  encodeAnswers,
  FORWARD_PATH,
  type ForwardAnswer,
  MAX_FORWARD_BODY,
  parseForwardBatch,
  WriteForwarder,
} from "./forward-batch.js";
import { MemberLink } from "./member-link.js";
import { type MemberRouteKit, membersRoute } from "./member-routes.js";
import type { KvMetrics, Route } from "./metrics.js";
import { prefixEnd } from "./mvcc/index.js";
import { type KvResult, type KvStateMachine, needsOfNative } from "./state-machine.js";

/**
 * Header a forwarding follower adds; a node never forwards again a request that a member
 * (member-link.ts) sent with it. From anyone else it means nothing.
 */
export const FORWARDED_HEADER = "x-raftwork-forwarded-by";
/**
 * A CAS body holds two JSON strings of up to 1 MiB each; JSON escaping can grow them, so the
 * body may exceed 2 MiB while its values are in bounds. Beyond this, it is certainly too large.
 */
const MAX_CAS_BODY_BYTES = 6 * MAX_VALUE_BYTES + 1024;

export interface KvHttpOptions {
  service: RaftService;
  sm: KvStateMachine;
  id: NodeId;
  /**
   * Where member `id` serves this API ("HOST:PORT"), if known: a follower forwards to the
   * leader's. `kv serve` learns it from the Raft transport's handshake.
   */
  peerHttp?: (id: NodeId) => string | null;
  /**
   * How this member calls the others' APIs, and how it tells their calls from a client's: only
   * members reach the internal routes. Absent: a link that knows no member (nothing forwards).
   */
  members?: MemberLink;
  metrics?: KvMetrics;
  logger?: Logger;
  /** Passed to propose/readBarrier; undefined = the service's default. */
  requestTimeoutMs?: number;
  /** How long a follower waits for the leader's answer to a forwarded request. */
  forwardTimeoutMs?: number;
  /** The leader timestamp for commands: its clock at proposal time. Default Date.now. */
  now?: () => number;
  /** Pages served beside the API (the dashboard at /ui): true if it answered the request. */
  ui?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /**
   * More internal routes, path to handler of a msgpack body answering a msgpack body (the etcd
   * API's leader side, src/kv/etcd/leader-link.ts). Like the batch route, only members
   * (opts.members) reach them.
   */
  internalRoutes?: ReadonlyMap<string, (body: Buffer) => Promise<Uint8Array>>;
  /** The node's auth gate (shared with the etcd API); default: one over sm.auth. */
  gate?: AuthGate;
  /** Membership operations (/v1/members); absent: those routes answer 404. */
  memberOps?: MemberOps;
  /** What member `id` advertised in its Raft handshake (HTTP and gRPC addresses). */
  peerHello?: (id: NodeId) => Readonly<{ http?: string; grpc?: string }> | null;
}

export type KvHttpHandler = ((req: IncomingMessage, res: ServerResponse) => void) & {
  /** Close the keep-alive connections used for forwarding. */
  close(): void;
};

const { z } = requireOptional<typeof Zod>("zod", "raftwork's KV HTTP API");

const sessionSchema = z.object({
  clientId: z
    .string()
    .min(1, "X-Client-Id must not be empty")
    .refine((s) => Buffer.byteLength(s) <= MAX_CLIENT_ID_BYTES, "X-Client-Id is over 128 bytes"),
  requestId: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, "X-Request-Id must be a decimal integer 1..2^53-1")
    .transform(Number)
    .refine(Number.isSafeInteger, "X-Request-Id must be a decimal integer 1..2^53-1"),
});

// Lone surrogates cannot be stored as UTF-8; JSON strings may still carry them as \ud800.
const LONE_SURROGATE = /\p{Cs}/u;
const utf8String = z.string().refine((s) => !LONE_SURROGATE.test(s), "not valid Unicode text");

const casSchema = z.strictObject({
  expect: utf8String.nullable(),
  value: utf8String,
});

const listSchema = z.strictObject({
  prefix: z.string().default(""),
  limit: z
    .string()
    .regex(/^[0-9]+$/, "limit must be a whole number")
    .transform(Number)
    .refine((n) => n >= 1 && n <= LIST_MAX_LIMIT, `limit is out of range 1..${LIST_MAX_LIMIT}`)
    .default(LIST_DEFAULT_LIMIT),
  from: z.string().optional(),
});

const KEY_ALLOW = "GET, PUT, DELETE, POST";
/** A membership request's body: a joint change of a few dozen members fits easily. */
const MAX_MEMBERS_BODY = 64 * 1024;
const JSON_TYPE = "application/json";
const TEXT_TYPE = "text/plain; charset=utf-8";
const EMPTY = Buffer.alloc(0);
// Raw path bytes must be printable ASCII; anything else must be percent-encoded (RFC 3986 §2).
const RAW_PATH_OK = /^[\x21-\x7e]*$/;

/** Per-request state threaded through the async steps. */
interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  route: Route;
  start: number;
  /** The request body, kept so a follower can forward it. */
  body: Buffer;
  /** The write this request proposes, kept so a follower can forward it in a batch. */
  cmd?: KvCommand;
  /** Set for one item of a forwarded batch: where its answer goes instead of `res`. */
  reply?: (a: ForwardAnswer) => void;
  /** Who sent it (auth on), and the token to forward with it. */
  caller?: HttpCaller;
}

export function createKvHttpHandler(opts: KvHttpOptions): KvHttpHandler {
  const { service, sm, id, metrics, logger } = opts;
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.requestTimeoutMs;
  const forwardTimeoutMs = opts.forwardTimeoutMs ?? 10_000;
  const members = opts.members ?? new MemberLink({ peerSecret: () => undefined });
  // Once a minute per address at warn: a client hammering an internal route must not flood the log.
  const strangers = new RepeatFilter();
  const gate = opts.gate ?? new AuthGate({ store: sm.auth });
  const forwarder = new WriteForwarder({
    link: members,
    from: String(id),
    headerName: FORWARDED_HEADER,
    timeoutMs: forwardTimeoutMs,
  });

  function send(ctx: Ctx, status: number, body: Buffer | string, type: string, revision?: number) {
    const { res } = ctx;
    if (ctx.reply) {
      const buf = typeof body === "string" ? Buffer.from(body) : body;
      ctx.reply(
        revision === undefined
          ? { status, type, body: buf }
          : { status, type, body: buf, revision },
      );
    } else if (!res.headersSent) {
      const headers: http.OutgoingHttpHeaders = {
        "content-type": type,
        "content-length": Buffer.byteLength(body),
      };
      if (revision !== undefined) headers[REVISION_HEADER] = String(revision);
      res.writeHead(status, headers);
      res.end(body);
    }
    metrics?.request(ctx.route, status, (performance.now() - ctx.start) / 1000);
  }

  function fail(ctx: Ctx, status: number, message: string, extra?: Record<string, unknown>) {
    send(ctx, status, JSON.stringify({ error: message, ...extra }), JSON_TYPE);
  }

  /** Answers an auth refusal: 401 (with WWW-Authenticate) or 403. */
  function refuse(ctx: Ctx, code: AuthErrorCode) {
    const r = httpRefusal(code);
    if (r.status === 401 && !ctx.reply && !ctx.res.headersSent)
      ctx.res.setHeader("www-authenticate", BEARER_CHALLENGE);
    send(ctx, r.status, r.body, JSON_TYPE);
  }

  /** Whether the caller may touch `needs`; answers the refusal if not. */
  function permitted(ctx: Ctx, needs: () => Need[]): boolean {
    if (!gate.enabled) return true; // the hot path without auth builds no needs
    const e = gate.check(ctx.caller?.user, needs());
    if (e === null) return true;
    refuse(ctx, e);
    return false;
  }

  function methodNotAllowed(ctx: Ctx, allow: string) {
    ctx.res.setHeader("allow", allow);
    fail(ctx, 405, `method ${ctx.req.method} not allowed; use ${allow}`);
  }

  /** Answer 413 without reading the rest of an oversized body, then drop the connection. */
  function tooLarge(ctx: Ctx, message: string) {
    const { req, res } = ctx;
    if (!req.complete) {
      res.setHeader("connection", "close");
      req.pause();
      res.once("finish", () => {
        req.socket.end();
        setTimeout(() => req.socket.destroy(), 1000).unref();
      });
    }
    fail(ctx, 413, message);
  }

  /** Collect the body up to `limit` bytes; calls done(null) if it is longer. */
  function readBody(ctx: Ctx, limit: number, done: (body: Buffer | null) => void) {
    const { req } = ctx;
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) return done(null);
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        done(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!over) done(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
  }

  function serviceError(ctx: Ctx, err: unknown) {
    if (err instanceof NotLeaderError) return forward(ctx, err.leader);
    if (err instanceof StoppedError || err instanceof NoSpaceAlarmError) {
      return fail(ctx, 503, err.message);
    }
    if (err instanceof ProposalTimeoutError || err instanceof LeadershipLostError) {
      return fail(ctx, 504, err.message);
    }
    logger?.error({ err, route: ctx.route }, "unexpected error serving a KV request");
    fail(ctx, 500, "internal error");
  }

  /** Relay the request to the leader; the request was certainly not proposed here. */
  function forward(ctx: Ctx, leaderId: NodeId | null) {
    const { req, res } = ctx;
    if (leaderId === null) return fail(ctx, 503, "no leader known; retry later");
    // A request that was forwarded once, or a node that names itself leader while refusing
    // (a leader transfer in progress), must not forward again: that could loop.
    if (
      leaderId === id ||
      (req.headers[FORWARDED_HEADER] !== undefined && members.fromMember(req))
    ) {
      return fail(ctx, 503, "not the leader (leadership is changing); retry later");
    }
    const leader = opts.peerHttp?.(leaderId) ?? null;
    const parsed = leader === null ? null : parseHostPort(leader);
    if (parsed === null || !parsed.ok) {
      return fail(
        ctx,
        503,
        `the leader's (node ${leaderId}) address is not known yet; retry later`,
      );
    }
    const target: HostPort = parsed.value;
    metrics?.forwarded(ctx.route);
    if (ctx.cmd) {
      const done = (a: ForwardAnswer) => send(ctx, a.status, a.body, a.type, a.revision);
      return void forwarder
        .forward(leaderId, target, { cmd: ctx.cmd, token: ctx.caller?.token })
        .then(done);
    }
    const headers: http.OutgoingHttpHeaders = {
      [FORWARDED_HEADER]: String(id),
      "content-length": ctx.body.length,
    };
    // The client's credentials go along: the leader decides what the client may do.
    for (const h of ["content-type", "x-client-id", "x-request-id", "authorization", "cookie"]) {
      const v = req.headers[h];
      if (v !== undefined) headers[h] = v;
    }
    // The leader checks the caller again, from the same token (a cookie travels as one).
    if (ctx.caller?.token !== undefined) headers.authorization = `Bearer ${ctx.caller.token}`;
    let timedOut = false;
    const preq = members.request(leaderId, target, {
      method: req.method,
      path: req.url,
      headers,
      timeout: forwardTimeoutMs,
    });
    if (preq === null) {
      return fail(
        ctx,
        503,
        `no Raft handshake with the leader (node ${leaderId}) yet; retry later`,
      );
    }
    preq.on("timeout", () => {
      timedOut = true;
      preq.destroy();
    });
    preq.on("response", (pres) => {
      const status = pres.statusCode ?? 502;
      const out: http.OutgoingHttpHeaders = {};
      const relayed = ["content-type", "content-length", "allow", "www-authenticate"];
      for (const h of [...relayed, NEXT_HEADER, REVISION_HEADER]) {
        const v = pres.headers[h];
        if (v !== undefined) out[h] = v;
      }
      res.writeHead(status, out);
      pres.pipe(res);
      pres.on("end", () =>
        metrics?.request(ctx.route, status, (performance.now() - ctx.start) / 1000),
      );
      pres.on("error", () => res.destroy());
    });
    preq.on("error", (err) => {
      if (res.headersSent) return void res.destroy();
      logger?.debug({ err, leader, route: ctx.route }, "forwarding to the leader failed");
      // Once a write's bytes have left this node the leader may have proposed it: its outcome
      // is unknown (504). A read, or a write that never left, is safe to retry (503).
      if (req.method !== "GET" && (timedOut || preq.writableFinished)) {
        fail(ctx, 504, "no answer from the leader; the write may or may not have been applied");
      } else {
        fail(ctx, 503, `cannot reach the leader at ${leader}; retry later`);
      }
    });
    preq.end(ctx.body);
  }

  function parseSession(ctx: Ctx): Session | undefined | null {
    const clientId = ctx.req.headers["x-client-id"];
    const requestId = ctx.req.headers["x-request-id"];
    if (clientId === undefined && requestId === undefined) return undefined;
    if (clientId === undefined || requestId === undefined) {
      fail(ctx, 400, "X-Client-Id and X-Request-Id must be sent together");
      return null;
    }
    const parsed = sessionSchema.safeParse({ clientId, requestId });
    if (!parsed.success) {
      fail(ctx, 400, parsed.error.issues[0]?.message ?? "bad session headers");
      return null;
    }
    return parsed.data;
  }

  function answer(ctx: Ctx, result: KvResult) {
    switch (result.kind) {
      case "ok":
        return send(ctx, 200, EMPTY, TEXT_TYPE, result.revision);
      case "cas-mismatch":
        return fail(ctx, 409, "cas mismatch: the current value differs from expect", {
          current: result.current === null ? null : Buffer.from(result.current).toString(),
        });
      case "too-large":
        return fail(
          ctx,
          413,
          `value would be ${result.bytes} bytes; the limit is ${MAX_VALUE_BYTES}`,
        );
      case "stale-request":
        return fail(
          ctx,
          400,
          `stale X-Request-Id: this client's latest request id is ${result.latest}`,
        );
      case "invalid":
        return fail(ctx, 400, result.message);
      case "auth":
        return refuse(ctx, result.error);
      case "etcd":
        // Only etcd commands answer this way, and this API proposes none.
        throw new Error("an HTTP write was answered with an etcd result");
    }
  }

  function propose(ctx: Ctx, cmd: KvCommand) {
    if (!permitted(ctx, () => needsOfNative(cmd))) return;
    if (ctx.caller?.user !== undefined) cmd.user = ctx.caller.user;
    ctx.cmd = cmd;
    settle(
      ctx,
      () => service.propose(encodeCommand(cmd), timeoutMs),
      (r) => answer(ctx, r as KvResult),
    );
  }

  /**
   * Run an async service call and hand its outcome to `then` or serviceError. A synchronous
   * throw and a throw inside `then` are caught too: a request never leaves a promise rejection
   * unhandled (which would end the process).
   */
  function settle<T>(ctx: Ctx, call: () => Promise<T>, then: (value: T) => void) {
    let p: Promise<T>;
    try {
      p = call();
    } catch (err) {
      return serviceError(ctx, err);
    }
    p.then(then, (err) => serviceError(ctx, err)).catch((err) => {
      logger?.error({ err, route: ctx.route }, "unexpected error answering a KV request");
      if (ctx.reply || !ctx.res.headersSent) fail(ctx, 500, "internal error");
      else ctx.res.destroy();
    });
  }

  function write(ctx: Ctx, key: string, op: "put" | "delete" | "append" | "cas") {
    const session = parseSession(ctx);
    if (session === null) return;
    if (op === "delete") {
      ctx.route = "delete";
      return propose(ctx, withSession({ op: "del", key, ts: now() }, session));
    }
    ctx.route = op;
    const limit = op === "cas" ? MAX_CAS_BODY_BYTES : MAX_VALUE_BYTES;
    ctx.req.on("error", () => {});
    readBody(ctx, limit, (body) => {
      if (body === null) return tooLarge(ctx, `body is over the ${MAX_VALUE_BYTES}-byte limit`);
      ctx.body = body;
      if (!isUtf8(body)) return fail(ctx, 400, "body is not valid UTF-8");
      if (op !== "cas")
        return propose(ctx, withSession({ op, key, ts: now(), value: body }, session));
      let json: unknown;
      try {
        json = JSON.parse(body.toString());
      } catch {
        return fail(ctx, 400, 'body must be JSON {"expect": string or null, "value": string}');
      }
      const parsed = casSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return fail(
          ctx,
          400,
          `bad cas body: ${issue?.path.join(".") || "body"}: ${issue?.message}`,
        );
      }
      const value = Buffer.from(parsed.data.value);
      const expect = parsed.data.expect === null ? null : Buffer.from(parsed.data.expect);
      if (value.length > MAX_VALUE_BYTES) {
        return fail(ctx, 413, `value is ${value.length} bytes; the limit is ${MAX_VALUE_BYTES}`);
      }
      propose(ctx, withSession({ op: "cas", key, ts: now(), expect, value }, session));
    });
  }

  function read(ctx: Ctx, then: () => void) {
    settle(ctx, () => service.readBarrier(timeoutMs), then);
  }

  /** /v1/kv/{key} and /v1/kv?key=K: `key` is already decoded and checked. */
  function keyRoute(ctx: Ctx, key: string, params: Map<string, string>) {
    const method = ctx.req.method;
    if (method !== "GET" && method !== "PUT" && method !== "DELETE" && method !== "POST") {
      return methodNotAllowed(ctx, KEY_ALLOW);
    }
    if (method === "GET") {
      ctx.route = "get";
      return read(ctx, () => {
        // After the barrier: the auth state is at least as new as the read (as etcd checks).
        if (!permitted(ctx, () => [{ access: "read", key: Buffer.from(key, "utf8") }])) return;
        const v = sm.get(key);
        if (v === undefined) fail(ctx, 404, "key not found");
        else send(ctx, 200, v as Buffer, TEXT_TYPE);
      });
    }
    if (method === "PUT") return write(ctx, key, "put");
    if (method === "DELETE") return write(ctx, key, "delete");
    const op = params.get("op");
    if (op === "append" || op === "cas") return write(ctx, key, op);
    fail(ctx, 400, op === undefined ? "POST needs ?op=append or ?op=cas" : `unknown op "${op}"`);
  }

  /** /v1/kv?...: a key's request (?key=K) or a listing. */
  function kvQueryRoute(ctx: Ctx, query: string) {
    const params = parseQuery(query);
    if (!params.ok) return fail(ctx, 400, params.error);
    const rawKey = params.value.get("key");
    if (rawKey === undefined) return listRoute(ctx, params.value);
    for (const name of params.value.keys()) {
      if (name !== "key" && name !== "op") {
        return fail(ctx, 400, `?key= takes no "${name}" parameter (only op, with POST)`);
      }
    }
    const key = checkKey(rawKey);
    if (typeof key !== "string") return fail(ctx, 400, key.error);
    keyRoute(ctx, key, params.value);
  }

  function listRoute(ctx: Ctx, params: Map<string, string>) {
    ctx.route = "list";
    if (ctx.req.method !== "GET") return methodNotAllowed(ctx, "GET");
    const parsed = listSchema.safeParse(Object.fromEntries(params));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const message =
        issue?.code === "unrecognized_keys"
          ? `unknown query parameter ${issue.keys.map((k) => `"${k}"`).join(", ")} (a listing takes prefix, limit and from)`
          : (issue?.message ?? "bad query");
      return fail(ctx, 400, message);
    }
    const { prefix, limit, from } = parsed.data;
    read(ctx, () => {
      if (!permitted(ctx, () => [listNeed(prefix, from)])) return;
      // One more than asked: whether the limit cut the listing, and where the next page starts.
      const found = sm.list(prefix, limit + 1, from);
      const next = found.length > limit ? (found.pop() as { key: string }).key : null;
      const items = found.map((e) => ({ key: e.key, value: Buffer.from(e.value).toString() }));
      if (next !== null && !ctx.reply) ctx.res.setHeader(NEXT_HEADER, encodeURIComponent(next));
      send(ctx, 200, JSON.stringify(items), JSON_TYPE);
    });
  }

  /**
   * Leader side of forward-batch.ts: proposes every write of a follower's batch and answers
   * once each has its answer. Only members may use it (anything else gets 403).
   */
  function forwardedBatch(ctx: Ctx) {
    const { req } = ctx;
    if (!members.fromMember(req)) return membersOnly(ctx);
    if (req.method !== "POST") return methodNotAllowed(ctx, "POST");
    req.on("error", () => {});
    readBody(ctx, MAX_FORWARD_BODY, (body) => {
      if (body === null) return tooLarge(ctx, "forwarded batch is too large");
      const writes = parseForwardBatch(body, now());
      if (typeof writes === "string") return fail(ctx, 400, writes);
      const answers: ForwardAnswer[] = new Array(writes.length);
      let missing = writes.length;
      for (const [i, { cmd, token }] of writes.entries()) {
        const reply = (a: ForwardAnswer) => {
          if (answers[i] !== undefined) return;
          answers[i] = a;
          if (--missing === 0) send(ctx, 200, encodeAnswers(answers), "application/msgpack");
        };
        const route: Route = cmd.op === "del" ? "delete" : cmd.op;
        const item: Ctx = { req, res: ctx.res, route, start: ctx.start, body: EMPTY, reply };
        // The write's user comes from its token, checked here again.
        const who = gate.identify(token);
        if (!who.ok) {
          refuse(item, who.error);
          continue;
        }
        if (who.value !== undefined) item.caller = { user: who.value, token: token as string };
        propose(item, cmd);
      }
    });
  }

  /** An internal route called by someone who is not a member (whatever headers it sent). */
  function membersOnly(ctx: Ctx) {
    const remote = ctx.req.socket.remoteAddress;
    logger?.[strangers.level(`${remote}`, "warn")](
      { remote, path: ctx.req.url },
      "refused a call of an internal route without a member's proof",
    );
    fail(ctx, 403, "internal route: only members of the cluster may call it");
  }

  /** POST /v1/auth/VERB (auth/http-manage.ts); a follower forwards it as it came. */
  function authRoute(ctx: Ctx, verb: string) {
    const { req } = ctx;
    if (req.method !== "POST") return methodNotAllowed(ctx, "POST");
    req.on("error", () => {});
    readBody(ctx, MAX_MANAGE_BODY, (body) => {
      if (body === null) return tooLarge(ctx, "auth request body is too large");
      ctx.body = body;
      const c = {
        gate,
        user: ctx.caller?.user,
        propose: async (cmd: Parameters<typeof encodeCommand>[0]) =>
          (await service.propose(encodeCommand(cmd), timeoutMs)) as KvResult,
        readBarrier: () => service.readBarrier(timeoutMs),
        now,
      };
      settle(
        ctx,
        () => serveManagement(c, verb, body),
        (a) => send(ctx, a.status, JSON.stringify(a.body), JSON_TYPE),
      );
    });
  }

  /** A route of opts.internalRoutes: the body to its handler, its answer back. */
  function internalRoute(ctx: Ctx, route: (body: Buffer) => Promise<Uint8Array>) {
    const { req } = ctx;
    if (!members.fromMember(req)) return membersOnly(ctx);
    if (req.method !== "POST") return methodNotAllowed(ctx, "POST");
    req.on("error", () => {});
    readBody(ctx, MAX_FORWARD_BODY, (body) => {
      if (body === null) return tooLarge(ctx, "internal request is too large");
      settle(
        ctx,
        () => route(body),
        (answer) => send(ctx, 200, Buffer.from(answer), "application/msgpack"),
      );
    });
  }

  function memberKit(
    ctx: Ctx,
    ops: MemberOps,
    rest: string,
    params: Map<string, string>,
  ): MemberRouteKit {
    ctx.route = "members";
    return {
      method: ctx.req.method ?? "GET",
      rest,
      params,
      ops,
      self: id,
      hello: (peer) => opts.peerHello?.(peer) ?? null,
      json: (status, body) => send(ctx, status, JSON.stringify(body), JSON_TYPE),
      fail: (status, message) => fail(ctx, status, message),
      methodNotAllowed: (allow) => methodNotAllowed(ctx, allow),
      readJson: (then) => {
        ctx.req.on("error", () => {});
        readBody(ctx, MAX_MEMBERS_BODY, (body) => {
          if (body === null)
            return tooLarge(ctx, `body is over the ${MAX_MEMBERS_BODY}-byte limit`);
          ctx.body = body;
          let v: unknown;
          try {
            v = JSON.parse(body.toString());
          } catch {
            return fail(ctx, 400, "body must be JSON");
          }
          then(v);
        });
      },
      settle: (call, then) => settle(ctx, call, then),
      mayForward: () => ctx.req.headers[FORWARDED_HEADER] === undefined,
    };
  }

  function handler(req: IncomingMessage, res: ServerResponse) {
    if (opts.ui?.(req, res)) return;
    const ctx: Ctx = { req, res, route: "other", start: performance.now(), body: EMPTY };
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? "" : url.slice(q + 1);
    try {
      if (path.startsWith("/v1/kv/")) {
        const who = httpCaller(gate, req);
        if (!who.ok) return refuse(ctx, who.error);
        ctx.caller = who.value;
        const key = decodeKey(path.slice(7));
        if (typeof key !== "string") return fail(ctx, 400, key.error);
        const params = parseQuery(query);
        if (!params.ok) return fail(ctx, 400, params.error);
        return keyRoute(ctx, key, params.value);
      }
      if (path === FORWARD_PATH) return forwardedBatch(ctx);
      const internal = opts.internalRoutes?.get(path);
      if (internal !== undefined) return internalRoute(ctx, internal);
      if (path === AUTHENTICATE_PATH) {
        ctx.route = "other";
        return void serveAuthenticate(gate, req, res).catch((e) => serviceError(ctx, e));
      }
      // Open like /metrics and /health: they tell what the members are doing, never what the
      // store holds (`kv cluster` and other members' dashboards poll /v1/status).
      if (path !== "/metrics" && path !== "/health" && path !== "/v1/status") {
        const who = httpCaller(gate, req);
        if (!who.ok) return refuse(ctx, who.error);
        ctx.caller = who.value;
        // The key and auth routes check each request's own permissions; any other route
        // (membership, snapshots, ones yet to come) is the root role's unless it says otherwise.
        if (path !== "/v1/kv" && !path.startsWith(MANAGE_PREFIX)) {
          const e = gate.checkAdmin(who.value.user);
          if (e !== null) return refuse(ctx, e);
        }
      }
      if (path === "/v1/kv") return kvQueryRoute(ctx, query);
      if (path.startsWith(MANAGE_PREFIX)) return authRoute(ctx, path.slice(MANAGE_PREFIX.length));
      if (opts.memberOps && (path === "/v1/members" || path.startsWith("/v1/members/"))) {
        const params = parseQuery(query);
        if (!params.ok) return fail(ctx, 400, params.error);
        return membersRoute(memberKit(ctx, opts.memberOps, path.slice(11), params.value));
      }
      if (path === "/v1/status") {
        ctx.route = "status";
        if (req.method !== "GET") return methodNotAllowed(ctx, "GET");
        return send(ctx, 200, JSON.stringify(service.status()), JSON_TYPE);
      }
      if (path === "/metrics") {
        ctx.route = "metrics";
        if (req.method !== "GET") return methodNotAllowed(ctx, "GET");
        if (!metrics) return fail(ctx, 404, "metrics are not enabled on this node");
        const reg = metrics.registry;
        return settle(
          ctx,
          () => reg.metrics(),
          (text) => send(ctx, 200, text, reg.contentType),
        );
      }
      fail(ctx, 404, `no route for ${path}`);
    } catch (err) {
      serviceError(ctx, err);
    }
  }

  return Object.assign(handler, { close: () => members.close() });
}

/** What a listing reads: keys from max(prefix, from) to the prefix's end. */
function listNeed(prefix: string, from: string | undefined): Need {
  const p = Buffer.from(prefix, "utf8");
  const f = from === undefined ? p : Buffer.from(from, "utf8");
  const start = Buffer.compare(f, p) > 0 ? f : p;
  // An empty prefix is every key: etcd's range_end "\0".
  const end = p.length === 0 ? Buffer.from([0]) : Buffer.from(prefixEnd(p));
  return toInterval(start, end) === null
    ? { access: "read", key: p }
    : { access: "read", key: start, rangeEnd: end };
}

function withSession<T extends KvCommand>(cmd: T, session: Session | undefined): T {
  if (session) cmd.session = session;
  return cmd;
}

/** Percent-decode a key from the path and check it is UTF-8 of 1..1024 bytes. */
export function decodeKey(raw: string): string | { error: string } {
  if (!RAW_PATH_OK.test(raw)) return { error: "key must be percent-encoded ASCII in the path" };
  let key: string;
  try {
    // Throws URIError on malformed escapes and on escapes that are not UTF-8.
    key = decodeURIComponent(raw);
  } catch {
    return { error: "key is not valid percent-encoded UTF-8" };
  }
  return checkKey(key);
}

/** A decoded key is 1..1024 bytes of UTF-8. */
function checkKey(key: string): string | { error: string } {
  const bytes = Buffer.byteLength(key);
  if (bytes < 1 || bytes > MAX_KEY_BYTES) {
    return { error: `key must be 1..${MAX_KEY_BYTES} bytes of UTF-8 (got ${bytes})` };
  }
  return key;
}

/**
 * A query string (application/x-www-form-urlencoded: "+" is a space) decoded strictly: a value
 * whose escapes are not UTF-8 is refused, where URLSearchParams would silently replace them
 * with U+FFFD and list, say, keys starting with "\uFFFD" for ?prefix=%FF. The first of a
 * repeated name wins.
 */
export function parseQuery(query: string): Result<Map<string, string>> {
  const params = new Map<string, string>();
  if (query === "") return ok(params);
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? "" : part.slice(eq + 1);
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName.replaceAll("+", " "));
      value = decodeURIComponent(rawValue.replaceAll("+", " "));
    } catch {
      return err(`query parameter ${JSON.stringify(rawName)} is not valid percent-encoded UTF-8`);
    }
    if (!params.has(name)) params.set(name, value);
  }
  return ok(params);
}

export interface KvHttpServer {
  server: http.Server;
  /** http://HOST:PORT actually bound (port 0 resolved); https:// with TLS. */
  url: string;
  /** New certificates for connections from now on (only for a server started with TLS). */
  reloadTls(tls: ServerTls): void;
  close(): Promise<void>;
}

/**
 * Start the API on host:port (port 0 = any free port); with `tls`, HTTPS only (a plaintext
 * request is refused during the handshake, and each refused handshake is logged).
 */
export function createKvHttpServer(
  host: string,
  port: number,
  opts: KvHttpOptions,
  tls?: ServerTls,
): Promise<KvHttpServer> {
  const handler = createKvHttpHandler(opts);
  let server: http.Server;
  let secureServer: https.Server | undefined;
  if (tls === undefined) {
    server = http.createServer({ keepAlive: true }, handler);
  } else {
    const secure = https.createServer({ keepAlive: true, ...serverTlsOptions(tls) }, handler);
    if (opts.logger) {
      logRefusedHandshakes(secure, opts.logger, "refused a client during the TLS handshake");
    }
    server = secure;
    secureServer = secure;
  }
  // Longer than typical client pools' idle timeouts, so clients close idle sockets first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const addr = server.address() as AddressInfo;
      resolve({
        server,
        url: `${tls ? "https" : "http"}://${formatHostPort({ host: addr.address, port: addr.port })}`,
        reloadTls: (t) => {
          if (!secureServer) throw new Error("this HTTP server was started without TLS");
          secureServer.setSecureContext(serverTlsOptions(t));
        },
        close: () =>
          new Promise<void>((done) => {
            handler.close();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
