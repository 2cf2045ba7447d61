// One key's history. The newest version lives inline in the KeyRecord (most keys have one
// version, so this saves an object and an array per key); older versions sit in `older`,
// oldest first, until compaction prunes them. A version is immutable once it is in `older`;
// the inline fields change in place on each write (the previous values are archived first).

import { type ByteString, fromByteString } from "./keys.js";
import type { KeyValue } from "./types.js";

export interface Version {
  /** Revision of the write (mod_revision). */
  mod: number;
  /** create_revision; 0 for a tombstone. */
  create: number;
  /** version; 0 for a tombstone. */
  ver: number;
  /** null: a tombstone (the key was deleted at `mod`). */
  value: Uint8Array | null;
  lease: bigint;
}

export interface KeyRecord extends Version {
  readonly key: ByteString;
  older: Version[] | null;
}

/** `ver` of a record that compaction removed from the index (a tombstone has 0). */
export const REMOVED = -1;

export const EMPTY = new Uint8Array(0);

/** The version of `rec` visible at `rev`: the newest with mod <= rev (tombstones included). */
export function versionAt(rec: KeyRecord, rev: number): Version | undefined {
  if (rec.mod <= rev) return rec;
  const older = rec.older;
  if (older === null) return undefined;
  let lo = 0;
  let hi = older.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((older[mid] as Version).mod <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : older[lo - 1];
}

/** Moves the inline (newest) version of `rec` into its history. */
export function archive(rec: KeyRecord): void {
  const v: Version = {
    mod: rec.mod,
    create: rec.create,
    ver: rec.ver,
    value: rec.value,
    lease: rec.lease,
  };
  if (rec.older === null) rec.older = [v];
  else rec.older.push(v);
}

export function toKeyValue(key: ByteString, v: Version, keysOnly = false): KeyValue {
  return {
    key: fromByteString(key),
    createRevision: v.create,
    modRevision: v.mod,
    version: v.ver,
    value: keysOnly || v.value === null ? EMPTY : v.value,
    lease: v.lease,
  };
}

/**
 * The versions compaction at `compactRev` keeps, among those at or below `rev`: every version
 * from compactRev on, and the newest one below it if it is not a tombstone. Range at compactRev
 * needs that one when the key did not change at compactRev; when it did, a watcher replaying
 * from compactRev gets it as the event's prev_kv. So the history from the compact revision on
 * is complete: every event of it replays, deletes and prev_kvs included (etcd 3.4 drops a
 * tombstone at exactly the compact revision and answers no prev_kv there). Oldest first.
 */
export function retainedVersions(rec: KeyRecord, rev: number, compactRev: number): Version[] {
  const all: Version[] = rec.older === null ? [rec] : [...rec.older, rec];
  let end = all.length;
  while (end > 0 && (all[end - 1] as Version).mod > rev) end--;
  let from = 0;
  while (from < end && (all[from] as Version).mod < compactRev) from++;
  if (from > 0 && (all[from - 1] as Version).value !== null) from--;
  return from === 0 && end === all.length ? all : all.slice(from, end);
}
