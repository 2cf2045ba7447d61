// The replicated key-value state machine (README, "KV store"; docs/architecture.md, "The path
// of a write").
//
// apply() is deterministic: it depends only on the entries, never on the local clock or
// randomness, so every replica computes the same state and the same results. Time enters only
// through the leader timestamp in each command, which drives session expiry.
//
// Exactly-once sessions follow the Raft thesis §6.3: each client numbers its writes; the state
// machine remembers, per client, the latest request id and its result. A retry of that id
// returns the remembered result without re-applying; an older id is stale. Sessions idle for
// longer than SESSION_TTL_MS (by the log's clock) are dropped, on every node at the same entry.
import { Packr } from "msgpackr";
import type { StateMachine } from "../node/api.js";
import type { Entry } from "../raft/types.js";
import { RaftworkError } from "../util/errors.js";
import { decodeCommand, type KvCommand } from "./commands.js";
import { MAX_VALUE_BYTES } from "./contract.js";
import { SortedKeys } from "./sorted-keys.js";

export { MAX_VALUE_BYTES } from "./contract.js";

/** restore() was given bytes that are not a KV snapshot of a known version. */
export class KvSnapshotError extends RaftworkError {
  readonly code = "bad-snapshot";
}
export const SESSION_TTL_MS = 24 * 60 * 60 * 1000;

/** The outcome of one applied command, returned to the proposer through RaftService.propose. */
export type KvResult =
  | { kind: "ok" }
  | { kind: "cas-mismatch"; current: Uint8Array | null }
  | { kind: "too-large"; bytes: number }
  | { kind: "stale-request"; latest: number }
  | { kind: "invalid"; message: string };

interface SessionRecord {
  requestId: number;
  result: KvResult;
  /** Log clock when last used. */
  lastSeen: number;
}

const OK: KvResult = Object.freeze({ kind: "ok" });
const SNAPSHOT_VERSION = 1;
/** Keys per slice of snapshotAsync(): about 1 ms of encoding between event-loop turns. */
const SNAPSHOT_SLICE = 2048;
// copyBuffers: restored values must not alias the snapshot buffer the caller may reuse.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

export class KvStateMachine implements StateMachine {
  private readonly data = new Map<string, Uint8Array>();
  private readonly keys = new SortedKeys();
  /**
   * Insertion order = order of last use (a touched session is deleted and re-inserted), and the
   * log clock never moves backwards, so the oldest sessions are always at the front.
   */
  private readonly sessions = new Map<string, SessionRecord>();
  /** The log's clock: the highest leader timestamp applied so far. */
  private clock = 0;
  /** Old values of keys changed since snapshotAsync() started (null when none runs). */
  private saved: Map<string, Uint8Array> | null = null;
  /** Bumped by restore(): tells a running snapshotAsync() that its state is gone. */
  private generation = 0;
  /**
   * An upper bound of the snapshot's key and value bytes, kept up to date by every change, so
   * that a snapshot sizes its buffer without a pass over the whole state (see entryBound).
   */
  private dataBound = 0;

  apply(entry: Entry): KvResult {
    const cmd = decodeCommand(entry.data);
    if (typeof cmd === "string") return { kind: "invalid", message: cmd };
    // Leaders' clocks may disagree; taking the maximum keeps the log clock monotonic.
    if (cmd.ts > this.clock) this.clock = cmd.ts;
    this.expireSessions();
    const s = cmd.session;
    if (!s) return this.execute(cmd);
    const rec = this.sessions.get(s.clientId);
    if (rec && s.requestId < rec.requestId) {
      return { kind: "stale-request", latest: rec.requestId };
    }
    if (rec && s.requestId === rec.requestId) {
      this.touch(s.clientId, rec);
      return rec.result;
    }
    const result = this.execute(cmd);
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

  private execute(cmd: KvCommand): KvResult {
    switch (cmd.op) {
      case "put":
        if (cmd.value.length > MAX_VALUE_BYTES)
          return { kind: "too-large", bytes: cmd.value.length };
        this.set(cmd.key, cmd.value);
        return OK;
      case "del": {
        this.save(cmd.key);
        const old = this.data.get(cmd.key);
        if (old === undefined) return OK;
        this.data.delete(cmd.key);
        this.keys.remove(cmd.key);
        this.dataBound -= entryBound(cmd.key, old);
        return OK;
      }
      case "append": {
        const old = this.data.get(cmd.key);
        const bytes = (old?.length ?? 0) + cmd.value.length;
        if (bytes > MAX_VALUE_BYTES) return { kind: "too-large", bytes };
        this.set(cmd.key, old ? Buffer.concat([old, cmd.value], bytes) : cmd.value);
        return OK;
      }
      case "cas": {
        if (cmd.value.length > MAX_VALUE_BYTES)
          return { kind: "too-large", bytes: cmd.value.length };
        const current = this.data.get(cmd.key) ?? null;
        if (!bytesEqual(current, cmd.expect)) return { kind: "cas-mismatch", current };
        this.set(cmd.key, cmd.value);
        return OK;
      }
    }
  }

  private set(key: string, value: Uint8Array): void {
    this.save(key);
    const old = this.data.get(key);
    if (old === undefined) this.keys.insert(key);
    else this.dataBound -= entryBound(key, old);
    this.data.set(key, value);
    this.dataBound += entryBound(key, value);
  }

  /** Local read; linearizable only after RaftService.readBarrier(). The caller must not mutate it. */
  get(key: string): Uint8Array | undefined {
    return this.data.get(key);
  }

  /**
   * Up to `limit` entries whose key starts with `prefix`, sorted by key (code point order),
   * only keys >= `from` when given.
   */
  list(prefix: string, limit: number, from?: string): Array<{ key: string; value: Uint8Array }> {
    const out: Array<{ key: string; value: Uint8Array }> = [];
    for (const key of this.keys.withPrefix(prefix, limit, from)) {
      out.push({ key, value: this.data.get(key) as Uint8Array });
    }
    return out;
  }

  get size(): number {
    return this.data.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Snapshot layout (msgpack array):
   *   [version, clock, keys[], values[], sessions[[clientId, requestId, lastSeen, result]...]]
   * keys are in sorted order, sessions in last-use order, so restore() rebuilds both indexes
   * without sorting.
   *
   * The keys and values (nearly all of the bytes) are written by hand as str32/bin32 items into
   * one buffer sized up front: generic packing of ~15 MB (60,000 keys of 256 B) took 50-230 ms
   * here, growing and copying its buffer, and the node's event loop stalls for as long. Any
   * msgpack reader decodes the result; restore() uses msgpackr.
   */
  snapshot(): Uint8Array {
    const w = this.startSnapshot((k) => this.data.get(k) as Uint8Array);
    w.writeKeys(0, w.keys.length);
    w.startValues();
    w.writeValues(0, w.keys.length);
    return w.finish();
  }

  /**
   * The same bytes as snapshot() called now, encoded in slices of SNAPSHOT_SLICE keys that
   * yield to the event loop in between, so that requests keep flowing while a large state is
   * encoded. apply() may run meanwhile: the first change to a key after this call saves its old
   * value (copy-on-write) for the encoder. Resolves with null if restore() replaced the state
   * before the encoding finished. One at a time (the node runtime never overlaps them).
   */
  async snapshotAsync(): Promise<Uint8Array | null> {
    const saved = new Map<string, Uint8Array>();
    this.saved = saved;
    const generation = this.generation;
    const w = this.startSnapshot((k) => saved.get(k) ?? (this.data.get(k) as Uint8Array));
    try {
      const n = w.keys.length;
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < n; i += SNAPSHOT_SLICE) {
          if (pass === 0) w.writeKeys(i, Math.min(n, i + SNAPSHOT_SLICE));
          else w.writeValues(i, Math.min(n, i + SNAPSHOT_SLICE));
          await new Promise((resolve) => setImmediate(resolve));
          if (this.generation !== generation) return null;
        }
        if (pass === 0) w.startValues();
      }
      return w.finish();
    } finally {
      if (this.saved === saved) this.saved = null;
    }
  }

  /**
   * Sizes and starts a snapshot of the current state; `valueAt` gives each key's value. Runs in
   * one event-loop turn, so it does no per-key work beyond copying the key list (the byte bound
   * is kept by apply): with 70,000 keys a pass computing it here blocked the loop for 10-20 ms.
   */
  private startSnapshot(valueAt: (key: string) => Uint8Array) {
    const keys = this.keys.toArray();
    const head = packr.pack(this.clock);
    const sessions = packr.pack(
      [...this.sessions].map(([id, r]) => [id, r.requestId, r.lastSeen, r.result]),
    );
    const out = Buffer.allocUnsafe(2 + head.length + 10 + this.dataBound + sessions.length);
    out[0] = 0x95; // fixarray of 5
    out[1] = SNAPSHOT_VERSION; // positive fixint
    let off = 2 + head.copy(out, 2);
    out[off] = 0xdd; // array32
    off = out.writeUInt32BE(keys.length, off + 1);
    return {
      keys,
      writeKeys(from: number, to: number): void {
        for (let i = from; i < to; i++) {
          out[off] = 0xdb; // str32
          const n = out.write(keys[i] as string, off + 5);
          out.writeUInt32BE(n, off + 1);
          off += 5 + n;
        }
      },
      startValues(): void {
        out[off] = 0xdd;
        off = out.writeUInt32BE(keys.length, off + 1);
      },
      writeValues(from: number, to: number): void {
        for (let i = from; i < to; i++) {
          const v = valueAt(keys[i] as string);
          out[off] = 0xc6; // bin32
          off = out.writeUInt32BE(v.length, off + 1);
          out.set(v, off);
          off += v.length;
        }
      },
      finish(): Uint8Array {
        off += sessions.copy(out, off);
        return out.subarray(0, off);
      },
    };
  }

  /** Copy-on-write for snapshotAsync: keeps a key's value as of the snapshot's start. */
  private save(key: string): void {
    const saved = this.saved;
    if (saved === null || saved.has(key)) return;
    const v = this.data.get(key);
    // A key absent at the start is not in the snapshot's key list: nothing to keep.
    if (v !== undefined) saved.set(key, v);
  }

  restore(data: Uint8Array): void {
    this.generation++; // an encoding snapshotAsync() gives up
    const snap = packr.unpack(data) as unknown;
    if (!Array.isArray(snap) || snap[0] !== SNAPSHOT_VERSION || snap.length !== 5) {
      throw new KvSnapshotError("KV snapshot: unsupported format or version");
    }
    const [, clock, keys, values, sessions] = snap as [
      number,
      number,
      string[],
      Uint8Array[],
      Array<[string, number, number, KvResult]>,
    ];
    this.data.clear();
    this.sessions.clear();
    this.dataBound = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const value = values[i] as Uint8Array;
      this.data.set(key, value);
      this.dataBound += entryBound(key, value);
    }
    this.keys.load(keys);
    for (const [id, requestId, lastSeen, result] of sessions) {
      this.sessions.set(id, { requestId, lastSeen, result });
    }
    this.clock = clock;
  }
}

/**
 * The most bytes one key and its value take in a snapshot: a str32 and a bin32 header (5 bytes
 * each) and the key's UTF-8, of at most 3 bytes per UTF-16 code unit.
 */
function entryBound(key: string, value: Uint8Array): number {
  return 10 + 3 * key.length + value.length;
}

function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return Buffer.compare(a, b) === 0;
}
