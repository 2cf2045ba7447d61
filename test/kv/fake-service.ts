// An in-process single-node RaftService for tests: proposals are "committed" at once and applied
// through a real KvStateMachine. Failure modes are injected by setting `fail`.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { KvHttpServer } from "../../src/kv/http-api.js";
import { MemberLink } from "../../src/kv/member-link.js";
import { KvStateMachine } from "../../src/kv/state-machine.js";
import type { AppliedPoint, RaftService, ServiceStatus } from "../../src/node/api.js";
import { NotLeaderError } from "../../src/node/errors.js";
import { type NodeId, simpleConf } from "../../src/raft/types.js";
import { type HostPort, parseHostPort } from "../../src/util/host-port.js";

export class FakeService implements RaftService {
  readonly sm = new KvStateMachine();
  private index = 0;
  /** When set, propose/readBarrier reject with what it returns. */
  fail: (() => Error) | null = null;
  /** When true, propose never settles (a leader that lost its quorum silently). */
  hang = false;
  proposals = 0;

  constructor(
    readonly id: number,
    public leader: number | null,
  ) {}

  private check(): void {
    if (this.fail) throw this.fail();
    if (this.leader !== this.id) throw new NotLeaderError(this.leader);
  }

  propose(data: Uint8Array): Promise<unknown> {
    try {
      this.check();
    } catch (err) {
      return Promise.reject(err);
    }
    this.proposals++;
    if (this.hang) return new Promise(() => {});
    this.index++;
    return Promise.resolve(this.sm.apply({ index: this.index, term: 1, type: "normal", data }));
  }

  readBarrier(): Promise<void> {
    try {
      this.check();
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }

  appliedPoint(): AppliedPoint {
    return { index: this.index, term: 1, conf: simpleConf([1, 2, 3]) };
  }

  status(): ServiceStatus {
    return {
      id: this.id,
      role: this.leader === this.id ? "leader" : "follower",
      term: 1,
      leader: this.leader,
      commitIndex: this.index,
      appliedIndex: this.index,
      members: [1, 2, 3],
    };
  }
}

/** Where a test server listens, as HOST:PORT parts. */
export function serverAddress(srv: KvHttpServer): HostPort {
  const hp = parseHostPort(new URL(srv.url).host);
  if (!hp.ok) throw new Error(hp.error);
  return hp.value;
}

/**
 * The members' HTTP addresses a node knows (what `kv serve` learns from the Raft handshake);
 * tests change them to make the leader unknown or unreachable.
 */
export class PeerAddresses {
  private readonly known = new Map<NodeId, string>();
  set(id: NodeId, address: string | null): void {
    if (address === null) this.known.delete(id);
    else this.known.set(id, address.replace(/^http:\/\//, ""));
  }
  readonly lookup = (id: NodeId): string | null => this.known.get(id) ?? null;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request with a raw (unnormalized) path; the body may be sent in chunks. */
export function request(
  base: string,
  method: string,
  path: string,
  opts: { body?: string | Buffer | Buffer[]; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const chunks =
      opts.body === undefined ? [] : Array.isArray(opts.body) ? opts.body : [opts.body];
    const headers: Record<string, string | number> = { ...opts.headers };
    if (!Array.isArray(opts.body)) {
      headers["content-length"] = chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
    }
    const req = http.request(
      { host: url.hostname, port: url.port, method, path, headers, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    // The server may answer (413) and close before the whole body is written.
    req.on("error", (err) => reject(err));
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/** A port that nothing listens on (bound, then closed). */
export async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * The member links of an in-process cluster: each knows every other's secret, as their Raft
 * handshakes would tell it in a real cluster.
 */
export class MemberRoster {
  private readonly links = new Map<NodeId, MemberLink>();

  link(id: NodeId): MemberLink {
    let l = this.links.get(id);
    if (!l) {
      l = new MemberLink({ peerSecret: (peer) => this.links.get(peer)?.secret });
      this.links.set(id, l);
    }
    return l;
  }
}
