// The reference model for the MVCC store, the lease table and the watch hub tests: the full
// key-value map of every revision, kept in a list, and each operation written the obvious way
// over it (copy the map, change it, append). Slow and simple on purpose: it shares no code
// with src/kv/mvcc beyond the request types and etcd's error codes.

import type { EtcdErrorCode } from "../../../src/kv/mvcc/errors.js";
import type {
  Compare,
  DeleteRangeRequest,
  Event,
  KeyValue,
  PutRequest,
  RangeRequest,
  RequestOp,
  ResponseOp,
  TxnRequest,
} from "../../../src/kv/mvcc/types.js";

export const SEED = Number(process.env.KV_SEED ?? Date.now() % 2 ** 31);
console.log(`kv mvcc/lease/watch property tests: seed ${SEED} (replay with KV_SEED=${SEED})`);

export interface Entry {
  value: string;
  create: number;
  mod: number;
  ver: number;
  lease: bigint;
}

type KvMap = Map<string, Entry>;

/** Bytes as latin1 text (one character per byte), so JS `<` is byte order. */
export const text = (b: Uint8Array): string => Buffer.from(b).toString("latin1");
export const bytes = (s: string): Uint8Array => Buffer.from(s, "latin1");

export type ModelResult<T> = { ok: true; value: T } | { ok: false; code: EtcdErrorCode };

const failed = (code: EtcdErrorCode) => ({ ok: false as const, code });

/** A KeyValue in the model's terms, for deep comparison with the store's. */
export interface Kv {
  key: string;
  value: string;
  create: number;
  mod: number;
  ver: number;
  lease: bigint;
}

export function kvOf(kv: KeyValue): Kv {
  return {
    key: text(kv.key),
    value: text(kv.value),
    create: kv.createRevision,
    mod: kv.modRevision,
    ver: kv.version,
    lease: kv.lease,
  };
}

const toKv = (key: string, e: Entry): Kv => ({ key, ...e });

/** etcd's (key, range_end) reading, done again the plain way. */
function inRange(key: string, start: string, end: string | undefined): boolean {
  if (end === undefined || end === "") return key === start;
  if (end === "\0") return key >= start;
  return key >= start && key < end;
}

function matching(m: KvMap, key: Uint8Array, end?: Uint8Array): string[] {
  const s = text(key);
  const e = end === undefined ? undefined : text(end);
  return [...m.keys()].filter((k) => inRange(k, s, e)).sort();
}

export interface ModelRange {
  revision: number;
  kvs: Kv[];
  more: boolean;
  count: number;
}

export class Model {
  /** states[r] is the map at revision r (index 0 unused). */
  readonly states: KvMap[] = [new Map(), new Map()];
  compactRev = -1;
  /** lease id -> granted ttl */
  readonly leases = new Map<bigint, number>();

  constructor(readonly minTtl = 2) {}

  get rev(): number {
    return this.states.length - 1;
  }

  private get current(): KvMap {
    return this.states[this.rev] as KvMap;
  }

  range(req: RangeRequest, m: KvMap = this.current, latest = this.rev): ModelResult<ModelRange> {
    if (req.key.length === 0) return failed("EmptyKey");
    let rev = req.revision ?? 0;
    if (rev > latest) return failed("FutureRev");
    if (rev <= 0) rev = latest;
    if (rev < this.compactRev) return failed("Compacted");
    const at = rev === latest ? m : (this.states[rev] as KvMap);
    const keys = matching(at, req.key, req.rangeEnd);
    const count = keys.length;
    if (req.countOnly)
      return { ok: true, value: { revision: latest, kvs: [], more: false, count } };
    let kvs = keys.map((k) => toKv(k, at.get(k) as Entry));
    const f = (v: number | undefined) => v ?? 0;
    kvs = kvs.filter(
      (kv) =>
        (f(req.maxModRevision) === 0 || kv.mod <= f(req.maxModRevision)) &&
        (f(req.minModRevision) === 0 || kv.mod >= f(req.minModRevision)) &&
        (f(req.maxCreateRevision) === 0 || kv.create <= f(req.maxCreateRevision)) &&
        (f(req.minCreateRevision) === 0 || kv.create >= f(req.minCreateRevision)),
    );
    const target = req.sortTarget ?? 0;
    let order = req.sortOrder ?? 0;
    if (target !== 0 && order === 0) order = 1;
    if (order !== 0) {
      const field = (kv: Kv): number | string =>
        [kv.key, kv.ver, kv.create, kv.mod, kv.value][target] as number | string;
      // Ties stay in key order (the input order) in both directions.
      const decorated = kvs.map((kv, i) => ({ kv, i }));
      decorated.sort((a, b) => {
        const x = field(a.kv);
        const y = field(b.kv);
        const c = x < y ? -1 : x > y ? 1 : 0;
        return (order === 2 ? -c : c) || a.i - b.i;
      });
      kvs = decorated.map((d) => d.kv);
    }
    const limit = req.limit && req.limit > 0 ? req.limit : 0;
    const more = limit > 0 && kvs.length > limit;
    if (more) kvs = kvs.slice(0, limit);
    if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: "" }));
    return { ok: true, value: { revision: latest, kvs, more, count } };
  }

  private checkPut(req: PutRequest): EtcdErrorCode | null {
    if (req.key.length === 0) return "EmptyKey";
    if (req.ignoreValue && (req.value?.length ?? 0) > 0) return "ValueProvided";
    if (req.ignoreLease && (req.lease ?? 0n) !== 0n) return "LeaseProvided";
    return null;
  }

  private checkPutState(req: PutRequest, m: KvMap): EtcdErrorCode | null {
    const lease = req.lease ?? 0n;
    if (lease !== 0n && !this.leases.has(lease)) return "LeaseNotFound";
    if ((req.ignoreValue || req.ignoreLease) && !m.has(text(req.key))) return "KeyNotFound";
    return null;
  }

  /** Applies a put to the working map `m` of a write at `rev`; returns the previous kv. */
  private doPut(m: KvMap, req: PutRequest, rev: number): Kv | undefined {
    const key = text(req.key);
    const prev = m.get(key);
    m.set(key, {
      value: req.ignoreValue ? (prev as Entry).value : text(req.value ?? new Uint8Array()),
      create: prev ? prev.create : rev,
      mod: rev,
      ver: prev ? prev.ver + 1 : 1,
      lease: req.ignoreLease ? (prev as Entry).lease : (req.lease ?? 0n),
    });
    return prev && toKv(key, prev);
  }

  private commit(m: KvMap, changed: boolean): void {
    if (changed) this.states.push(m);
  }

  put(req: PutRequest): ModelResult<{ revision: number; prevKv?: Kv }> {
    const e = this.checkPut(req) ?? this.checkPutState(req, this.current);
    if (e) return failed(e);
    const m = new Map(this.current);
    const prev = this.doPut(m, req, this.rev + 1);
    this.commit(m, true);
    const value: { revision: number; prevKv?: Kv } = { revision: this.rev };
    if (req.prevKv && prev) value.prevKv = prev;
    return { ok: true, value };
  }

  private doDelete(m: KvMap, req: DeleteRangeRequest): Kv[] {
    const keys = matching(m, req.key, req.rangeEnd);
    const prev = keys.map((k) => toKv(k, m.get(k) as Entry));
    for (const k of keys) m.delete(k);
    return prev;
  }

  deleteRange(
    req: DeleteRangeRequest,
  ): ModelResult<{ revision: number; deleted: number; prevKvs: Kv[] }> {
    if (req.key.length === 0) return failed("EmptyKey");
    const m = new Map(this.current);
    const prev = this.doDelete(m, req);
    this.commit(m, prev.length > 0);
    return {
      ok: true,
      value: { revision: this.rev, deleted: prev.length, prevKvs: req.prevKv ? prev : [] },
    };
  }

  compact(rev: number): ModelResult<{ revision: number }> {
    if (rev <= this.compactRev) return failed("Compacted");
    if (rev > this.rev) return failed("FutureRev");
    this.compactRev = rev;
    return { ok: true, value: { revision: this.rev } };
  }

  leaseGrant(id: bigint, ttl: number): ModelResult<{ revision: number; id: bigint; ttl: number }> {
    if (id === 0n) return failed("LeaseNotFound");
    if (ttl > 9_000_000_000) return failed("LeaseTTLTooLarge");
    if (this.leases.has(id)) return failed("LeaseExist");
    const granted = Math.max(ttl, this.minTtl);
    this.leases.set(id, granted);
    return { ok: true, value: { revision: this.rev, id, ttl: granted } };
  }

  leaseRevoke(id: bigint): ModelResult<{ revision: number }> {
    if (!this.leases.has(id)) return failed("LeaseNotFound");
    this.leases.delete(id);
    const m = new Map(this.current);
    let changed = false;
    for (const [k, e] of this.current) {
      if (e.lease === id) {
        m.delete(k);
        changed = true;
      }
    }
    this.commit(m, changed);
    return { ok: true, value: { revision: this.rev } };
  }

  /** Keys attached to a lease, in byte order. */
  leaseKeys(id: bigint): string[] {
    return [...this.current]
      .filter(([, e]) => e.lease === id)
      .map(([k]) => k)
      .sort();
  }

  // ---- txn: the model handles txns whose branches never write one key twice ----

  private holds(c: Compare, m: KvMap): boolean {
    const keys = matching(m, c.key, c.rangeEnd);
    const target = c.target ?? 0;
    const order = <T>(a: T, b: T) => (a < b ? -1 : a > b ? 1 : 0);
    const test = (e: Entry | undefined): boolean => {
      let cmp: number;
      if (target === 3) cmp = order(e ? e.value : "", text(c.value ?? new Uint8Array()));
      else if (target === 4) cmp = order(e ? e.lease : 0n, c.lease ?? 0n);
      else {
        const actual = e ? [e.ver, e.create, e.mod][target] : 0;
        cmp = order(actual, [c.version, c.createRevision, c.modRevision][target] ?? 0);
      }
      return [cmp === 0, cmp > 0, cmp < 0, cmp !== 0][c.result ?? 0] as boolean;
    };
    if (keys.length === 0) return target === 3 ? false : test(undefined);
    return keys.every((k) => test(m.get(k)));
  }

  txn(req: TxnRequest): ModelResult<ModelTxn> {
    const before = this.current;
    const branch = (t: TxnRequest): RequestOp[] =>
      ((t.compare ?? []).every((c) => this.holds(c, before)) ? t.success : t.failure) ?? [];
    // First the request alone, every branch at every depth; then the state before the txn,
    // down the branches taken.
    const structural = (t: TxnRequest): EtcdErrorCode | null => {
      for (const c of t.compare ?? []) if (c.key.length === 0) return "EmptyKey";
      for (const op of [...(t.success ?? []), ...(t.failure ?? [])]) {
        let e: EtcdErrorCode | null = null;
        if ("put" in op) e = this.checkPut(op.put);
        else if ("range" in op && op.range.key.length === 0) e = "EmptyKey";
        else if ("deleteRange" in op && op.deleteRange.key.length === 0) e = "EmptyKey";
        else if ("txn" in op) e = structural(op.txn);
        if (e) return e;
      }
      return null;
    };
    const state = (t: TxnRequest): EtcdErrorCode | null => {
      for (const op of branch(t)) {
        let e: EtcdErrorCode | null = null;
        if ("put" in op) e = this.checkPutState(op.put, before);
        else if ("range" in op) {
          const r = op.range.revision ?? 0;
          if (r > this.rev) e = "FutureRev";
          else if (r !== 0 && r < this.compactRev) e = "Compacted";
        } else if ("txn" in op) e = state(op.txn);
        if (e) return e;
      }
      return null;
    };
    const e = structural(req) ?? (writesTwice(req) ? "DuplicateKey" : null) ?? state(req);
    if (e) return failed(e);
    const m = new Map(before);
    const newRev = this.rev + 1;
    let changed = false;
    const run = (t: TxnRequest): ModelTxn => {
      const succeeded = (t.compare ?? []).every((c) => this.holds(c, before));
      const responses: ModelOp[] = [];
      for (const op of (succeeded ? t.success : t.failure) ?? []) {
        if ("range" in op) {
          const r = this.range(op.range, m, changed ? newRev : this.rev);
          if (!r.ok) throw new Error("model: txn range failed after its checks");
          responses.push({ range: r.value });
        } else if ("put" in op) {
          const prev = this.doPut(m, op.put, newRev);
          changed = true;
          const put: { revision: number; prevKv?: Kv } = { revision: newRev };
          if (op.put.prevKv && prev) put.prevKv = prev;
          responses.push({ put });
        } else if ("deleteRange" in op) {
          const prev = this.doDelete(m, op.deleteRange);
          if (prev.length > 0) changed = true;
          responses.push({
            deleteRange: {
              revision: changed ? newRev : this.rev,
              deleted: prev.length,
              prevKvs: op.deleteRange.prevKv ? prev : [],
            },
          });
        } else if ("txn" in op) {
          responses.push({ txn: run(op.txn) });
        } else responses.push({});
      }
      return { revision: 0, succeeded, responses };
    };
    const resp = run(req);
    this.commit(m, changed);
    const setRev = (t: ModelTxn) => {
      t.revision = this.rev;
      for (const r of t.responses) if ("txn" in r) setRev(r.txn);
    };
    setRev(resp);
    return { ok: true, value: resp };
  }

  // ---- watch ----

  /** The events of revision `rev` (rev >= 2), in key order, with prev kvs. */
  eventsAt(rev: number): ModelEvent[] {
    const before = this.states[rev - 1] as KvMap;
    const after = this.states[rev] as KvMap;
    const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
    const out: ModelEvent[] = [];
    for (const k of keys) {
      const a = after.get(k);
      const b = before.get(k);
      if (a && a.mod === rev) out.push({ type: 0, kv: toKv(k, a), prev: b && toKv(k, b) });
      else if (!a && b) {
        out.push({
          type: 1,
          kv: { key: k, value: "", create: 0, mod: rev, ver: 0, lease: 0n },
          prev: toKv(k, b),
        });
      }
    }
    return out;
  }
}

/**
 * Whether some way through the txn (each nested txn taking either branch) writes one key twice:
 * puts it twice, or puts it and deletes a range holding it. Enumerates the ways; test txns are
 * small.
 */
function writesTwice(t: TxnRequest): boolean {
  interface Writes {
    puts: string[];
    dels: Array<[Uint8Array, Uint8Array | undefined]>;
  }
  const ways = (txn: TxnRequest): Writes[] =>
    [txn.success ?? [], txn.failure ?? []].flatMap((ops) => {
      let acc: Writes[] = [{ puts: [], dels: [] }];
      for (const op of ops) {
        let options: Writes[] = [{ puts: [], dels: [] }];
        if ("put" in op) options = [{ puts: [text(op.put.key)], dels: [] }];
        else if ("deleteRange" in op) {
          options = [{ puts: [], dels: [[op.deleteRange.key, op.deleteRange.rangeEnd]] }];
        } else if ("txn" in op) options = ways(op.txn);
        acc = acc.flatMap((a) =>
          options.map((o) => ({ puts: [...a.puts, ...o.puts], dels: [...a.dels, ...o.dels] })),
        );
      }
      return acc;
    });
  return ways(t).some(
    (w) =>
      new Set(w.puts).size !== w.puts.length ||
      w.puts.some((k) => w.dels.some(([s, e]) => inRange(k, text(s), e && text(e)))),
  );
}

export interface ModelEvent {
  type: 0 | 1;
  kv: Kv;
  prev?: Kv;
}

export function eventOf(e: Event): ModelEvent {
  const out: ModelEvent = { type: e.type, kv: kvOf(e.kv) };
  if (e.prevKv) out.prev = kvOf(e.prevKv);
  return out;
}

export type ModelOp =
  | { range: ModelRange }
  | { put: { revision: number; prevKv?: Kv } }
  | { deleteRange: { revision: number; deleted: number; prevKvs: Kv[] } }
  | { txn: ModelTxn }
  | Record<string, never>;

export interface ModelTxn {
  revision: number;
  succeeded: boolean;
  responses: ModelOp[];
}

/** A store response converted to the model's terms (KeyValues to Kv), for deepEqual. */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return text(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if ("createRevision" in o && "modRevision" in o) return kvOf(o as unknown as KeyValue);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

export type { ResponseOp };
