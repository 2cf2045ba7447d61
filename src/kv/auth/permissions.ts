// Permission checks of etcd's auth model (etcd's auth/range_perm_cache.go): a role grants
// read, write or both on a key, a range [key, range_end) or everything from key on
// (range_end "\0"); a user holds the union of its roles' grants. A request is allowed when
// the union covers every key it touches: a range must be covered as a whole, possibly by
// several grants that meet end to start, as etcd's interval tree answers Contains().
//
// needsOf*() say what a request touches (etcd's apply_auth.go): a range or a watch reads its
// keys; a put writes its key; a delete writes its range; prev_kv also reads what it returns;
// a txn reads its compares' keys and does every operation of both branches (the branch taken
// is not known before it runs).
import type {
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "../mvcc/types.js";

export const READ = 0;
export const WRITE = 1;
export const READWRITE = 2;
export type PermType = typeof READ | typeof WRITE | typeof READWRITE;

/** One grant, as etcd's authpb.Permission: an empty rangeEnd is the key alone. */
export interface Permission {
  type: PermType;
  key: Uint8Array;
  rangeEnd: Uint8Array;
}

export type Access = "read" | "write";

/** What a request touches: `key` alone, or [key, rangeEnd) as a range request spells it. */
export interface Need {
  access: Access;
  key: Uint8Array;
  rangeEnd?: Uint8Array | undefined;
}

/** [start, end) in byte order; end null: no upper bound. */
export interface Interval {
  start: Buffer;
  end: Buffer | null;
}

const ZERO = Buffer.from([0]);
const EMPTY = Buffer.alloc(0);

function buf(b: Uint8Array | undefined): Buffer {
  if (b === undefined) return EMPTY;
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The keys `key`/`rangeEnd` name; null when none (a range whose end is not above its key). */
export function toInterval(key: Uint8Array, rangeEnd?: Uint8Array): Interval | null {
  const k = buf(key);
  const e = buf(rangeEnd);
  if (e.length === 0) return { start: k, end: Buffer.concat([k, ZERO]) };
  if (e.length === 1 && e[0] === 0) return { start: k, end: null };
  if (Buffer.compare(e, k) <= 0) return null;
  return { start: k, end: e };
}

/** Intervals of grants sorted by start, for coverage checks. */
export function sortIntervals(list: Interval[]): Interval[] {
  return list.sort((a, b) => Buffer.compare(a.start, b.start));
}

/**
 * Whether the union of `sorted` (by start) covers [key, rangeEnd). A request range that names
 * no key (end not above start) is checked as its start key alone: it reads nothing, but a
 * user without any right there learns nothing either way, and refusing is the safe side.
 */
export function covers(
  sorted: readonly Interval[],
  key: Uint8Array,
  rangeEnd?: Uint8Array,
): boolean {
  const want = toInterval(key, rangeEnd) ?? (toInterval(key) as Interval);
  let cur = want.start;
  for (const iv of sorted) {
    if (Buffer.compare(iv.start, cur) > 0) return false; // a gap at cur
    if (iv.end === null) return true;
    if (Buffer.compare(iv.end, cur) > 0) {
      cur = iv.end;
      if (want.end !== null && Buffer.compare(cur, want.end) >= 0) return true;
    }
  }
  return false;
}

/** A user's grants merged by access, ready for covers(). */
export interface MergedPermissions {
  read: Interval[];
  write: Interval[];
}

export function mergePermissions(perms: Iterable<Permission>): MergedPermissions {
  const read: Interval[] = [];
  const write: Interval[] = [];
  for (const p of perms) {
    const iv = toInterval(p.key, p.rangeEnd);
    if (iv === null) continue;
    if (p.type !== WRITE) read.push(iv);
    if (p.type !== READ) write.push(iv);
  }
  return { read: sortIntervals(read), write: sortIntervals(write) };
}

/** Whether `merged` allows every need. */
export function allows(merged: MergedPermissions, needs: readonly Need[]): boolean {
  return needs.every((n) =>
    covers(n.access === "read" ? merged.read : merged.write, n.key, n.rangeEnd),
  );
}

export function needsOfRange(r: RangeRequest): Need[] {
  return [{ access: "read", key: r.key, rangeEnd: r.rangeEnd }];
}

export function needsOfPut(r: PutRequest): Need[] {
  const w: Need = { access: "write", key: r.key };
  return r.prevKv ? [w, { access: "read", key: r.key }] : [w];
}

export function needsOfDelete(r: DeleteRangeRequest): Need[] {
  const w: Need = { access: "write", key: r.key, rangeEnd: r.rangeEnd };
  return r.prevKv ? [w, { ...w, access: "read" }] : [w];
}

export function needsOfTxn(t: TxnRequest): Need[] {
  const out: Need[] = [];
  for (const c of t.compare ?? []) out.push({ access: "read", key: c.key, rangeEnd: c.rangeEnd });
  for (const op of [...(t.success ?? []), ...(t.failure ?? [])]) out.push(...needsOfOp(op));
  return out;
}

function needsOfOp(op: RequestOp): Need[] {
  if ("range" in op && op.range) return needsOfRange(op.range);
  if ("put" in op && op.put) return needsOfPut(op.put);
  if ("deleteRange" in op && op.deleteRange) return needsOfDelete(op.deleteRange);
  if ("txn" in op && op.txn) return needsOfTxn(op.txn);
  return [];
}
