// Batched forwarding of writes from a follower to the leader. Relaying each client request as
// its own HTTP request costs the follower an HTTP client round and the leader a second HTTP
// request per write (2 of 3 writes when clients spread over all members). Instead a follower
// gathers the writes that reach it in one event-loop turn and sends them as one msgpack batch
// to the leader's internal route; the leader proposes each (they share its next Ready and fsync)
// and answers the batch once every item has its answer. etcd gets the same effect by forwarding
// proposals inside Raft (MsgProp); here it stays at the HTTP layer, so the Raft core and its
// transport are unchanged.
//
// Wire (msgpack, both directions, with the x-raftwork-forwarded-by header on the request; the
// leader accepts only requests a member sent over member-link.ts, never because of a header):
//   request:  [[op, key, value, expect, clientId, requestId, token?], ...]  (op codes of commands.ts)
//             token (only when the client sent one): the client's auth token; the leader
//             names the write's user from it.
//   answer:   [[status, contentType, body, revision?], ...]          (same order, same length)
// The leader stamps each command with its own clock, as for a write it gets directly.
//
// BatchForwarder is the batching itself (queue per leader, one request per turn or per MiB,
// 503/504 when the batch is lost); the native writes above are one codec of it, the etcd API's
// proposals (etcd/leader-link.ts) another.

import { isUtf8 } from "node:buffer";
import { Packr } from "msgpackr";
import type { NodeId } from "../raft/types.js";
import { formatHostPort, type HostPort } from "../util/host-port.js";
import type { KvCommand, Session } from "./commands.js";
import { MAX_VALUE_BYTES } from "./contract.js";
import type { MemberLink } from "./member-link.js";

export const FORWARD_PATH = "/v1/internal/forward";
/** A batch is sent once it holds this many bytes of values, or at the end of the turn. */
const BATCH_BYTES = 1 << 20;
/** A CAS's expect may be longer than any value (it then never matches): up to its body limit. */
const MAX_EXPECT_BYTES = 6 * MAX_VALUE_BYTES + 1024;
/** Largest batch body the leader reads: a full batch plus one item of maximal size. */
export const MAX_FORWARD_BODY = BATCH_BYTES + MAX_VALUE_BYTES + MAX_EXPECT_BYTES + 64 * 1024;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

type WireWrite =
  | [number, string, Uint8Array | null, Uint8Array | null, string | null, number | null]
  | [number, string, Uint8Array | null, Uint8Array | null, string | null, number | null, string];

/** One write of a batch, with the token of the client that sent it (auth on). */
export interface ForwardedWrite {
  cmd: KvCommand;
  token?: string | undefined;
}

/** Longest token a forwarded write may carry (src/kv/auth/token.ts refuses longer ones). */
const MAX_TOKEN_CHARS = 4096;

/** What the follower relays to its client for one forwarded write. */
export interface ForwardAnswer {
  status: number;
  type: string;
  body: Buffer;
  /** A 200's store revision (the X-Raftwork-Revision header). */
  revision?: number;
}

const OP_CODES = { put: 1, del: 2, append: 3, cas: 4 } as const;
const OPS = [undefined, "put", "del", "append", "cas"] as const;

export interface ForwarderOptions {
  /** Carries the batches, with the proof that they come from a member. */
  link: MemberLink;
  /** Sent in the forwarded-by header. */
  from: string;
  headerName: string;
  timeoutMs: number;
}

/** What a batch of one kind carries and answers (the native writes; etcd's proposals). */
export interface BatchCodec<I, A> {
  /** The leader's route. */
  path: string;
  /** The item's msgpack form and the bytes it counts toward BATCH_BYTES. */
  encode(item: I): { wire: unknown; bytes: number };
  /** The answers of a 200, or null if malformed. */
  parseAnswers(raw: Buffer, n: number): A[] | null;
  /** The answer to every item of a batch the leader refused (a status other than 200). */
  refused(status: number, type: string, body: Buffer): A;
  /** The answer to every item of a batch without an answer: 503 certainly not applied, 504 unknown. */
  lost(status: 503 | 504, message: string): A;
}

interface Pending<A> {
  items: unknown[];
  bytes: number;
  answers: ((a: A) => void)[];
}

/** Follower side: queues items per leader address and sends one batch per turn. */
export class BatchForwarder<I, A> {
  private readonly queues = new Map<string, Pending<A>>();

  constructor(
    private readonly o: ForwarderOptions,
    private readonly codec: BatchCodec<I, A>,
  ) {}

  /** Queues `item` for leader `to`, whose HTTP API is at `target`. */
  forward(to: NodeId, target: HostPort, item: I): Promise<A> {
    const key = `${to}@${formatHostPort(target)}`;
    let q = this.queues.get(key);
    if (!q) {
      q = { items: [], bytes: 0, answers: [] };
      this.queues.set(key, q);
      setImmediate(() => this.flush(to, target, key));
    }
    const { wire, bytes } = this.codec.encode(item);
    q.items.push(wire);
    q.bytes += bytes;
    const answer = new Promise<A>((resolve) => q.answers.push(resolve));
    if (q.bytes >= BATCH_BYTES) this.flush(to, target, key);
    return answer;
  }

  private flush(to: NodeId, target: HostPort, key: string): void {
    const q = this.queues.get(key);
    if (!q) return; // already sent because it was full
    this.queues.delete(key);
    const { codec } = this;
    const body = packr.pack(q.items);
    let timedOut = false;
    const settleAll = (answers: A[] | null, one: A) => {
      q.answers.forEach((resolve, i) => {
        resolve(answers === null ? one : (answers[i] as A));
      });
    };
    const preq = this.o.link.request(to, target, {
      method: "POST",
      path: codec.path,
      headers: {
        [this.o.headerName]: this.o.from,
        "content-type": "application/msgpack",
        "content-length": body.length,
      },
      timeout: this.o.timeoutMs,
    });
    if (preq === null) {
      settleAll(null, codec.lost(503, `no Raft handshake with leader ${to} yet; retry later`));
      return;
    }
    const lost = () =>
      // Once the batch's bytes have left this node the leader may have proposed them: their
      // outcome is unknown (504). A batch that never left is safe to retry (503).
      timedOut || preq.writableFinished
        ? codec.lost(504, "no answer from the leader; the write may or may not have been applied")
        : codec.lost(503, `cannot reach the leader at ${formatHostPort(target)}; retry later`);
    preq.on("timeout", () => {
      timedOut = true;
      preq.destroy();
    });
    preq.on("error", () => settleAll(null, lost()));
    preq.on("response", (pres) => {
      const chunks: Buffer[] = [];
      pres.on("data", (c: Buffer) => chunks.push(c));
      pres.on("error", () => settleAll(null, lost()));
      pres.on("end", () => {
        const raw = Buffer.concat(chunks);
        if (pres.statusCode !== 200) {
          const type = pres.headers["content-type"] ?? "application/json";
          return settleAll(null, codec.refused(pres.statusCode ?? 502, type, raw));
        }
        const answers = codec.parseAnswers(raw, q.items.length);
        settleAll(answers, codec.lost(504, "bad answer from the leader; outcome unknown"));
      });
    });
    preq.end(body);
  }
}

const WRITES: BatchCodec<ForwardedWrite, ForwardAnswer> = {
  path: FORWARD_PATH,
  encode({ cmd, token }) {
    const value = cmd.op === "del" ? null : cmd.value;
    const expect = cmd.op === "cas" ? cmd.expect : null;
    const wire: WireWrite = [
      OP_CODES[cmd.op],
      cmd.key,
      value,
      expect,
      cmd.session?.clientId ?? null,
      cmd.session?.requestId ?? null,
    ];
    // Only with a token: a leader from before auth takes the 6-element items it knows.
    if (token !== undefined) wire.push(token);
    return { wire, bytes: (value?.length ?? 0) + (expect?.length ?? 0) + cmd.key.length };
  },
  parseAnswers,
  refused: (status, type, body) => ({ status, type, body }),
  lost: json,
};

/** The native API's writes: answers are the leader's HTTP answers, relayed as they are. */
export class WriteForwarder extends BatchForwarder<ForwardedWrite, ForwardAnswer> {
  constructor(o: ForwarderOptions) {
    super(o, WRITES);
  }
}

function json(status: number, error: string): ForwardAnswer {
  return { status, type: "application/json", body: Buffer.from(JSON.stringify({ error })) };
}

/** An answer body's `n` items, each an array, or null if it is not that (for codecs). */
export function unpackAnswers(raw: Buffer, n: number): unknown[][] | null {
  let v: unknown;
  try {
    v = packr.unpack(raw);
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length !== n || !v.every(Array.isArray)) return null;
  return v as unknown[][];
}

function parseAnswers(raw: Buffer, n: number): ForwardAnswer[] | null {
  const v = unpackAnswers(raw, n);
  if (v === null) return null;
  const out: ForwardAnswer[] = [];
  for (const a of v) {
    if (a.length !== 3 && a.length !== 4) return null;
    const [status, type, body, revision] = a as unknown[];
    if (!Number.isInteger(status) || typeof type !== "string" || !(body instanceof Uint8Array)) {
      return null;
    }
    const answer: ForwardAnswer = { status: status as number, type, body: Buffer.from(body) };
    if (a.length === 4) {
      if (!Number.isSafeInteger(revision)) return null;
      answer.revision = revision as number;
    }
    out.push(answer);
  }
  return out;
}

/** Leader side: the batch's items as commands (stamped `ts`), or why the batch is malformed. */
export function parseForwardBatch(raw: Buffer, ts: number): ForwardedWrite[] | string {
  let v: unknown;
  try {
    v = packr.unpack(raw);
  } catch {
    return "forwarded batch: not msgpack";
  }
  if (!Array.isArray(v) || v.length === 0) return "forwarded batch: not a non-empty array";
  const out: ForwardedWrite[] = [];
  for (const [i, item] of v.entries()) {
    const cmd = parseWrite(item, ts);
    if (typeof cmd === "string") return `forwarded batch: item ${i}: ${cmd}`;
    const token = (item as unknown[])[6];
    if (token === null || token === undefined) out.push({ cmd });
    else if (typeof token === "string" && token.length <= MAX_TOKEN_CHARS) out.push({ cmd, token });
    else return `forwarded batch: item ${i}: bad token`;
  }
  return out;
}

const isText = (b: unknown, max: number): b is Uint8Array =>
  b instanceof Uint8Array && b.length <= max && isUtf8(b);

function parseWrite(item: unknown, ts: number): KvCommand | string {
  if (!Array.isArray(item) || (item.length !== 6 && item.length !== 7))
    return "not a 6-element (7 with a token) array";
  const [code, key, value, expect, clientId, requestId] = item as unknown[];
  const op = OPS[code as number];
  if (op === undefined) return "unknown op";
  if (typeof key !== "string" || key.length === 0 || Buffer.byteLength(key) > 1024) {
    return "bad key";
  }
  let session: Session | undefined;
  if (clientId !== null || requestId !== null) {
    if (typeof clientId !== "string" || clientId === "" || Buffer.byteLength(clientId) > 128) {
      return "bad client id";
    }
    if (!Number.isSafeInteger(requestId) || (requestId as number) < 1) return "bad request id";
    session = { clientId, requestId: requestId as number };
  }
  const base = session ? { key, ts, session } : { key, ts };
  if (op === "del") return value === null && expect === null ? { ...base, op } : "bad delete";
  if (!isText(value, MAX_VALUE_BYTES)) return "bad value";
  if (op !== "cas") return expect === null ? { ...base, op, value } : "bad expect";
  if (expect !== null && !isText(expect, MAX_EXPECT_BYTES)) return "bad expect";
  return { ...base, op, value, expect };
}

/** Leader side: the answer body. */
export function encodeAnswers(answers: ForwardAnswer[]): Buffer {
  return packr.pack(
    answers.map((a) =>
      a.revision === undefined
        ? [a.status, a.type, a.body]
        : [a.status, a.type, a.body, a.revision],
    ),
  );
}
