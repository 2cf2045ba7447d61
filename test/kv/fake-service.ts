// An in-process single-node RaftService for tests: proposals are "committed" at once and applied
// through a real KvStateMachine. Failure modes are injected by setting `fail`.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { KvStateMachine } from "../../src/kv/state-machine.js";
import type { RaftService, ServiceStatus } from "../../src/node/api.js";
import { NotLeaderError } from "../../src/node/errors.js";

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
    public leaderUrl: string | null = null,
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

  leaderHttp(): string | null {
    return this.leaderUrl;
  }
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
