// The replicated command encoding: what the HTTP and gRPC layers propose and
// KvStateMachine.apply() decodes. msgpack with `useRecords: false` keeps the bytes
// self-describing and free of msgpackr's record extension, so a log written by one version stays
// readable; bigints (etcd's 64-bit lease ids) travel as msgpack int64 and decode as bigints,
// plain numbers as before, so older logs decode unchanged.
//
// Wire shapes (msgpack arrays, positional to keep entries small):
//   native HTTP ops 1..4:  [op, ts, key, value?, expect?, clientId?, requestId?, user?]
//     op: 1 put, 2 del, 3 append, 4 cas
//   etcd ops 10..16, 20:   [op, ts, payload, clientId?, requestId?, user?]
//     op: 10 put, 11 delete-range, 12 txn, 13 compact, 14 lease-grant, 15 lease-revoke,
//     16 lease-expire, 20 auth management; payload: the request (src/kv/mvcc/types.ts) or
//     {revision} / {id, ttl} / {id} / {ids} / an AuthRequest (src/kv/auth/store.ts)
//   user: who asked (auth enabled: checked against the auth state when applied, as etcd's
//   request header username); clientId and requestId are nil when only the user is there.
// ts: the proposing leader's clock in ms; it only ever moves session expiry forward and gives a
// granted lease its first deadline (see state-machine.ts), so apply() never reads a local clock.
import { Packr } from "msgpackr";
import { type AuthRequest, isAuthRequest } from "./auth/store.js";
import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "./mvcc/types.js";

/** Exactly-once identity of a write (README, "HTTP API"; Raft thesis §6.3). */
export interface Session {
  clientId: string;
  /** Decimal integer 1..2^53-1, increasing per client. */
  requestId: number;
}

interface Stamp {
  /** Leader timestamp (ms since epoch) taken at proposal time. */
  ts: number;
  session?: Session;
  /** The authenticated user the request came from (set by the member that verified it). */
  user?: string;
}

interface Base extends Stamp {
  key: string;
}

/** The native HTTP API's writes. */
export type KvCommand =
  | (Base & { op: "put"; value: Uint8Array })
  | (Base & { op: "del" })
  | (Base & { op: "append"; value: Uint8Array })
  | (Base & { op: "cas"; expect: Uint8Array | null; value: Uint8Array });

/** etcd v3 writes and the leader's lease decisions. */
export type EtcdCommand =
  | (Stamp & { op: "etcd-put"; req: PutRequest })
  | (Stamp & { op: "etcd-delete"; req: DeleteRangeRequest })
  | (Stamp & { op: "etcd-txn"; req: TxnRequest })
  /** `auto`: the leader's auto-compaction (lease-keeper.ts), no client's request. */
  | (Stamp & { op: "compact"; revision: number; auto?: true })
  /** The leader picked `id` (never 0). */
  | (Stamp & { op: "lease-grant"; id: bigint; ttl: number })
  | (Stamp & { op: "lease-revoke"; id: bigint })
  /** Leases the leader found past their deadline; each is revoked if it still exists. */
  | (Stamp & { op: "lease-expire"; ids: bigint[] })
  /** Users, roles, permissions, auth on and off (src/kv/auth/store.ts). */
  | (Stamp & { op: "auth"; req: AuthRequest });

/** Everything the state machine applies. */
export type Command = KvCommand | EtcdCommand;

const OP_CODES = { put: 1, del: 2, append: 3, cas: 4 } as const;
const ETCD_CODES = {
  "etcd-put": 10,
  "etcd-delete": 11,
  "etcd-txn": 12,
  compact: 13,
  "lease-grant": 14,
  "lease-revoke": 15,
  "lease-expire": 16,
  auth: 20,
} as const;
/** Longest user name a command may carry. */
export const MAX_USER_BYTES = 1024;
const ETCD_OPS = new Map<number, EtcdCommand["op"]>(
  Object.entries(ETCD_CODES).map(([k, v]) => [v, k as EtcdCommand["op"]]),
);

// copyBuffers: values outlive the entry buffer they were decoded from (the runtime may reuse it).
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: true,
});

export function isEtcdCommand(cmd: Command): cmd is EtcdCommand {
  return cmd.op in ETCD_CODES;
}

export function encodeCommand(cmd: Command): Uint8Array {
  const s = cmd.session;
  let wire: unknown[];
  if (isEtcdCommand(cmd)) {
    wire = [ETCD_CODES[cmd.op], cmd.ts, etcdPayload(cmd)];
  } else {
    const value = cmd.op === "del" ? null : cmd.value;
    const expect = cmd.op === "cas" ? cmd.expect : null;
    wire = [OP_CODES[cmd.op], cmd.ts, cmd.key, value, expect];
  }
  if (s || cmd.user !== undefined) wire.push(s?.clientId ?? null, s?.requestId ?? null);
  if (cmd.user !== undefined) wire.push(cmd.user);
  return packr.pack(wire);
}

function etcdPayload(cmd: EtcdCommand): unknown {
  switch (cmd.op) {
    case "etcd-put":
    case "etcd-delete":
    case "etcd-txn":
      return cmd.req;
    case "compact":
      return cmd.auto ? { revision: cmd.revision, auto: true } : { revision: cmd.revision };
    case "lease-grant":
      return { id: cmd.id, ttl: cmd.ttl };
    case "lease-revoke":
      return { id: cmd.id };
    case "lease-expire":
      return { ids: cmd.ids };
    case "auth":
      return cmd.req;
  }
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/**
 * Decode and validate a log entry's data. Returns a string describing the problem for bytes
 * that are not a command (entries come only from our own proposals, but the state machine must
 * stay deterministic and alive whatever the log holds).
 */
export function decodeCommand(data: Uint8Array): Command | string {
  let wire: unknown;
  try {
    wire = packr.unpack(data);
  } catch {
    return "undecodable command";
  }
  if (!Array.isArray(wire)) return "malformed command";
  const [op, ts] = wire;
  if (typeof ts !== "number" || !Number.isFinite(ts)) return "malformed timestamp";
  const etcdOp = ETCD_OPS.get(op as number);
  if (etcdOp !== undefined) {
    if (wire.length !== 3 && wire.length !== 5 && wire.length !== 6) return "malformed command";
    const stamp = decodeStamp(ts, wire.slice(3));
    if (typeof stamp === "string") return stamp;
    return decodeEtcd(etcdOp, stamp, wire[2]);
  }
  if (wire.length !== 5 && wire.length !== 7 && wire.length !== 8) return "malformed command";
  const [, , key, value, expect] = wire;
  if (typeof key !== "string") return "malformed key";
  const stamp = decodeStamp(ts, wire.slice(5));
  if (typeof stamp === "string") return stamp;
  const base = { key, ...stamp };
  switch (op) {
    case OP_CODES.put:
    case OP_CODES.append:
      if (!isBytes(value)) return "malformed value";
      return { ...base, op: op === OP_CODES.put ? "put" : "append", value };
    case OP_CODES.del:
      return { ...base, op: "del" };
    case OP_CODES.cas:
      if (!isBytes(value) || !(expect === null || isBytes(expect))) return "malformed cas";
      return { ...base, op: "cas", expect, value };
    default:
      return "unknown operation";
  }
}

/** The stamp from the optional tail [clientId, requestId, user?] (nil ids: no session). */
function decodeStamp(ts: number, tail: unknown[]): Stamp | string {
  const [clientId, requestId, user] = tail;
  const present = tail.length > 0 && !(clientId === null && requestId === null);
  const session = decodeSession(present, clientId, requestId);
  if (typeof session === "string") return session;
  const stamp: Stamp = session ? { ts, session } : { ts };
  if (tail.length === 3) {
    if (typeof user !== "string" || user === "" || Buffer.byteLength(user) > MAX_USER_BYTES)
      return "malformed user";
    stamp.user = user;
  }
  return stamp;
}

function decodeSession(
  present: boolean,
  clientId: unknown,
  requestId: unknown,
): Session | undefined | string {
  if (!present) return undefined;
  if (typeof clientId !== "string" || !Number.isSafeInteger(requestId) || (requestId as number) < 1)
    return "malformed session";
  return { clientId, requestId: requestId as number };
}

function decodeEtcd(op: EtcdCommand["op"], stamp: Stamp, p: unknown): EtcdCommand | string {
  if (typeof p !== "object" || p === null) return "malformed payload";
  const o = p as Record<string, unknown>;
  switch (op) {
    case "etcd-put":
      return isPut(o) ? { ...stamp, op, req: o } : "malformed put";
    case "etcd-delete":
      return isDeleteRange(o) ? { ...stamp, op, req: o } : "malformed delete";
    case "etcd-txn":
      return isTxn(o, 0) ? { ...stamp, op, req: o } : "malformed txn";
    case "compact":
      if (!isCount(o.revision) || !(o.auto === undefined || o.auto === true))
        return "malformed compact";
      return o.auto
        ? { ...stamp, op, revision: o.revision, auto: true }
        : { ...stamp, op, revision: o.revision };
    case "lease-grant":
      return typeof o.id === "bigint" && o.id !== 0n && isCount(o.ttl)
        ? { ...stamp, op, id: o.id, ttl: o.ttl }
        : "malformed lease grant";
    case "lease-revoke":
      return typeof o.id === "bigint" ? { ...stamp, op, id: o.id } : "malformed lease revoke";
    case "lease-expire":
      return Array.isArray(o.ids) && o.ids.every((id) => typeof id === "bigint")
        ? { ...stamp, op, ids: o.ids as bigint[] }
        : "malformed lease expiry";
    case "auth":
      return isAuthRequest(o) ? { ...stamp, op, req: o } : "malformed auth request";
  }
}

// Shape checks of decoded requests: the store checks their meaning (txn-check.ts); these only
// make sure it is never handed a value of the wrong type.

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v);
}

function optional(o: Record<string, unknown>, name: string, check: (v: unknown) => boolean) {
  const v = o[name];
  return v === undefined || check(v);
}

const isBool = (v: unknown) => typeof v === "boolean";
const isBigint = (v: unknown) => typeof v === "bigint";

function isKeyed(o: Record<string, unknown>): boolean {
  return isBytes(o.key) && optional(o, "rangeEnd", isBytes);
}

function isRange(o: Record<string, unknown>): o is RangeRequest & Record<string, unknown> {
  return (
    isKeyed(o) &&
    [
      "limit",
      "revision",
      "sortOrder",
      "sortTarget",
      "minModRevision",
      "maxModRevision",
      "minCreateRevision",
      "maxCreateRevision",
    ].every((n) => optional(o, n, isCount)) &&
    optional(o, "keysOnly", isBool) &&
    optional(o, "countOnly", isBool)
  );
}

function isPut(o: Record<string, unknown>): o is PutRequest & Record<string, unknown> {
  return (
    isBytes(o.key) &&
    optional(o, "value", isBytes) &&
    optional(o, "lease", isBigint) &&
    ["prevKv", "ignoreValue", "ignoreLease"].every((n) => optional(o, n, isBool))
  );
}

function isDeleteRange(
  o: Record<string, unknown>,
): o is DeleteRangeRequest & Record<string, unknown> {
  return isKeyed(o) && optional(o, "prevKv", isBool);
}

function isCompare(v: unknown): v is Compare {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    isKeyed(o) &&
    ["result", "target", "version", "createRevision", "modRevision"].every((n) =>
      optional(o, n, isCount),
    ) &&
    optional(o, "value", isBytes) &&
    optional(o, "lease", isBigint)
  );
}

/** Nested txns deeper than this are refused (etcd limits a txn by its operation count anyway). */
const MAX_TXN_DEPTH = 64;

function isOps(v: unknown, depth: number): v is RequestOp[] {
  return Array.isArray(v) && v.every((op) => isOp(op, depth));
}

function isOp(v: unknown, depth: number): boolean {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  const names = Object.keys(o);
  if (names.length === 0) return true;
  if (names.length !== 1) return false;
  const inner = o[names[0] as string];
  if (typeof inner !== "object" || inner === null) return false;
  const r = inner as Record<string, unknown>;
  switch (names[0]) {
    case "range":
      return isRange(r);
    case "put":
      return isPut(r);
    case "deleteRange":
      return isDeleteRange(r);
    case "txn":
      return isTxn(r, depth + 1);
    default:
      return false;
  }
}

function isTxn(
  o: Record<string, unknown>,
  depth: number,
): o is TxnRequest & Record<string, unknown> {
  return (
    depth <= MAX_TXN_DEPTH &&
    optional(o, "compare", (v) => Array.isArray(v) && v.every(isCompare)) &&
    optional(o, "success", (v) => isOps(v, depth)) &&
    optional(o, "failure", (v) => isOps(v, depth))
  );
}
