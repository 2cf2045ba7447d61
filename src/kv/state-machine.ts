// The replicated key-value state machine (README, "KV store"; docs/architecture.md, "The path
// of a write"): the MVCC store of the etcd v3 API (src/kv/mvcc) with its leases, and the
// exactly-once client sessions that both APIs' writes use. The native HTTP API's operations
// (put, del, append, cas) are MVCC writes on UTF-8 keys; etcd's (Put, DeleteRange, Txn, Compact,
// lease grant/revoke/expiry) are the store's own.
//
// apply() is deterministic: it depends only on the entries, never on the local clock or
// randomness, so every replica computes the same state and the same results. Time enters only
// through the leader timestamp in each command, which drives session expiry and a granted
// lease's first deadline; lease expiry itself is decided by the leader (lease-keeper.ts) and
// arrives as a command.
//
// Exactly-once sessions follow the Raft thesis §6.3: each client numbers its writes; the state
// machine remembers, per client, the latest request id and its result. A retry of that id
// returns the remembered result without re-applying; an older id is stale. Sessions idle for
// longer than SESSION_TTL_MS (by the log's clock) are dropped, on every node at the same entry.
//
// Auth (src/kv/auth): with auth enabled every command is checked, when applied, against the
// auth state of that moment and the user the command carries (etcd checks in its apply too):
// a permission revoked between a request's arrival and its commit is respected on every member
// alike. The member a request reached checks it first as well, so most refusals cost no entry.
import { isUtf8 } from "node:buffer";
import { Packr } from "msgpackr";
import type { StateMachine } from "../node/api.js";
import type { Entry } from "../raft/types.js";
import { RaftworkError } from "../util/errors.js";
import type { AuthErrorCode } from "./auth/errors.js";
import { type Need, needsOfDelete, needsOfPut, needsOfTxn } from "./auth/permissions.js";
import { AuthStore } from "./auth/store.js";
import {
  type Command,
  decodeCommand,
  type EtcdCommand,
  isEtcdCommand,
  type KvCommand,
} from "./commands.js";
import { MAX_VALUE_BYTES } from "./contract.js";
import {
  type MvccOptions,
  MvccStore,
  prefixEnd,
  restoreSnapshot,
  SnapshotAbortedError,
  SnapshotFormatError,
  type StoreResult,
  snapshotChunks,
} from "./mvcc/index.js";

export { MAX_VALUE_BYTES } from "./contract.js";

/** restore() was given bytes that are not a KV snapshot of a known version. */
export class KvSnapshotError extends RaftworkError {
  readonly code = "bad-snapshot";
}
export const SESSION_TTL_MS = 24 * 60 * 60 * 1000;

/** The outcome of one applied command, returned to the proposer through RaftService.propose. */
export type KvResult =
  /** `revision`: the store revision after the write (unchanged if it changed nothing). */
  | { kind: "ok"; revision: number }
  | { kind: "cas-mismatch"; current: Uint8Array | null }
  | { kind: "too-large"; bytes: number }
  | { kind: "stale-request"; latest: number }
  | { kind: "invalid"; message: string }
  /** Refused by auth (src/kv/auth/errors.ts). */
  | { kind: "auth"; error: AuthErrorCode }
  /** An etcd command's answer: the store's response or etcd's error. */
  | { kind: "etcd"; result: StoreResult<unknown> };

interface SessionRecord {
  requestId: number;
  result: KvResult;
  /** Log clock when last used. */
  lastSeen: number;
}

/** The snapshot's extra section (mvcc/snapshot.ts) holding the clock and the sessions. */
const SESSIONS_SECTION = "kv-sessions";
/** The snapshot's section holding the auth state (absent in snapshots from before auth). */
const AUTH_SECTION = "kv-auth";
/** Bytes per chunk of snapshotAsync(): about 1 ms of encoding between event-loop turns. */
const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
/** The first byte of the pre-MVCC snapshot format (a msgpack fixarray of 5). */
const LEGACY_SNAPSHOT = 0x95;
// copyBuffers: restored values must not alias the snapshot buffer the caller may reuse;
// remembered etcd results carry lease ids as bigints (msgpack int64).
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: true,
});

export class KvStateMachine implements StateMachine {
  readonly store: MvccStore;
  /** Users, roles and whether auth is on: replicated like the keys. */
  readonly auth = new AuthStore();
  /**
   * Insertion order = order of last use (a touched session is deleted and re-inserted), and the
   * log clock never moves backwards, so the oldest sessions are always at the front.
   */
  private readonly sessions = new Map<string, SessionRecord>();
  /** The log's clock: the highest leader timestamp applied so far. */
  private clock = 0;
  /** Bumped by restore(): tells a running snapshotAsync() that its state is gone. */
  private generation = 0;

  /** `options` must be the same on every member (they are replicated behaviour). */
  constructor(options: MvccOptions = {}) {
    this.store = new MvccStore(options);
  }

  apply(entry: Entry): KvResult {
    const cmd = decodeCommand(entry.data);
    if (typeof cmd === "string") return { kind: "invalid", message: cmd };
    // Leaders' clocks may disagree; taking the maximum keeps the log clock monotonic.
    if (cmd.ts > this.clock) this.clock = cmd.ts;
    this.expireSessions();
    const s = cmd.session;
    const run = (): KvResult => {
      const denied = this.authorize(cmd);
      if (denied !== null) return { kind: "auth", error: denied };
      return isEtcdCommand(cmd) ? this.executeEtcd(cmd) : this.execute(cmd);
    };
    if (!s) return run();
    const rec = this.sessions.get(s.clientId);
    if (rec && s.requestId < rec.requestId) {
      return { kind: "stale-request", latest: rec.requestId };
    }
    if (rec && s.requestId === rec.requestId) {
      this.touch(s.clientId, rec);
      return rec.result;
    }
    const result = run();
    this.touch(s.clientId, { requestId: s.requestId, result, lastSeen: this.clock });
    return result;
  }

  private touch(clientId: string, rec: SessionRecord): void {
    rec.lastSeen = this.clock;
    this.sessions.delete(clientId);
    this.sessions.set(clientId, rec);
  }

  private expireSessions(): void {
    const cutoff = this.clock - SESSION_TTL_MS;
    for (const [id, rec] of this.sessions) {
      if (rec.lastSeen >= cutoff) break;
      this.sessions.delete(id);
    }
  }

  /** Whether the command's user may run it now; null when it may (or auth is off). */
  private authorize(cmd: Command): AuthErrorCode | null {
    const a = this.auth;
    if (!a.enabled) return null;
    switch (cmd.op) {
      case "lease-expire":
        return null; // the leader's own decision, not a client's request
      case "compact":
        return cmd.auto ? null : a.checkAdmin(cmd.user);
      case "auth":
        return a.checkAdmin(cmd.user);
      case "lease-grant":
        return a.checkUser(cmd.user);
      case "lease-revoke": {
        // etcd: revoking deletes the lease's keys, so it needs write on every one of them.
        const keys = this.store.leases.get(cmd.id)?.keys ?? [];
        const needs: Need[] = [...keys].map((k) => ({
          access: "write",
          key: Buffer.from(k, "latin1"),
        }));
        return needs.length === 0 ? a.checkUser(cmd.user) : a.check(cmd.user, needs);
      }
      case "etcd-put":
        return a.check(cmd.user, needsOfPut(cmd.req));
      case "etcd-delete":
        return a.check(cmd.user, needsOfDelete(cmd.req));
      case "etcd-txn":
        return a.check(cmd.user, needsOfTxn(cmd.req));
      default:
        return a.check(cmd.user, needsOfNative(cmd));
    }
  }

  private execute(cmd: KvCommand): KvResult {
    const key = Buffer.from(cmd.key, "utf8");
    switch (cmd.op) {
      case "put":
        if (cmd.value.length > MAX_VALUE_BYTES)
          return { kind: "too-large", bytes: cmd.value.length };
        return this.put(key, cmd.value);
      case "del": {
        const r = this.store.deleteRange({ key });
        return r.ok ? { kind: "ok", revision: r.value.revision } : invalid(r.error.message);
      }
      case "append": {
        const old = this.getBytes(key);
        const bytes = (old?.length ?? 0) + cmd.value.length;
        if (bytes > MAX_VALUE_BYTES) return { kind: "too-large", bytes };
        return this.put(key, old ? Buffer.concat([old, cmd.value], bytes) : cmd.value);
      }
      case "cas": {
        if (cmd.value.length > MAX_VALUE_BYTES)
          return { kind: "too-large", bytes: cmd.value.length };
        const current = this.getBytes(key) ?? null;
        if (!bytesEqual(current, cmd.expect)) return { kind: "cas-mismatch", current };
        return this.put(key, cmd.value);
      }
    }
  }

  private put(key: Uint8Array, value: Uint8Array): KvResult {
    const r = this.store.put({ key, value });
    return r.ok ? { kind: "ok", revision: r.value.revision } : invalid(r.error.message);
  }

  private executeEtcd(cmd: EtcdCommand): KvResult {
    const s = this.store;
    switch (cmd.op) {
      case "etcd-put":
        return etcd(s.put(cmd.req));
      case "etcd-delete":
        return etcd(s.deleteRange(cmd.req));
      case "etcd-txn":
        return etcd(s.txn(cmd.req));
      case "compact":
        return etcd(s.compact(cmd.revision));
      case "lease-grant":
        return etcd(s.leaseGrant(cmd.id, cmd.ttl, cmd.ts));
      case "lease-revoke":
        return etcd(s.leaseRevoke(cmd.id));
      case "lease-expire":
        // A lease revoked (or expired) since the leader looked is simply gone: not an error.
        for (const id of cmd.ids) if (s.leases.get(id) !== undefined) s.leaseRevoke(id);
        return { kind: "ok", revision: s.revision };
      case "auth": {
        const r = this.auth.apply(cmd.req);
        return r.ok ? { kind: "ok", revision: s.revision } : { kind: "auth", error: r.error };
      }
    }
  }

  private getBytes(key: Uint8Array): Uint8Array | undefined {
    const r = this.store.range({ key });
    return r.ok ? r.value.kvs[0]?.value : undefined;
  }

  /** Local read; linearizable only after RaftService.readBarrier(). The caller must not mutate it. */
  get(key: string): Uint8Array | undefined {
    return this.getBytes(Buffer.from(key, "utf8"));
  }

  /**
   * Up to `limit` entries whose key starts with `prefix`, sorted by key (code point order, which
   * is UTF-8 byte order), only keys >= `from` when given. Keys that are not UTF-8 (written over
   * gRPC) are skipped.
   */
  list(prefix: string, limit: number, from?: string): Array<{ key: string; value: Uint8Array }> {
    const p = Buffer.from(prefix, "utf8");
    const f = from === undefined ? p : Buffer.from(from, "utf8");
    // An empty start is etcd's "no key": "\0" is the smallest key there is.
    let start: Uint8Array = Buffer.compare(f, p) > 0 ? f : p.length > 0 ? p : Buffer.from([0]);
    const rangeEnd = prefixEnd(p);
    const out: Array<{ key: string; value: Uint8Array }> = [];
    while (out.length < limit) {
      const want = limit - out.length;
      const r = this.store.range({ key: start, rangeEnd, limit: want });
      if (!r.ok) throw new Error(`KV listing failed: ${r.error.message}`);
      for (const kv of r.value.kvs) {
        if (isUtf8(kv.key))
          out.push({ key: Buffer.from(kv.key).toString("utf8"), value: kv.value });
      }
      const last = r.value.kvs[r.value.kvs.length - 1];
      if (!r.value.more || last === undefined) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return out;
  }

  /** Keys with a value. */
  get size(): number {
    return this.store.keyCount;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The store revision (1 when fresh). */
  get revision(): number {
    return this.store.revision;
  }

  /**
   * The MVCC store's snapshot (mvcc/snapshot.ts) with the clock and the sessions in an extra
   * section: [clock, [[clientId, requestId, lastSeen, result]...]] in last-use order.
   */
  snapshot(): Uint8Array {
    return Buffer.concat([...snapshotChunks(this.store, this.snapshotOptions())]);
  }

  /**
   * The same bytes as snapshot() called now, encoded a chunk at a time with a yield to the event
   * loop in between, so that requests keep flowing while a large state is encoded. apply() may
   * run meanwhile: the store's history is immutable below the cut, so the chunks describe the
   * state of the call. Resolves with null if restore() replaced the state before the encoding
   * finished. Calls may overlap (etcd's Snapshot RPC takes one while the node runtime takes
   * its own): each pins the history it reads.
   */
  async snapshotAsync(): Promise<Uint8Array | null> {
    const parts: Uint8Array[] = [];
    try {
      for await (const c of this.snapshotStream()) parts.push(c);
    } catch (e) {
      if (e instanceof SnapshotAbortedError) return null;
      throw e;
    }
    return Buffer.concat(parts);
  }

  /**
   * snapshotAsync()'s chunks one at a time, for a caller that streams them on (a backup: see
   * backup.ts) instead of holding the whole state twice. The state is the one of the call (the
   * first chunk is cut synchronously); throws SnapshotAbortedError if restore() replaced it
   * before the last chunk.
   */
  snapshotStream(): AsyncIterable<Uint8Array> {
    const generation = this.generation;
    // Cut now, not at the first next(): the caller records the applied index with this call.
    const chunks = snapshotChunks(this.store, this.snapshotOptions());
    const sm = this;
    return (async function* () {
      try {
        for (const c of chunks) {
          yield c;
          await new Promise((resolve) => setImmediate(resolve));
          if (sm.generation !== generation)
            throw new SnapshotAbortedError("the state was restored");
        }
      } finally {
        chunks.return?.();
      }
    })();
  }

  private snapshotOptions() {
    const sessions = [...this.sessions].map(([id, r]) => [id, r.requestId, r.lastSeen, r.result]);
    return {
      chunkBytes: SNAPSHOT_CHUNK_BYTES,
      extras: [
        [SESSIONS_SECTION, packr.pack([this.clock, sessions])],
        [AUTH_SECTION, this.auth.encode()],
      ] as const,
    };
  }

  restore(data: Uint8Array): void {
    this.generation++; // an encoding snapshotAsync() gives up
    if (data[0] === LEGACY_SNAPSHOT) {
      this.restoreLegacy(data);
      return;
    }
    let extras: Map<string, Uint8Array>;
    try {
      extras = restoreSnapshot(this.store, [data]);
    } catch (e) {
      if (e instanceof SnapshotFormatError)
        throw new KvSnapshotError(`KV snapshot: unsupported format or version (${e.message})`);
      throw e;
    }
    const section = extras.get(SESSIONS_SECTION);
    if (section === undefined) throw new KvSnapshotError("KV snapshot: no sessions section");
    const [clock, sessions] = packr.unpack(section) as [
      number,
      Array<[string, number, number, KvResult]>,
    ];
    try {
      this.auth.restore(extras.get(AUTH_SECTION));
    } catch (e) {
      throw new KvSnapshotError(`KV snapshot: ${(e as Error).message}`);
    }
    this.sessions.clear();
    for (const [id, requestId, lastSeen, result] of sessions) {
      this.sessions.set(id, { requestId, lastSeen, result });
    }
    this.clock = clock;
  }

  /**
   * The snapshot format before the MVCC store, [1, clock, keys[], values[], sessions[]]: a
   * data directory written by an older raftwork restarts with its keys (each written once, from
   * revision 2 on) and its sessions.
   */
  private restoreLegacy(data: Uint8Array): void {
    const snap = packr.unpack(data) as unknown;
    if (!Array.isArray(snap) || snap[0] !== 1 || snap.length !== 5) {
      throw new KvSnapshotError("KV snapshot: unsupported format or version");
    }
    const [, clock, keys, values, sessions] = snap as [
      number,
      number,
      string[],
      Uint8Array[],
      Array<[string, number, number, { kind: string }]>,
    ];
    // Reset the store in place (its observers stay attached) to an empty one's state.
    restoreSnapshot(this.store, snapshotChunks(new MvccStore()));
    for (let i = 0; i < keys.length; i++) {
      this.store.put({
        key: Buffer.from(keys[i] as string, "utf8"),
        value: values[i] as Uint8Array,
      });
    }
    this.auth.restore(undefined);
    this.sessions.clear();
    for (const [id, requestId, lastSeen, result] of sessions) {
      // Old results carried no revision; the one of the restored state stands in for it.
      const r = (
        result.kind === "ok" ? { kind: "ok", revision: this.store.revision } : result
      ) as KvResult;
      this.sessions.set(id, { requestId, lastSeen, result: r });
    }
    this.clock = clock;
  }
}

/** What a native HTTP write touches: its key; a CAS also reads it (a mismatch returns it). */
export function needsOfNative(cmd: KvCommand): Need[] {
  const key = Buffer.from(cmd.key, "utf8");
  const w: Need = { access: "write", key };
  return cmd.op === "cas" ? [w, { access: "read", key }] : [w];
}

function etcd(result: StoreResult<unknown>): KvResult {
  return { kind: "etcd", result };
}

function invalid(message: string): KvResult {
  return { kind: "invalid", message };
}

function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return Buffer.compare(a, b) === 0;
}
