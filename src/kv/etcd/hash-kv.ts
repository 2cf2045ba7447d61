// Maintenance.HashKV and Hash (README, "etcd compatibility").
//
// HashKV, as etcd's (mvcc HashByRev): a CRC-32 over the key history a member keeps up to a
// revision R: every live key at the last compaction revision C (what compaction keeps), then
// every change of every revision in (C, R], tombstones included, in revision and key order.
// It covers history, not only the state at R: two members that reached the same state through
// different writes disagree, which is what corruption checks compare. It depends only on
// replicated state, never on how far a member's background pruning (maintain) has got, so
// members at the same revision with the same compaction answer the same hash. The value is
// not etcd's (which hashes bbolt's key encoding): only raftwork members compare with each other.
//
// Hash: HashKV at the current revision combined with the lease table (every lease's id and
// granted TTL, in id order), i.e. the whole replicated store. etcd's Hash covers its whole
// bbolt file and is meant for tests only; so is this one.
import { crc32 } from "node:zlib";
import {
  type Event,
  EventType,
  etcdError,
  type KeyValue,
  type MvccStore,
  type StoreResult,
} from "../mvcc/index.js";

export interface HashKvResult {
  hash: number;
  /** The store's current revision (etcd's HashKV header revision). */
  revision: number;
  compactRevision: number;
}

/** `revision` 0 is the current one; at or below the compaction it is etcd's compacted error. */
export function hashKv(store: MvccStore, revision: number): StoreResult<HashKvResult> {
  const current = store.revision;
  const compacted = store.compactRevision;
  if (revision > current) return { ok: false, error: etcdError("FutureRev") };
  if (revision > 0 && revision <= compacted) return { ok: false, error: etcdError("Compacted") };
  const upto = revision > 0 ? revision : current;
  const fixed = Buffer.alloc(41);
  let h = 0;
  const add = (kind: number, kv: KeyValue) => {
    fixed.writeUInt8(kind, 0);
    fixed.writeDoubleLE(kv.modRevision, 1);
    fixed.writeDoubleLE(kv.createRevision, 9);
    fixed.writeDoubleLE(kv.version, 17);
    fixed.writeBigInt64LE(kv.lease, 25);
    fixed.writeUInt32LE(kv.key.length, 33);
    fixed.writeUInt32LE(kv.value.length, 37);
    h = crc32(fixed, h);
    h = crc32(kv.key, h);
    h = crc32(kv.value, h);
  };
  if (compacted >= 1) {
    const base = store.range({
      key: new Uint8Array([0]),
      rangeEnd: new Uint8Array([0]),
      revision: compacted,
    });
    if (!base.ok) return base;
    for (const kv of base.value.kvs) add(EventType.PUT, kv);
  }
  for (let rev = Math.max(compacted + 1, 2); rev <= upto; rev++) {
    const changes = store.changesAt(rev);
    if (changes === null) throw new Error(`revision ${rev} is missing from the history`);
    for (let i = 0; i < changes.size; i++) {
      const e: Event = changes.event(i);
      add(e.type, e.kv);
    }
  }
  return { ok: true, value: { hash: h >>> 0, revision: current, compactRevision: compacted } };
}

/** Maintenance.Hash: HashKV at the current revision and the lease table (see above). */
export function hashStore(store: MvccStore): number {
  const kv = hashKv(store, 0);
  if (!kv.ok) throw new Error(`hash of the current revision failed: ${kv.error.message}`);
  let h = kv.value.hash;
  const fixed = Buffer.alloc(16);
  for (const id of store.leases.ids()) {
    fixed.writeBigInt64LE(id, 0);
    fixed.writeDoubleLE((store.leases.get(id) as { ttl: number }).ttl, 8);
    h = crc32(fixed, h);
  }
  return h >>> 0;
}
