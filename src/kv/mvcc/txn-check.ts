// Request checks that depend on the request alone, not on the store: etcd's gRPC layer runs
// them before proposing (etcdserver/api/v3rpc/key.go: checkPutRequest, checkTxnRequest,
// checkIntervals), so a bad request costs no Raft round. The store runs them again when it
// applies, which keeps apply deterministic whatever reached the log.

import { type EtcdError, etcdError } from "./errors.js";
import { inRange, type KeyRange, keyRange, toByteString } from "./keys.js";
import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "./types.js";

/** etcd's --max-txn-ops default. */
export const DEFAULT_MAX_TXN_OPS = 128;
/** etcd's --max-request-bytes default (1.5 MiB). */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

export function checkRange(r: RangeRequest): EtcdError | null {
  return r.key.length === 0 ? etcdError("EmptyKey") : null;
}

export function checkPut(r: PutRequest): EtcdError | null {
  if (r.key.length === 0) return etcdError("EmptyKey");
  if (r.ignoreValue && (r.value?.length ?? 0) !== 0) return etcdError("ValueProvided");
  if (r.ignoreLease && (r.lease ?? 0n) !== 0n) return etcdError("LeaseProvided");
  return null;
}

export function checkDeleteRange(r: DeleteRangeRequest): EtcdError | null {
  return r.key.length === 0 ? etcdError("EmptyKey") : null;
}

/**
 * etcd's checkTxnRequest then checkIntervals: operations per level (a nested txn gets what its
 * parent's level left), empty keys, put flags, an empty RequestOp ("key not found", etcd's
 * answer), then no key put twice or put and deleted in one txn (the two branches of a nested
 * txn exclude each other, so they may put the same key).
 */
export function checkTxn(r: TxnRequest, maxTxnOps: number = DEFAULT_MAX_TXN_OPS): EtcdError | null {
  const structural = checkTxnOps(r, maxTxnOps);
  if (structural) return structural;
  if (checkIntervals(r.success ?? []) === null || checkIntervals(r.failure ?? []) === null) {
    return etcdError("DuplicateKey");
  }
  return null;
}

function checkTxnOps(r: TxnRequest, maxTxnOps: number): EtcdError | null {
  const compare = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opc = Math.max(compare.length, success.length, failure.length);
  if (opc > maxTxnOps) return etcdError("TooManyOps");
  for (const c of compare) if (c.key.length === 0) return etcdError("EmptyKey");
  for (const op of [...success, ...failure]) {
    const e = checkOp(op, maxTxnOps - opc);
    if (e) return e;
  }
  return null;
}

function checkOp(op: RequestOp, maxTxnOps: number): EtcdError | null {
  if ("range" in op) return checkRange(op.range);
  if ("put" in op) return checkPut(op.put);
  if ("deleteRange" in op) return checkDeleteRange(op.deleteRange);
  if ("txn" in op) return checkTxnOps(op.txn, maxTxnOps);
  return etcdError("KeyNotFound");
}

/** What one operation (or a nested txn, both branches together) may write. */
interface Writes {
  puts: Set<string>;
  dels: KeyRange[];
}

/**
 * The keys a list of operations may put and the ranges it may delete, or null if some way
 * through it (each nested txn taking either branch) writes a key twice. Operations side by side
 * must not overlap; the two branches of one nested txn may, since only one of them runs. This
 * is the rule etcd's checkIntervals means, checked exactly: etcd compares each nested txn's
 * puts only with the deletes of the operations before it, so it lets "txn{put a}; txn{else
 * delete a}" through, which would write "a" twice in one revision.
 */
function checkIntervals(ops: readonly RequestOp[]): Writes | null {
  const groups: Writes[] = [];
  for (const op of ops) {
    if ("put" in op) groups.push({ puts: new Set([toByteString(op.put.key)]), dels: [] });
    else if ("deleteRange" in op) {
      groups.push({
        puts: new Set(),
        dels: [keyRange(op.deleteRange.key, op.deleteRange.rangeEnd)],
      });
    } else if ("txn" in op) {
      const then = checkIntervals(op.txn.success ?? []);
      const otherwise = checkIntervals(op.txn.failure ?? []);
      if (then === null || otherwise === null) return null;
      groups.push({
        puts: new Set([...then.puts, ...otherwise.puts]),
        dels: [...then.dels, ...otherwise.dels],
      });
    }
  }
  const all: Writes = { puts: new Set(), dels: groups.flatMap((g) => g.dels) };
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i] as Writes;
    for (const k of g.puts) {
      if (all.puts.has(k)) return null;
      for (let j = 0; j < groups.length; j++) {
        if (j !== i && (groups[j] as Writes).dels.some((d) => inRange(d, k))) return null;
      }
      all.puts.add(k);
    }
  }
  return all;
}

/** Whether no operation in either branch, at any depth, writes (etcd's isTxnReadonly). */
export function isReadOnlyTxn(r: TxnRequest): boolean {
  for (const op of [...(r.success ?? []), ...(r.failure ?? [])]) {
    if ("put" in op || "deleteRange" in op) return false;
    if ("txn" in op && !isReadOnlyTxn(op.txn)) return false;
  }
  return true;
}

// ---- request size: the protobuf encoding's size, for etcd's --max-request-bytes ----

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** A length-delimited field (bytes or a message) of n bytes; absent when empty. */
function lenField(n: number): number {
  return n === 0 ? 0 : 1 + varintBytes(n) + n;
}

/** Numeric and boolean fields: at most a tag and a 10-byte varint each. */
const SCALAR = 11;

export function rangeBytes(r: RangeRequest): number {
  return lenField(r.key.length) + lenField(r.rangeEnd?.length ?? 0) + 11 * SCALAR;
}

export function putBytes(r: PutRequest): number {
  return lenField(r.key.length) + lenField(r.value?.length ?? 0) + 4 * SCALAR;
}

export function deleteRangeBytes(r: DeleteRangeRequest): number {
  return lenField(r.key.length) + lenField(r.rangeEnd?.length ?? 0) + SCALAR;
}

function compareBytes(c: Compare): number {
  return (
    lenField(c.key.length) +
    lenField(c.rangeEnd?.length ?? 0) +
    lenField(c.value?.length ?? 0) +
    3 * SCALAR
  );
}

function opBytes(op: RequestOp): number {
  if ("range" in op) return lenField(rangeBytes(op.range));
  if ("put" in op) return lenField(putBytes(op.put));
  if ("deleteRange" in op) return lenField(deleteRangeBytes(op.deleteRange));
  if ("txn" in op) return lenField(txnBytes(op.txn));
  return 2;
}

export function txnBytes(r: TxnRequest): number {
  let n = 0;
  for (const c of r.compare ?? []) n += lenField(compareBytes(c));
  for (const op of r.success ?? []) n += lenField(opBytes(op));
  for (const op of r.failure ?? []) n += lenField(opBytes(op));
  return n;
}
