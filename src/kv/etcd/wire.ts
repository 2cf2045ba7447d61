// Conversions between the etcd API's messages as @grpc/proto-loader presents them (proto.ts:
// snake_case names, int64 and uint64 as decimal strings, bytes as Buffers, proto3 defaults
// filled in, oneofs named by a field) and the MVCC store's requests and responses
// (mvcc/types.ts: camelCase, numbers, bigint lease ids, optional fields).
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Event,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from "../mvcc/index.js";

/** etcdserverpb.ResponseHeader. */
export interface Header {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

/** Makes the header of a response at store revision `revision`. */
export type HeaderAt = (revision?: number) => Header;

type Wire = Record<string, unknown>;

/**
 * An int64/uint64 field (a decimal string, a number or a Long-like) as a number, clamped to the
 * safe integers: no revision, TTL or count gets near 2^53, so a larger value answers as the
 * largest one would (a future revision, a TTL too large) instead of losing precision.
 */
export function num(v: unknown): number {
  if (v === undefined || v === null || v === "") return 0;
  const n = Number(typeof v === "object" ? String(v) : v);
  if (Number.isNaN(n)) return 0;
  return Math.max(Number.MIN_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, Math.trunc(n)));
}

/** An int64 field as a bigint (lease ids use all 64 bits). */
export function big(v: unknown): bigint {
  if (v === undefined || v === null || v === "") return 0n;
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return BigInt(Math.trunc(v));
  return BigInt(String(v));
}

function bytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(0);
}

/** An optional bytes field: absent when empty, as the store expects. */
function optBytes(v: unknown): Uint8Array | undefined {
  return v instanceof Uint8Array && v.length > 0 ? v : undefined;
}

// ---- requests ----

export function rangeRequest(w: Wire): RangeRequest {
  const r: RangeRequest = {
    key: bytes(w.key),
    limit: num(w.limit),
    revision: num(w.revision),
    sortOrder: num(w.sort_order) as RangeRequest["sortOrder"],
    sortTarget: num(w.sort_target) as RangeRequest["sortTarget"],
    keysOnly: w.keys_only === true,
    countOnly: w.count_only === true,
    minModRevision: num(w.min_mod_revision),
    maxModRevision: num(w.max_mod_revision),
    minCreateRevision: num(w.min_create_revision),
    maxCreateRevision: num(w.max_create_revision),
  };
  const end = optBytes(w.range_end);
  if (end) r.rangeEnd = end;
  return r;
}

export function putRequest(w: Wire): PutRequest {
  return {
    key: bytes(w.key),
    value: bytes(w.value),
    lease: big(w.lease),
    prevKv: w.prev_kv === true,
    ignoreValue: w.ignore_value === true,
    ignoreLease: w.ignore_lease === true,
  };
}

export function deleteRangeRequest(w: Wire): DeleteRangeRequest {
  const r: DeleteRangeRequest = { key: bytes(w.key), prevKv: w.prev_kv === true };
  const end = optBytes(w.range_end);
  if (end) r.rangeEnd = end;
  return r;
}

function compare(w: Wire): Compare {
  const c: Compare = {
    result: num(w.result) as Compare["result"],
    target: num(w.target) as Compare["target"],
    key: bytes(w.key),
  };
  const end = optBytes(w.range_end);
  if (end) c.rangeEnd = end;
  switch (w.target_union) {
    case "version":
      c.version = num(w.version);
      break;
    case "create_revision":
      c.createRevision = num(w.create_revision);
      break;
    case "mod_revision":
      c.modRevision = num(w.mod_revision);
      break;
    case "value":
      c.value = bytes(w.value);
      break;
    case "lease":
      c.lease = big(w.lease);
      break;
  }
  return c;
}

function requestOp(w: Wire): RequestOp {
  switch (w.request) {
    case "request_range":
      return { range: rangeRequest(w.request_range as Wire) };
    case "request_put":
      return { put: putRequest(w.request_put as Wire) };
    case "request_delete_range":
      return { deleteRange: deleteRangeRequest(w.request_delete_range as Wire) };
    case "request_txn":
      return { txn: txnRequest(w.request_txn as Wire) };
    default:
      return {};
  }
}

export function txnRequest(w: Wire): TxnRequest {
  const list = (v: unknown) => (Array.isArray(v) ? (v as Wire[]) : []);
  return {
    compare: list(w.compare).map(compare),
    success: list(w.success).map(requestOp),
    failure: list(w.failure).map(requestOp),
  };
}

// ---- responses ----

export function keyValue(kv: KeyValue): Wire {
  return {
    key: kv.key,
    create_revision: String(kv.createRevision),
    mod_revision: String(kv.modRevision),
    version: String(kv.version),
    value: kv.value,
    lease: kv.lease.toString(),
  };
}

export function rangeResponse(r: RangeResponse, header: HeaderAt): Wire {
  return {
    header: header(r.revision),
    kvs: r.kvs.map(keyValue),
    more: r.more,
    count: String(r.count),
  };
}

export function putResponse(r: PutResponse, header: HeaderAt): Wire {
  const w: Wire = { header: header(r.revision) };
  if (r.prevKv) w.prev_kv = keyValue(r.prevKv);
  return w;
}

export function deleteRangeResponse(r: DeleteRangeResponse, header: HeaderAt): Wire {
  return {
    header: header(r.revision),
    deleted: String(r.deleted),
    prev_kvs: r.prevKvs.map(keyValue),
  };
}

function responseOp(r: ResponseOp, header: HeaderAt): Wire {
  if ("range" in r) return { response_range: rangeResponse(r.range, header) };
  if ("put" in r) return { response_put: putResponse(r.put, header) };
  if ("deleteRange" in r)
    return { response_delete_range: deleteRangeResponse(r.deleteRange, header) };
  if ("txn" in r) return { response_txn: txnResponse(r.txn, header) };
  return {};
}

export function txnResponse(r: TxnResponse, header: HeaderAt): Wire {
  return {
    header: header(r.revision),
    succeeded: r.succeeded,
    responses: r.responses.map((op) => responseOp(op, header)),
  };
}

export function event(e: Event): Wire {
  const w: Wire = { type: e.type, kv: keyValue(e.kv) };
  if (e.prevKv) w.prev_kv = keyValue(e.prevKv);
  return w;
}
