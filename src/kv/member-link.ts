// How members call each other's HTTP API (README, "Security"): a follower forwarding client
// requests to the leader (http-api.ts, forward-batch.ts, etcd/leader-link.ts) and the dashboard
// asking the other members for their state. The leader's internal routes propose whatever a
// caller hands them, so they must be reachable by members only, and a header anyone can send
// (the forwarded-by header) proves nothing.
//
// The proof: every member draws a random secret when it starts and announces it in its Raft
// handshake (transport hello and welcome), next to its HTTP address. A member calling member M
// sends M's secret in MEMBER_HEADER; M compares it with its own in constant time. So only
// whoever completed a Raft handshake with M knows it: with peer TLS, a holder of a
// certificate from the peer CA (mutual TLS identity); without it, a node on the Raft network,
// which the cluster trusts anyway since it could speak Raft itself. Secrets live in memory
// only and change at every restart; a leaked one is void with its process.
//
// When the members serve their API over TLS (kv serve --cert-file), these calls use HTTPS: the
// caller checks the callee's certificate (against --trusted-ca-file, else
// --peer-trusted-ca-file, else the system's CAs) and presents its own --cert-file, which a
// callee started with --trusted-ca-file requires. The secret thus never crosses the network in
// the clear when clients' traffic does not either.

import { randomBytes, timingSafeEqual } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { NodeId } from "../raft/types.js";
import type { HostPort } from "../util/host-port.js";
import { type ClientTls, clientTlsOptions } from "../util/tls.js";

/** Carries the callee's secret, base64url. */
export const MEMBER_HEADER = "x-raftwork-member";
const SECRET_BYTES = 32;

export interface MemberLinkOptions {
  /** HTTPS with these settings when the members serve TLS; absent: plain HTTP. */
  tls?: ClientTls;
  /** The secret member `id` announced in its Raft handshake, if it did yet. */
  peerSecret: (id: NodeId) => string | undefined;
  maxSockets?: number;
}

export class MemberLink {
  /** This member's secret, announced in its Raft handshake (transport hello `secret`). */
  readonly secret = randomBytes(SECRET_BYTES).toString("base64url");
  readonly scheme: "http" | "https";
  private agent: http.Agent;
  private readonly sockets: http.AgentOptions;
  /** Agents replaced by reloadTls: closed with this link. */
  private readonly retired: http.Agent[] = [];
  private readonly own = Buffer.from(this.secret);

  constructor(private readonly o: MemberLinkOptions) {
    this.sockets = { keepAlive: true, maxSockets: o.maxSockets ?? 256 };
    this.scheme = o.tls ? "https" : "http";
    this.agent = o.tls
      ? new https.Agent({ ...this.sockets, ...clientTlsOptions(o.tls) })
      : new http.Agent(this.sockets);
  }

  /**
   * New certificates for calls from now on. Connections already open keep theirs until they
   * close (the old agent is retired, not destroyed, so requests in flight finish).
   */
  reloadTls(tls: ClientTls): void {
    if (this.scheme !== "https") throw new Error("this member link was made without TLS");
    this.retired.push(this.agent);
    this.agent = new https.Agent({ ...this.sockets, ...clientTlsOptions(tls) });
  }

  /**
   * A request to member `to` at `target` carrying the proof, or null when `to`'s secret is not
   * known yet (no Raft handshake with it so far: the caller answers 503, retry later).
   */
  request(to: NodeId, target: HostPort, opts: http.RequestOptions): http.ClientRequest | null {
    const secret = this.o.peerSecret(to);
    if (secret === undefined) return null;
    return this.send(target, { ...opts, headers: { ...opts.headers, [MEMBER_HEADER]: secret } });
  }

  private send(target: HostPort, opts: http.RequestOptions): http.ClientRequest {
    const send = this.scheme === "https" ? https.request : http.request;
    return send({ ...opts, host: target.host, port: target.port, agent: this.agent });
  }

  /**
   * GETs `path` from member `to`, a route open to clients too (the dashboard's): with the
   * proof when `to`'s secret is known (followers have no handshake with each other), without
   * it otherwise. Resolves with the status and body; rejects on no answer within `timeoutMs`.
   */
  get(
    to: NodeId,
    target: HostPort,
    path: string,
    timeoutMs: number,
  ): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const opts = { method: "GET", path, timeout: timeoutMs };
      const req = this.request(to, target, opts) ?? this.send(target, opts);
      req.on("timeout", () =>
        req.destroy(Object.assign(new Error("no answer"), { timeout: true })),
      );
      req.on("error", reject);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      });
      req.end();
    });
  }

  /** Whether `req` comes from a member: it carries this member's secret. */
  fromMember(req: IncomingMessage): boolean {
    const got = req.headers[MEMBER_HEADER];
    if (typeof got !== "string") return false;
    const b = Buffer.from(got);
    return b.length === this.own.length && timingSafeEqual(b, this.own);
  }

  close(): void {
    this.agent.destroy();
    for (const a of this.retired.splice(0)) a.destroy();
  }
}
