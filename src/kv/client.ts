// KvClient: the HTTP client for a raftwork KV cluster.
//
// It tries the endpoints in turn: a refused connection, a 503 (certainly not applied) or a
// 504/timeout (outcome unknown) moves on to the next endpoint. Writes carry X-Client-Id and
// X-Request-Id, and a retry reuses the same request id, so a write whose first attempt timed
// out is applied at most once and the retry learns its result (Raft thesis §6.3). One write is
// outstanding per client at a time, as the session contract requires; reads run concurrently.
//
// A retried write reuses its request id, and the server answers a repeated id with the result
// of the first request that carried it, whatever the repeat asks for: each request id names
// one operation.
import { randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { ServiceStatus } from "../node/api.js";
import { RaftworkError } from "../util/errors.js";
import { type ClientTls, clientTlsOptions } from "../util/tls.js";
import { NEXT_HEADER } from "./contract.js";

export interface KvClientOptions {
  /** Base URLs, e.g. http://127.0.0.1:8001 or https://127.0.0.1:8001. */
  endpoints: string[];
  /**
   * For https:// endpoints: the CA that signs the servers' certificates (default: the
   * system's) and a client certificate for servers that require one.
   */
  tls?: ClientTls;
  /** Session identity; a random UUID by default. Up to 128 bytes. */
  clientId?: string;
  /** First request id to use (a reused clientId must continue above its last id). Default 1. */
  firstRequestId?: number;
  /** Per-attempt timeout. Default 5000 ms. */
  timeoutMs?: number;
  /** Extra rounds over all endpoints after the first. Default 3. */
  retries?: number;
  /** Pause before the second round, doubling each round. Default 100 ms. */
  backoffMs?: number;
  /**
   * Credentials when the cluster has auth on: the client gets a token (POST
   * /v1/auth/authenticate) before its first request and again when a token stops working.
   */
  user?: { name: string; password: string };
}

export type GetResult = { found: true; value: string } | { found: false };
export type CasResult = { ok: true } | { ok: false; current: string | null };
export interface ListEntry {
  key: string;
  value: string;
}
export interface ListOptions {
  /** At most this many entries (1..10000; the server's default is 1000). */
  limit?: number;
  /** Only keys >= from (code point order): where the previous page said to go on. */
  from?: string;
}
export interface ListPage {
  entries: ListEntry[];
  /** The first key after this page when the limit cut it (pass it as `from`), else null. */
  next: string | null;
}
/** One member, as /v1/members lists it. */
export interface MemberEntry {
  id: number;
  raft: string | null;
  http: string | null;
  grpc: string | null;
  role: "voter" | "learner" | "outgoing";
}

export type NodeStatusResult =
  | { endpoint: string; ok: true; status: ServiceStatus }
  | { endpoint: string; ok: false; error: string };

/** No endpoint answered, or the outcome stayed unknown after every retry. */
export class KvUnavailableError extends RaftworkError {
  readonly code = "unavailable";
}

/** The server refused the request (400, 405, 413, ...): retrying will not help. */
export class KvRequestError extends RaftworkError {
  readonly code = "rejected";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The client was given options it cannot work with. */
export class KvConfigError extends RaftworkError {
  readonly code = "bad-config";
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class KvClient {
  readonly clientId: string;
  private nextRequestId: number;
  private readonly endpoints: string[];
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly tlsAgent: https.Agent;
  /** Index of the endpoint that answered last; tried first next time. */
  private preferred = 0;
  /** Serializes writes: one outstanding write per client (session contract). */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(opts: KvClientOptions) {
    if (opts.endpoints.length === 0)
      throw new KvConfigError("KvClient needs at least one endpoint");
    this.endpoints = opts.endpoints.map((e) => e.replace(/\/+$/, ""));
    for (const e of this.endpoints) {
      if (!/^https?:\/\//.test(e)) {
        throw new KvConfigError(`endpoint ${e}: expected http://HOST:PORT or https://HOST:PORT`);
      }
    }
    this.tlsAgent = new https.Agent({ keepAlive: true, ...clientTlsOptions(opts.tls ?? {}) });
    this.clientId = opts.clientId ?? randomUUID();
    this.nextRequestId = opts.firstRequestId ?? 1;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.retries = opts.retries ?? 3;
    this.backoffMs = opts.backoffMs ?? 100;
    this.user = opts.user;
  }

  private readonly user: { name: string; password: string } | undefined;
  /** The current auth token (with `user`), fetched on first use. */
  private token: string | null = null;

  /** Gets a token for `user`; a wrong password is a KvRequestError (401). */
  private async login(): Promise<void> {
    if (this.user === undefined) return;
    const a = await this.send(
      "POST",
      "/v1/auth/authenticate",
      JSON.stringify(this.user),
      { "content-type": "application/json" },
      false,
    );
    if (a.status !== 200) throw rejected(a);
    this.token = (JSON.parse(a.body.toString()) as { token: string }).token;
  }

  /**
   * An auth management call, POST /v1/auth/VERB (README, "Security"): the answer's JSON body,
   * or a KvRequestError with the server's message (401, 403, 404, 409 ...).
   */
  async authCall(verb: string, body: Record<string, unknown> = {}): Promise<unknown> {
    const a = await this.send("POST", `/v1/auth/${verb}`, JSON.stringify(body), {
      "content-type": "application/json",
    });
    if (a.status !== 200) throw rejected(a);
    return JSON.parse(a.body.toString()) as unknown;
  }

  async get(key: string): Promise<GetResult> {
    const a = await this.send("GET", keyPath(key));
    if (a.status === 200) return { found: true, value: a.body.toString() };
    if (a.status === 404) return { found: false };
    throw rejected(a);
  }

  async put(key: string, value: string): Promise<void> {
    this.expectOk(await this.write("PUT", keyPath(key), value));
  }

  async del(key: string): Promise<void> {
    this.expectOk(await this.write("DELETE", keyPath(key)));
  }

  async append(key: string, suffix: string): Promise<void> {
    this.expectOk(await this.write("POST", withOp(keyPath(key), "append"), suffix));
  }

  async cas(key: string, expect: string | null, value: string): Promise<CasResult> {
    const a = await this.write(
      "POST",
      withOp(keyPath(key), "cas"),
      JSON.stringify({ expect, value }),
    );
    if (a.status === 200) return { ok: true };
    if (a.status === 409) {
      const current = (JSON.parse(a.body.toString()) as { current: string | null }).current;
      return { ok: false, current };
    }
    throw rejected(a);
  }

  /** One page of the keys starting with `prefix`, sorted; `next` says where the next begins. */
  async list(prefix = "", opts: ListOptions = {}): Promise<ListPage> {
    const q = new URLSearchParams({ prefix });
    if (opts.limit !== undefined) q.set("limit", String(opts.limit));
    if (opts.from !== undefined) q.set("from", opts.from);
    const a = await this.send("GET", `/v1/kv?${q}`);
    if (a.status !== 200) throw rejected(a);
    const next = a.headers[NEXT_HEADER];
    return {
      entries: JSON.parse(a.body.toString()) as ListEntry[],
      next: typeof next === "string" ? decodeURIComponent(next) : null,
    };
  }

  /**
   * Every key starting with `prefix`, page by page (each page one linearizable read: the whole
   * listing is not one snapshot when writes run meanwhile).
   */
  async *listAll(prefix = "", opts: { pageSize?: number; from?: string } = {}) {
    let from = opts.from;
    do {
      const page: ListPage = await this.list(prefix, {
        ...(opts.pageSize === undefined ? {} : { limit: opts.pageSize }),
        ...(from === undefined ? {} : { from }),
      });
      yield* page.entries;
      from = page.next ?? undefined;
    } while (from !== undefined);
  }

  /** Every endpoint's own /v1/status (no failover: this is about each node). */
  status(): Promise<NodeStatusResult[]> {
    return Promise.all(
      this.endpoints.map(async (endpoint): Promise<NodeStatusResult> => {
        try {
          if (this.user !== undefined && this.token === null) await this.login();
          const auth: Record<string, string> =
            this.token === null ? {} : { authorization: `Bearer ${this.token}` };
          const a = await this.attempt(endpoint, "GET", "/v1/status", undefined, auth);
          if (a.status !== 200) return { endpoint, ok: false, error: errorText(a) };
          return { endpoint, ok: true, status: JSON.parse(a.body.toString()) as ServiceStatus };
        } catch (err) {
          return { endpoint, ok: false, error: (err as Error).message };
        }
      }),
    );
  }

  /**
   * A /v1/members request (any node forwards it to the leader), answering the member list.
   * Retried on other endpoints only when it was certainly not applied (503): a change that
   * timed out (504) may have been made, and repeating it would be refused as a conflict.
   */
  async members(method: string, path = "", body?: unknown): Promise<MemberEntry[]> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const a = await this.send(method, `/v1/members${path}`, text, undefined, true, [503]);
    if (a.status !== 200) throw rejected(a);
    return JSON.parse(a.body.toString()) as MemberEntry[];
  }

  close(): void {
    this.agent.destroy();
    this.tlsAgent.destroy();
  }

  private expectOk(a: Answer): void {
    if (a.status !== 200) throw rejected(a);
  }

  /** A write with the next request id, retried with that same id; queued behind earlier writes. */
  private write(method: string, path: string, body?: string): Promise<Answer> {
    const run = async () => {
      const headers = {
        "x-client-id": this.clientId,
        "x-request-id": String(this.nextRequestId++),
      };
      return this.send(method, path, body, headers);
    };
    const result = this.writes.then(run, run);
    this.writes = result.catch(() => {});
    return result;
  }

  /** Try every endpoint, up to 1 + retries rounds, until one gives a definite answer. */
  private async send(
    method: string,
    path: string,
    body?: string,
    headers?: Record<string, string>,
    authenticated = true,
    retryOn: readonly number[] = [503, 504],
  ): Promise<Answer> {
    if (!authenticated || this.user === undefined)
      return this.sendOnce(method, path, body, headers, retryOn);
    if (this.token === null) await this.login();
    const withToken = () => ({ ...headers, authorization: `Bearer ${this.token}` });
    const a = await this.sendOnce(method, path, body, withToken(), retryOn);
    // A token that expired (or a password change, a re-enable): get a new one, once.
    if (a.status !== 401 || !a.body.toString().includes("invalid auth token")) return a;
    await this.login();
    return this.sendOnce(method, path, body, withToken(), retryOn);
  }

  private async sendOnce(
    method: string,
    path: string,
    body?: string,
    headers?: Record<string, string>,
    retryOn: readonly number[] = [503, 504],
  ): Promise<Answer> {
    let last = "no endpoint tried";
    for (let round = 0; round <= this.retries; round++) {
      if (round > 0) await pause(this.backoffMs * 2 ** (round - 1));
      for (let i = 0; i < this.endpoints.length; i++) {
        const idx = (this.preferred + i) % this.endpoints.length;
        const endpoint = this.endpoints[idx] as string;
        try {
          const a = await this.attempt(endpoint, method, path, body, headers);
          if (retryOn.includes(a.status)) {
            last = `${endpoint}: ${errorText(a)}`;
            continue;
          }
          this.preferred = idx;
          return a;
        } catch (err) {
          last = `${endpoint}: ${(err as Error).message}`;
        }
      }
    }
    throw new KvUnavailableError(`cluster unavailable (last error: ${last})`);
  }

  private attempt(
    endpoint: string,
    method: string,
    path: string,
    body?: string,
    headers?: Record<string, string>,
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(body);
      const secure = endpoint.startsWith("https:");
      const req = (secure ? https : http).request(`${endpoint}${path}`, {
        method,
        agent: secure ? this.tlsAgent : this.agent,
        timeout: this.timeoutMs,
        headers: { ...headers, "content-length": payload?.length ?? 0 },
      });
      req.on("timeout", () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      req.on("error", reject);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      });
      req.end(payload);
    });
  }
}

/**
 * Where a key's requests go: /v1/kv/KEY, each byte that is not unreserved percent-encoded ('/'
 * too: the server decodes). "." and ".." would be dot segments there, which URL parsing
 * removes (also when written %2e), so those two use the contract's /v1/kv?key=KEY form. The
 * result is a path with a query string or one that takes "?op=..." appended by `withOp`.
 */
function keyPath(key: string): string {
  if (key === "." || key === "..") return `/v1/kv?key=${encodeURIComponent(key)}`;
  return `/v1/kv/${encodeURIComponent(key)}`;
}

function withOp(path: string, op: "append" | "cas"): string {
  return `${path}${path.includes("?") ? "&" : "?"}op=${op}`;
}

function errorText(a: Answer): string {
  const text = a.body.toString();
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof e === "string") return `${a.status} ${e}`;
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return `${a.status} ${text.slice(0, 200)}`;
}

function rejected(a: Answer): KvRequestError {
  return new KvRequestError(a.status, errorText(a));
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
