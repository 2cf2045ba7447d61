// The one schema of a Raft message: which fields each message type has, their types and
// ranges, and the structural facts every correct sender's messages satisfy. Two users, one
// definition:
//
//   - the core's step() guard (isWellFormed): the core trusts the shape of every message it
//     steps, so a malformed one is dropped there, never allowed to corrupt state or throw;
//   - the transport codec (parseMessage, via src/transport/codec.ts): bytes from the network
//     become a Message only through it, as a freshly built object holding nothing beyond the
//     schema.
//
// Both apply the same rules; the codec additionally gets a copy (copy = true) and an error
// naming the offending field by its path ("message.entries[3].term: ..."). Hand-written: the
// core has no dependencies.
//
// Rules (each decided once, here):
//   - every message has term >= 1: a node at term 0 has heard from no one and sends nothing
//     (every sender is at term >= 1, and a reply carries the sender's term or the request's);
//   - from and to are node ids (>= 1) and differ;
//   - no term a message carries exceeds the message term: vote lastLogTerm, append prevTerm and
//     entry terms, snapshot term (Raft paper §5.1: a node's log holds no entry from a future
//     term);
//   - append entries are contiguous after prevIndex, their terms are >= 1, never decrease and
//     start at or above prevTerm (Figure 2 / §5.3: a leader sends a run of its own log, whose
//     terms never decrease);
//   - a snapshot covers index >= 1 at term >= 1, and its configuration obeys ConfState's
//     invariants (types.ts, as etcd's confchange checks them): at least one voter; every id list
//     strictly ascending; learners are neither incoming nor outgoing voters; learnersNext are
//     outgoing voters that are not incoming voters or learners; outside a joint configuration
//     (no outgoing voters) learnersNext is empty and autoLeave false;
//   - no field beyond the schema; `transfer` on a vote request is optional.

import { err, ok, type Result } from "../util/result.js";
import type {
  AppendRequest,
  ConfState,
  Entry,
  EntryType,
  Message,
  MessageType,
  NodeId,
  Snapshot,
} from "./types.js";

/** True if `m` is a valid Message (the core's step() guard). Never throws. */
export function isWellFormed(m: unknown): m is Message {
  try {
    readMessage(m, false);
    return true;
  } catch (e) {
    if (e instanceof Invalid) return false;
    throw e;
  }
}

/** Validates an untrusted value and returns a fresh copy of it as a Message. Never throws. */
export function parseMessage(v: unknown): Result<Message> {
  return validated("invalid message", () => readMessage(v, true));
}

// ---- building blocks, also used for the transport's other wire records (its handshake) ----

/** Thrown inside the readers only; turned into an error value by validated(). */
class Invalid extends Error {}

export function fail(path: string, what: string): never {
  throw new Invalid(`${path}: ${what}`);
}

/** Runs a reader built from these helpers and turns its failure into an error value. */
export function validated<T>(what: string, read: () => T): Result<T> {
  try {
    return ok(read());
  } catch (e) {
    if (e instanceof Invalid) return err(`${what}: ${e.message}`);
    throw e;
  }
}

/** A plain object holding no field outside `allowed` (when given). */
export function plainObject(
  v: unknown,
  path: string,
  allowed?: ReadonlySet<string>,
): Record<string, unknown> {
  if (typeof v !== "object" || v === null) fail(path, "expected an object");
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) fail(path, "expected a plain object");
  if (allowed !== undefined) {
    for (const k in v) if (!allowed.has(k)) fail(`${path}.${k}`, "unknown field");
  }
  return v as Record<string, unknown>;
}

export function nodeId(v: unknown, path: string): NodeId {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
    fail(path, "expected a node id (positive safe integer)");
  }
  return v;
}

/** A non-negative safe integer (indexes, terms, counters). */
function nat(o: Record<string, unknown>, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    fail(`${path}.${key}`, "expected a non-negative safe integer");
  }
  return v;
}

/** A term a message or entry is sent in: >= 1 (term 0 is the empty log's sentinel). */
function term(o: Record<string, unknown>, key: string, path: string): number {
  const t = nat(o, key, path);
  if (t < 1) fail(`${path}.${key}`, "terms start at 1");
  return t;
}

/** A term the sender already knew (<= the message term); 0 for the empty log. */
function pastTerm(o: Record<string, unknown>, key: string, path: string, max: number): number {
  const t = nat(o, key, path);
  if (t > max) fail(`${path}.${key}`, "above the message term");
  return t;
}

function bool(o: Record<string, unknown>, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== "boolean") fail(`${path}.${key}`, "expected a boolean");
  return v;
}

function bytes(o: Record<string, unknown>, key: string, path: string): Uint8Array {
  const v = o[key];
  if (!(v instanceof Uint8Array)) fail(`${path}.${key}`, "expected binary data");
  return v;
}

function array(o: Record<string, unknown>, key: string, path: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) fail(`${path}.${key}`, "expected an array");
  return v;
}

// ---- the schema ---------------------------------------------------------------------------

function fields(...names: string[]): ReadonlySet<string> {
  return new Set(["type", "from", "to", "term", ...names]);
}

const FIELDS: Record<MessageType, ReadonlySet<string>> = {
  vote: fields("lastLogIndex", "lastLogTerm", "transfer"),
  prevote: fields("lastLogIndex", "lastLogTerm", "transfer"),
  "vote-resp": fields("granted"),
  "prevote-resp": fields("granted"),
  app: fields("prevIndex", "prevTerm", "entries", "commit"),
  "app-resp": fields("success", "matchIndex", "rejectIndex", "conflictTerm", "conflictIndex"),
  heartbeat: fields("commit", "ctx"),
  "heartbeat-resp": fields("ctx"),
  snap: fields("snapshot"),
  "timeout-now": fields(),
};
const ENTRY_FIELDS = new Set(["index", "term", "type", "data"]);
const SNAPSHOT_FIELDS = new Set(["metadata", "data"]);
const METADATA_FIELDS = new Set(["index", "term", "conf"]);
const CONF_FIELDS = new Set(["voters", "learners", "votersOutgoing", "learnersNext", "autoLeave"]);

const P = "message";

/**
 * Checks `v` against the schema and returns it: a fresh copy when `copy`, else `v` itself
 * (then nothing is allocated but what the checks need). Throws Invalid.
 */
function readMessage(v: unknown, copy: boolean): Message {
  const type = plainObject(v, P).type;
  if (typeof type !== "string" || !Object.hasOwn(FIELDS, type)) {
    fail(`${P}.type`, "unknown message type");
  }
  const t = type as MessageType;
  const o = plainObject(v, P, FIELDS[t]);
  const from = nodeId(o.from, `${P}.from`);
  const to = nodeId(o.to, `${P}.to`);
  if (from === to) fail(`${P}.to`, "a node does not message itself");
  const mterm = term(o, "term", P);
  let m: Message;
  switch (t) {
    case "vote":
    case "prevote": {
      const lastLogIndex = nat(o, "lastLogIndex", P);
      const lastLogTerm = pastTerm(o, "lastLogTerm", P, mterm);
      const transfer = o.transfer === undefined ? undefined : bool(o, "transfer", P);
      if (!copy) return v as Message;
      m = { type: t, from, to, term: mterm, lastLogIndex, lastLogTerm };
      if (transfer !== undefined) m.transfer = transfer;
      return m;
    }
    case "vote-resp":
    case "prevote-resp": {
      const granted = bool(o, "granted", P);
      return copy ? { type: t, from, to, term: mterm, granted } : (v as Message);
    }
    case "app":
      return readAppend(o, from, to, mterm, copy);
    case "app-resp": {
      const success = bool(o, "success", P);
      const matchIndex = nat(o, "matchIndex", P);
      const rejectIndex = nat(o, "rejectIndex", P);
      const conflictTerm = nat(o, "conflictTerm", P);
      const conflictIndex = nat(o, "conflictIndex", P);
      if (!copy) return v as Message;
      return {
        type: t,
        from,
        to,
        term: mterm,
        success,
        matchIndex,
        rejectIndex,
        conflictTerm,
        conflictIndex,
      };
    }
    case "heartbeat": {
      const commit = nat(o, "commit", P);
      const ctx = nat(o, "ctx", P);
      return copy ? { type: t, from, to, term: mterm, commit, ctx } : (v as Message);
    }
    case "heartbeat-resp": {
      const ctx = nat(o, "ctx", P);
      return copy ? { type: t, from, to, term: mterm, ctx } : (v as Message);
    }
    case "snap": {
      const snapshot = readSnapshot(o.snapshot, mterm, copy);
      return copy ? { type: t, from, to, term: mterm, snapshot } : (v as Message);
    }
    case "timeout-now":
      return copy ? { type: t, from, to, term: mterm } : (v as Message);
  }
}

function readAppend(
  o: Record<string, unknown>,
  from: NodeId,
  to: NodeId,
  mterm: number,
  copy: boolean,
): AppendRequest {
  const prevIndex = nat(o, "prevIndex", P);
  const prevTerm = pastTerm(o, "prevTerm", P, mterm);
  const commit = nat(o, "commit", P);
  const raw = array(o, "entries", P);
  const entries: Entry[] | null = copy ? new Array(raw.length) : null;
  let lastTerm = prevTerm;
  // An index loop, not map() or for-of: map skips the holes of a sparse array.
  for (let i = 0; i < raw.length; i++) {
    const path = `${P}.entries[${i}]`;
    const e = plainObject(raw[i], path, ENTRY_FIELDS);
    const index = nat(e, "index", path);
    if (index !== prevIndex + 1 + i) fail(`${path}.index`, `expected ${prevIndex + 1 + i}`);
    const et = term(e, "term", path);
    if (et < lastTerm) fail(`${path}.term`, "terms must not decrease along the log");
    if (et > mterm) fail(`${path}.term`, "above the message term");
    lastTerm = et;
    const type = e.type;
    if (type !== "normal" && type !== "conf") fail(`${path}.type`, 'expected "normal" or "conf"');
    const data = bytes(e, "data", path);
    if (entries !== null) entries[i] = { index, term: et, type: type as EntryType, data };
  }
  if (entries === null) return o as unknown as AppendRequest;
  return { type: "app", from, to, term: mterm, prevIndex, prevTerm, entries, commit };
}

function readSnapshot(v: unknown, mterm: number, copy: boolean): Snapshot {
  const path = `${P}.snapshot`;
  const o = plainObject(v, path, SNAPSHOT_FIELDS);
  const mpath = `${path}.metadata`;
  const md = plainObject(o.metadata, mpath, METADATA_FIELDS);
  const index = nat(md, "index", mpath);
  if (index < 1) fail(`${mpath}.index`, "a snapshot covers index 1 or more");
  const snapTerm = term(md, "term", mpath);
  if (snapTerm > mterm) fail(`${mpath}.term`, "above the message term");
  const conf = readConf(md.conf, `${mpath}.conf`, copy);
  const data = bytes(o, "data", path);
  if (!copy) return v as Snapshot;
  return { metadata: { index, term: snapTerm, conf }, data };
}

function readConf(v: unknown, path: string, copy: boolean): ConfState {
  const c = plainObject(v, path, CONF_FIELDS);
  const ids = (key: string): NodeId[] => {
    const raw = array(c, key, path);
    const out: NodeId[] = copy ? new Array(raw.length) : (raw as NodeId[]);
    for (let i = 0; i < raw.length; i++) {
      const id = nodeId(raw[i], `${path}.${key}[${i}]`);
      if (i > 0 && id <= (raw[i - 1] as number)) {
        fail(`${path}.${key}`, id === raw[i - 1] ? "duplicate id" : "ids must be ascending");
      }
      if (copy) out[i] = id;
    }
    return out;
  };
  const voters = ids("voters");
  const learners = ids("learners");
  const votersOutgoing = ids("votersOutgoing");
  const learnersNext = ids("learnersNext");
  const autoLeave = bool(c, "autoLeave", path);
  if (voters.length === 0) fail(`${path}.voters`, "a configuration needs at least one voter");
  for (const id of learners) {
    if (voters.includes(id) || votersOutgoing.includes(id)) {
      fail(`${path}.learners`, `node ${id} is both a learner and a voter`);
    }
  }
  for (const id of learnersNext) {
    if (!votersOutgoing.includes(id) || voters.includes(id) || learners.includes(id)) {
      fail(`${path}.learnersNext`, `node ${id} is not an outgoing voter leaving the voters`);
    }
  }
  if (votersOutgoing.length === 0 && autoLeave) {
    fail(`${path}.autoLeave`, "only a joint configuration (with outgoing voters) can leave");
  }
  if (!copy) return v as ConfState;
  return { voters, learners, votersOutgoing, learnersNext, autoLeave };
}
