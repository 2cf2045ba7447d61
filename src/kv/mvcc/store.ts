// The MVCC key-value store behind the etcd v3 API (README, "etcd compatibility"):
// etcd 3.4's semantics, pure and deterministic. No I/O, no clock (time enters as arguments),
// no randomness; every member that applies the same calls in the same order holds the same
// state and gives the same answers.
//
// Revisions: a fresh store is at revision 1. Each write transaction that changes something (a
// Put, a DeleteRange that deletes a key, a Txn with at least one such operation, a lease revoke
// that deletes keys) makes exactly one new revision; every key it changed gets that revision as
// its mod_revision. Reads, lease grants and compactions do not bump it.
//
// History: each key keeps its versions (record.ts), deletes leave tombstones, and the revision
// log (revision-log.ts) lists the keys of each revision, so Range at a past revision and a
// watcher's replay both work until compaction. compact(C) is logical at once (reads below C
// fail with etcd's "compacted" error); the memory is given back by pruning, a little on each
// write and more in maintain(), which the host calls when idle. Pruning never changes an
// answer, so members may prune at different times; snapshots encode the logical state only.
//
// Errors are values (errors.ts, etcd's exact messages); a request that fails changes nothing.

import { LeaseTable } from "../lease/lease-table.js";
import { type EtcdError, etcdError } from "./errors.js";
import { KeyIndex } from "./key-index.js";
import { AFTER_ALL_KEYS, type ByteString, keyRange, toByteString } from "./keys.js";
import {
  archive,
  EMPTY,
  type KeyRecord,
  REMOVED,
  toKeyValue,
  type Version,
  versionAt,
} from "./record.js";
import { RevisionLog } from "./revision-log.js";
import {
  checkDeleteRange,
  checkPut,
  checkRange,
  checkTxn,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_MAX_TXN_OPS,
  putBytes,
  txnBytes,
} from "./txn-check.js";
import {
  type CompactResponse,
  type Compare,
  CompareResult,
  CompareTarget,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type Event,
  EventType,
  type KeyValue,
  type LeaseGrantResponse,
  type LeaseRevokeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type ResponseOp,
  SortOrder,
  SortTarget,
  type TxnRequest,
  type TxnResponse,
} from "./types.js";

export type StoreResult<T> = { ok: true; value: T } | { ok: false; error: EtcdError };

function fail(error: EtcdError): { ok: false; error: EtcdError } {
  return { ok: false, error };
}

function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export interface MvccOptions {
  /** etcd's --max-txn-ops (default 128). */
  maxTxnOps?: number;
  /** etcd's --max-request-bytes (default 1.5 MiB), checked on puts and txns. */
  maxRequestBytes?: number;
  /** Minimum lease TTL in seconds (lease/minLeaseTtl); the same on every member. */
  minLeaseTtl?: number;
}

/** Told about every change, synchronously, in revision order (the watch hub is one). */
export interface StoreObserver {
  /** A write transaction made a new revision. */
  changed?(changes: RevisionChanges): void;
  /** History below `revision` became unreadable. */
  compacted?(revision: number): void;
  /** The whole state was replaced by a snapshot's. */
  restored?(): void;
}

/** Records pruned after each write while compaction has work left, so pruning keeps pace. */
const PRUNE_PER_WRITE = 32;

/** A write transaction in progress. */
interface Write {
  /** The store revision before it; it writes at begin + 1. */
  readonly begin: number;
  /** Records it changed, each once. */
  readonly changed: KeyRecord[];
}

/** The keys a write made visible at revision `begin + 1` (or begin, before any change). */
function readRev(w: Write): number {
  return w.changed.length > 0 ? w.begin + 1 : w.begin;
}

/** Which branch each txn takes, decided before any of its operations runs. */
interface TxnPath {
  succeeded: boolean;
  /** The paths of the nested txns of the branch taken, in order. */
  nested: TxnPath[];
}

/** The internal state a snapshot restores (snapshot.ts builds it). */
export interface StoreImage {
  revision: number;
  compactRevision: number;
  index: KeyIndex<KeyRecord>;
  log: RevisionLog<KeyRecord>;
  leases: LeaseTable;
}

export function newKeyIndex(): KeyIndex<KeyRecord> {
  return new KeyIndex<KeyRecord>((rec) => rec.value !== null);
}

export class MvccStore {
  private index = newKeyIndex();
  private log = new RevisionLog<KeyRecord>();
  private rev = 1;
  private compactRev = -1;
  /** Every revision below it has been pruned against the prune target it had then. */
  private pruneNext = 0;
  /** Compact revisions that running snapshots still encode against (see pin). */
  private readonly pins = new Set<{ compactRevision: number }>();
  /** Bumped by adopt(): a snapshot being encoded of the replaced state gives up. */
  private gen = 0;
  private readonly observers = new Set<StoreObserver>();
  private readonly maxTxnOps: number;
  private readonly maxRequestBytes: number;
  /** Lease table; its leader-local half (promote, renew, expired) is the server's to drive. */
  readonly leases: LeaseTable;

  constructor(options: MvccOptions = {}) {
    this.maxTxnOps = options.maxTxnOps ?? DEFAULT_MAX_TXN_OPS;
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.leases = new LeaseTable(options.minLeaseTtl);
  }

  /** The current store revision (1 when fresh). */
  get revision(): number {
    return this.rev;
  }

  /** The last compaction's revision; -1 before the first, as etcd's compactMainRev. */
  get compactRevision(): number {
    return this.compactRev;
  }

  /** Keys with a value at the current revision. */
  get keyCount(): number {
    return this.index.countLiveIn("", AFTER_ALL_KEYS);
  }

  observe(observer: StoreObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  // ---- KV ----

  range(req: RangeRequest): StoreResult<RangeResponse> {
    const e = checkRange(req);
    if (e) return fail(e);
    return this.rangeAt(req, this.rev);
  }

  put(req: PutRequest): StoreResult<PutResponse> {
    const e = checkPut(req) ?? this.checkSize(putBytes(req)) ?? this.checkPutState(req);
    if (e) return fail(e);
    const w = this.begin();
    const resp = this.applyPut(w, req);
    this.end(w);
    return ok(resp);
  }

  deleteRange(req: DeleteRangeRequest): StoreResult<DeleteRangeResponse> {
    const e = checkDeleteRange(req);
    if (e) return fail(e);
    const w = this.begin();
    const resp = this.applyDeleteRange(w, req);
    this.end(w);
    return ok(resp);
  }

  /**
   * etcd's Txn: every compare (of this txn and of the nested txns in the branch taken) reads
   * the state before the txn; then the branch runs, its reads seeing its own writes. One
   * revision if anything changed.
   */
  txn(req: TxnRequest): StoreResult<TxnResponse> {
    const e = checkTxn(req, this.maxTxnOps) ?? this.checkSize(txnBytes(req));
    if (e) return fail(e);
    const path = this.comparePath(req);
    const stateError = this.checkTxnState(req, path);
    if (stateError) return fail(stateError);
    const w = this.begin();
    const resp = this.applyTxn(w, req, path);
    this.end(w);
    setTxnRevision(resp, readRev(w));
    return ok(resp);
  }

  /** Makes history below `revision` unreadable (etcd's Compact); the revision does not move. */
  compact(revision: number): StoreResult<CompactResponse> {
    if (revision <= this.compactRev) return fail(etcdError("Compacted"));
    if (revision > this.rev) return fail(etcdError("FutureRev"));
    this.compactRev = revision;
    for (const o of this.observers) o.compacted?.(revision);
    return ok({ revision: this.rev });
  }

  // ---- leases (the replicated half; see lease-table.ts) ----

  /** Applies a grant; `now` is the entry's leader timestamp (ms). No new revision. */
  leaseGrant(id: bigint, ttl: number, now: number): StoreResult<LeaseGrantResponse> {
    const r = this.leases.grant(id, ttl, now);
    if (!r.ok) return r;
    return ok({ revision: this.rev, id, ttl: r.value.ttl });
  }

  /** Revokes a lease: all its keys are deleted in one revision (none if it has no keys). */
  leaseRevoke(id: bigint): StoreResult<LeaseRevokeResponse> {
    const lease = this.leases.get(id);
    if (lease === undefined) return fail(etcdError("LeaseNotFound"));
    // Sorted, as etcd does, so that every member deletes in the same order.
    const keys = [...lease.keys].sort();
    const w = this.begin();
    for (const key of keys) {
      const rec = this.index.get(key);
      if (rec === undefined || rec.value === null) {
        throw new Error(`lease ${id} holds key ${JSON.stringify(key)}, which has no value`);
      }
      this.deleteRecord(w, rec);
    }
    this.leases.remove(id);
    this.end(w);
    return ok({ revision: this.rev });
  }

  // ---- for the watch hub ----

  /** The changes of revision `rev`, or null outside the readable history (compacted or future). */
  changesAt(rev: number): RevisionChanges | null {
    if (rev < this.compactRev || rev > this.rev || rev < 1) return null;
    return new RevisionChanges(rev, this.log.at(rev));
  }

  // ---- maintenance ----

  /** Whether compaction has pruning left that maintain() can do now. */
  get maintenancePending(): boolean {
    return Math.max(this.pruneNext, this.log.firstRevision) < this.pruneTarget();
  }

  /**
   * Prunes history that compaction made unreadable, visiting about `budget` key records (one
   * call stays short); returns whether work is left. Answers never change, only memory.
   */
  maintain(budget = 4096): boolean {
    const target = this.pruneTarget();
    let next = Math.max(this.pruneNext, this.log.firstRevision);
    let work = 0;
    while (next < target && work < budget) {
      const recs = this.log.at(next);
      for (const rec of recs) this.prune(rec, target);
      work += recs.length + 1;
      next++;
      this.log.dropBefore(next);
    }
    this.pruneNext = next;
    return next < target;
  }

  /**
   * Keeps pruning from going below `compactRevision` until the returned release() is called:
   * a snapshot being encoded reads the history from there on.
   */
  pin(): { revision: number; compactRevision: number; generation: number; release: () => void } {
    const pin = { compactRevision: this.compactRev };
    this.pins.add(pin);
    return {
      revision: this.rev,
      compactRevision: this.compactRev,
      generation: this.gen,
      release: () => this.pins.delete(pin),
    };
  }

  /** Changes when adopt() replaces the state. */
  get generation(): number {
    return this.gen;
  }

  /** Key records after `after` in key order (snapshot encoding walks them in slices). */
  recordsAfter(after: ByteString | null, max: number): KeyRecord[] {
    return this.index.after(after, max);
  }

  /** Replaces the whole state with a decoded snapshot's (snapshot.ts). */
  adopt(image: StoreImage): void {
    this.index = image.index;
    this.log = image.log;
    this.rev = image.revision;
    this.compactRev = image.compactRevision;
    this.pruneNext = 0;
    this.pins.clear();
    this.gen++;
    this.leases.adopt(image.leases);
    for (const o of this.observers) o.restored?.();
  }

  /**
   * What the store holds (a walk over every key: for tests, benchmarks and metrics, not the
   * request path): key records (tombstoned ones included), versions, and value bytes.
   */
  stats(): { records: number; versions: number; valueBytes: number } {
    let records = 0;
    let versions = 0;
    let valueBytes = 0;
    this.index.scan("", AFTER_ALL_KEYS, (rec) => {
      records++;
      for (const v of rec.older ?? []) {
        versions++;
        valueBytes += v.value?.length ?? 0;
      }
      versions++;
      valueBytes += rec.value?.length ?? 0;
      return true;
    });
    return { records, versions, valueBytes };
  }

  private pruneTarget(): number {
    let target = this.compactRev;
    for (const pin of this.pins) target = Math.min(target, pin.compactRevision);
    return target;
  }

  /**
   * Drops the versions of `rec` that compaction at `target` made unreadable: all below target
   * except the newest one below it if it is not a tombstone. A record left with nothing is
   * removed from the index. Idempotent.
   */
  private prune(rec: KeyRecord, target: number): void {
    if (rec.ver === REMOVED) return;
    if (rec.mod < target) {
      rec.older = null;
      if (rec.value === null) {
        this.index.remove(rec);
        rec.ver = REMOVED;
      }
      return;
    }
    const older = rec.older;
    if (older === null) return;
    let cut = 0;
    while (cut < older.length && (older[cut] as Version).mod < target) cut++;
    if (cut === 0) return;
    const keepFrom = (older[cut - 1] as Version).value !== null ? cut - 1 : cut;
    if (keepFrom === older.length) rec.older = null;
    else if (keepFrom > 0) older.splice(0, keepFrom);
  }

  // ---- internals: reads ----

  /** Range as seen at `latest`, the revision the records' inline state currently shows. */
  private rangeAt(req: RangeRequest, latest: number): StoreResult<RangeResponse> {
    let rev = req.revision ?? 0;
    if (rev > latest) return fail(etcdError("FutureRev"));
    if (rev <= 0) rev = latest;
    if (rev < this.compactRev) return fail(etcdError("Compacted"));
    const r = keyRange(req.key, req.rangeEnd);
    const atLatest = rev === latest;

    if (req.countOnly) {
      return ok({ revision: latest, kvs: [], more: false, count: this.count(r, rev, atLatest) });
    }

    const limit = req.limit !== undefined && req.limit > 0 ? req.limit : 0;
    let order = req.sortOrder ?? SortOrder.NONE;
    const target = req.sortTarget ?? SortTarget.KEY;
    // etcd sorts ascending by default when the target is not the key (apply.go).
    if (target !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND;
    // Ascending by key is the order keys come in.
    if (target === SortTarget.KEY && order === SortOrder.ASCEND) order = SortOrder.NONE;
    const filtered =
      (req.minModRevision ?? 0) !== 0 ||
      (req.maxModRevision ?? 0) !== 0 ||
      (req.minCreateRevision ?? 0) !== 0 ||
      (req.maxCreateRevision ?? 0) !== 0;

    const found: Array<{ key: ByteString; v: Version }> = [];
    // Without sort or filters, a limited range collects limit + 1 and counts separately.
    const early = !filtered && order === SortOrder.NONE && limit > 0 && atLatest;
    this.visit(r, rev, atLatest, (key, v) => {
      found.push({ key, v });
      return !(early && found.length > limit);
    });
    const count = early ? this.count(r, rev, atLatest) : found.length;

    let kept = found;
    if (filtered) kept = found.filter(({ v }) => passesFilters(req, v));
    if (order !== SortOrder.NONE) sortFound(kept, target, order === SortOrder.DESCEND);
    const more = limit > 0 && kept.length > limit;
    if (more) kept = kept.slice(0, limit);
    const kvs = kept.map(({ key, v }) => toKeyValue(key, v, req.keysOnly));
    return ok({ revision: latest, kvs, more, count });
  }

  /**
   * Calls `fn` for each key of `r` that has a value at `rev`, in key order, until it returns
   * false. `atLatest`: rev is the newest state, so the inline version is the one.
   */
  private visit(
    r: { start: ByteString; end: ByteString | null },
    rev: number,
    atLatest: boolean,
    fn: (key: ByteString, v: Version) => boolean,
  ): void {
    const at = (rec: KeyRecord): Version | undefined => (atLatest ? rec : versionAt(rec, rev));
    if (r.end === null) {
      const rec = this.index.get(r.start);
      const v = rec && at(rec);
      if (v && v.value !== null) fn(r.start, v);
      return;
    }
    this.index.scan(r.start, r.end, (rec) => {
      const v = at(rec);
      return v && v.value !== null ? fn(rec.key, v) : true;
    });
  }

  private count(
    r: { start: ByteString; end: ByteString | null },
    rev: number,
    atLatest: boolean,
  ): number {
    if (atLatest && r.end !== null) return this.index.countLiveIn(r.start, r.end);
    let n = 0;
    this.visit(r, rev, atLatest, () => {
      n++;
      return true;
    });
    return n;
  }

  /** The live record for `key` in the current state, if any. */
  private liveRecord(key: ByteString): KeyRecord | undefined {
    const rec = this.index.get(key);
    return rec !== undefined && rec.value !== null ? rec : undefined;
  }

  // ---- internals: writes ----

  private begin(): Write {
    return { begin: this.rev, changed: [] };
  }

  /** Closes a write: the new revision exists iff something changed. */
  private end(w: Write): void {
    const changed = w.changed;
    if (changed.length === 0) return;
    if (changed.length > 1) changed.sort((a, b) => (a.key < b.key ? -1 : 1));
    const rev = w.begin + 1;
    for (const rec of changed) this.log.add(rev, rec);
    this.rev = rev;
    if (this.observers.size > 0) {
      const changes = new RevisionChanges(rev, changed);
      for (const o of this.observers) o.changed?.(changes);
    }
    if (this.maintenancePending) this.maintain(PRUNE_PER_WRITE);
  }

  private checkSize(bytes: number): EtcdError | null {
    return bytes > this.maxRequestBytes ? etcdError("RequestTooLarge") : null;
  }

  /** What a put needs from the state: its lease, and the key itself for ignore_*. */
  private checkPutState(req: PutRequest): EtcdError | null {
    const lease = req.lease ?? 0n;
    if (lease !== 0n && this.leases.get(lease) === undefined) return etcdError("LeaseNotFound");
    if ((req.ignoreValue || req.ignoreLease) && !this.liveRecord(toByteString(req.key))) {
      return etcdError("KeyNotFound");
    }
    return null;
  }

  private applyPut(w: Write, req: PutRequest): PutResponse {
    const key = toByteString(req.key);
    const prev = this.liveRecord(key);
    const resp: PutResponse = { revision: w.begin + 1 };
    if (req.prevKv && prev) resp.prevKv = toKeyValue(key, prev);
    const value = req.ignoreValue ? (prev?.value as Uint8Array) : (req.value ?? EMPTY);
    const lease = req.ignoreLease ? (prev?.lease as bigint) : (req.lease ?? 0n);
    this.putRecord(w, key, value, lease);
    return resp;
  }

  private putRecord(w: Write, key: ByteString, value: Uint8Array, lease: bigint): void {
    const rev = w.begin + 1;
    let rec = this.index.get(key);
    if (rec === undefined) {
      rec = { key, mod: rev, create: rev, ver: 1, value, lease, older: null };
      this.index.insert(rec);
      w.changed.push(rec);
    } else {
      const wasLive = rec.value !== null;
      // A key changed twice in one txn (checkTxn forbids it) would keep one version per revision.
      if (rec.mod !== rev) {
        archive(rec);
        w.changed.push(rec);
      }
      if (wasLive && rec.lease !== 0n) this.leases.detach(rec.lease, key);
      rec.create = wasLive ? rec.create : rev;
      rec.ver = wasLive ? rec.ver + 1 : 1;
      rec.mod = rev;
      rec.value = value;
      rec.lease = lease;
      if (!wasLive) this.index.liveChanged(rec, 1);
    }
    if (lease !== 0n) this.leases.attach(lease, key);
  }

  private applyDeleteRange(w: Write, req: DeleteRangeRequest): DeleteRangeResponse {
    const doomed: KeyRecord[] = [];
    // At the newest state the version visited is the record itself.
    this.visit(keyRange(req.key, req.rangeEnd), readRev(w), true, (_key, v) => {
      doomed.push(v as KeyRecord);
      return true;
    });
    const prevKvs = req.prevKv ? doomed.map((rec) => toKeyValue(rec.key, rec)) : [];
    for (const rec of doomed) this.deleteRecord(w, rec);
    const revision = w.changed.length > 0 ? w.begin + 1 : w.begin;
    return { revision, deleted: doomed.length, prevKvs };
  }

  /** Writes a tombstone for live `rec`. */
  private deleteRecord(w: Write, rec: KeyRecord): void {
    const rev = w.begin + 1;
    if (rec.mod !== rev) {
      archive(rec);
      w.changed.push(rec);
    }
    if (rec.lease !== 0n) this.leases.detach(rec.lease, rec.key);
    rec.mod = rev;
    rec.create = 0;
    rec.ver = 0;
    rec.value = null;
    rec.lease = 0n;
    this.index.liveChanged(rec, -1);
  }

  // ---- internals: txn ----

  private comparePath(req: TxnRequest): TxnPath {
    const succeeded = (req.compare ?? []).every((c) => this.holds(c));
    const ops = (succeeded ? req.success : req.failure) ?? [];
    const nested: TxnPath[] = [];
    for (const op of ops) if ("txn" in op) nested.push(this.comparePath(op.txn));
    return { succeeded, nested };
  }

  /** etcd's applyCompare: every key in the compare's range must satisfy it. */
  private holds(c: Compare): boolean {
    const target = c.target ?? CompareTarget.VERSION;
    let any = false;
    let all = true;
    this.visit(keyRange(c.key, c.rangeEnd), this.rev, true, (_key, v) => {
      any = true;
      all = compareVersion(c, target, v);
      return all;
    });
    if (any) return all;
    // No key: a value compare fails (a missing value is not the empty one); the others compare
    // against zeros, so "version = 0" tests absence.
    if (target === CompareTarget.VALUE) return false;
    return compareVersion(c, target, ZERO_VERSION);
  }

  /** etcd's checkTxn: the puts and ranges of the branches taken, against the state before. */
  private checkTxnState(req: TxnRequest, path: TxnPath): EtcdError | null {
    const ops = (path.succeeded ? req.success : req.failure) ?? [];
    let n = 0;
    for (const op of ops) {
      let e: EtcdError | null = null;
      if ("put" in op) e = this.checkPutState(op.put);
      else if ("range" in op) {
        const rev = op.range.revision ?? 0;
        if (rev > this.rev) e = etcdError("FutureRev");
        else if (rev !== 0 && rev < this.compactRev) e = etcdError("Compacted");
      } else if ("txn" in op) e = this.checkTxnState(op.txn, path.nested[n++] as TxnPath);
      if (e) return e;
    }
    return null;
  }

  private applyTxn(w: Write, req: TxnRequest, path: TxnPath): TxnResponse {
    const ops = (path.succeeded ? req.success : req.failure) ?? [];
    const responses: ResponseOp[] = [];
    let n = 0;
    for (const op of ops) {
      if ("range" in op) {
        const r = this.rangeAt(op.range, readRev(w));
        if (!r.ok) throw new Error(`txn range failed after its checks passed: ${r.error.message}`);
        responses.push({ range: r.value });
      } else if ("put" in op) responses.push({ put: this.applyPut(w, op.put) });
      else if ("deleteRange" in op) {
        responses.push({ deleteRange: this.applyDeleteRange(w, op.deleteRange) });
      } else if ("txn" in op) {
        responses.push({ txn: this.applyTxn(w, op.txn, path.nested[n++] as TxnPath) });
      } else responses.push({});
    }
    return { revision: 0, succeeded: path.succeeded, responses };
  }
}

/** Sets header.revision of a txn response and of every txn nested in it. */
function setTxnRevision(resp: TxnResponse, revision: number): void {
  resp.revision = revision;
  for (const r of resp.responses) if ("txn" in r) setTxnRevision(r.txn, revision);
}

const ZERO_VERSION: Version = { mod: 0, create: 0, ver: 0, value: EMPTY, lease: 0n };

function compareVersion(c: Compare, target: CompareTarget, v: Version): boolean {
  let cmp: number;
  switch (target) {
    case CompareTarget.VALUE:
      cmp = Buffer.compare(v.value ?? EMPTY, c.value ?? EMPTY);
      break;
    case CompareTarget.CREATE:
      cmp = Math.sign(v.create - (c.createRevision ?? 0));
      break;
    case CompareTarget.MOD:
      cmp = Math.sign(v.mod - (c.modRevision ?? 0));
      break;
    case CompareTarget.LEASE: {
      const l = c.lease ?? 0n;
      cmp = v.lease < l ? -1 : v.lease > l ? 1 : 0;
      break;
    }
    default:
      cmp = Math.sign(v.ver - (c.version ?? 0));
  }
  switch (c.result ?? CompareResult.EQUAL) {
    case CompareResult.EQUAL:
      return cmp === 0;
    case CompareResult.NOT_EQUAL:
      return cmp !== 0;
    case CompareResult.GREATER:
      return cmp > 0;
    case CompareResult.LESS:
      return cmp < 0;
    default:
      return true; // etcd's answer to an unknown result
  }
}

function passesFilters(req: RangeRequest, v: Version): boolean {
  const maxMod = req.maxModRevision ?? 0;
  const minMod = req.minModRevision ?? 0;
  const maxCreate = req.maxCreateRevision ?? 0;
  const minCreate = req.minCreateRevision ?? 0;
  return (
    (maxMod === 0 || v.mod <= maxMod) &&
    (minMod === 0 || v.mod >= minMod) &&
    (maxCreate === 0 || v.create <= maxCreate) &&
    (minCreate === 0 || v.create >= minCreate)
  );
}

/**
 * Sorts by `target`; equal sort keys stay in key order in both directions (the contract's
 * rule; Array.prototype.sort is stable and the input is in key order).
 */
function sortFound(
  found: Array<{ key: ByteString; v: Version }>,
  target: SortTarget,
  descending: boolean,
): void {
  const sign = descending ? -1 : 1;
  type F = { key: ByteString; v: Version };
  let by: (a: F, b: F) => number;
  switch (target) {
    case SortTarget.KEY:
      by = (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
      break;
    case SortTarget.VERSION:
      by = (a, b) => a.v.ver - b.v.ver;
      break;
    case SortTarget.CREATE:
      by = (a, b) => a.v.create - b.v.create;
      break;
    case SortTarget.MOD:
      by = (a, b) => a.v.mod - b.v.mod;
      break;
    default:
      by = (a, b) => Buffer.compare(a.v.value ?? EMPTY, b.v.value ?? EMPTY);
  }
  found.sort((a, b) => sign * by(a, b));
}

/**
 * The keys one revision changed, in key order, with their events built on demand and shared by
 * every watcher that asks (treat them as immutable).
 */
export class RevisionChanges {
  private events: Array<Event | undefined> = [];
  private withPrev: Array<Event | undefined> = [];

  constructor(
    readonly revision: number,
    private readonly recs: readonly KeyRecord[],
  ) {}

  get size(): number {
    return this.recs.length;
  }

  /** The i-th changed key, as a byte string (keys.ts). */
  key(i: number): ByteString {
    return (this.recs[i] as KeyRecord).key;
  }

  isDelete(i: number): boolean {
    return (versionAt(this.recs[i] as KeyRecord, this.revision) as Version).value === null;
  }

  /** The i-th event; with `prevKv`, carrying the key's value before this revision if it had one. */
  event(i: number, prevKv = false): Event {
    const cache = prevKv ? this.withPrev : this.events;
    let e = cache[i];
    if (e === undefined) {
      e = prevKv ? this.buildWithPrev(i) : this.build(i);
      cache[i] = e;
    }
    return e;
  }

  private build(i: number): Event {
    const rec = this.recs[i] as KeyRecord;
    const v = versionAt(rec, this.revision) as Version;
    if (v.value !== null) return { type: EventType.PUT, kv: toKeyValue(rec.key, v) };
    return { type: EventType.DELETE, kv: toKeyValue(rec.key, tombstoneAt(this.revision)) };
  }

  private buildWithPrev(i: number): Event {
    const base = this.event(i);
    const prev = versionAt(this.recs[i] as KeyRecord, this.revision - 1);
    if (prev === undefined || prev.value === null) return base;
    return { ...base, prevKv: toKeyValue((this.recs[i] as KeyRecord).key, prev) };
  }
}

/** A DELETE event's kv: only the key and the delete's revision. */
function tombstoneAt(rev: number): Version {
  return { mod: rev, create: 0, ver: 0, value: null, lease: 0n };
}

export type { KeyValue };
