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
//   - a "conf" entry's data decodes as a configuration change whose resulting configuration
//     obeys the same invariants (confchange-codec.ts);
//   - no field beyond the schema; `transfer` on a vote request is optional.

import { err, ok, type Result } from "../util/result.js";
import { confProblem } from "./confchange.js";
import { decodeConfChangeEntry } from "./confchange-codec.js";
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
// Each checks a value already read from its object (`o.field`, a property load the engine
// keeps fast) and names it `${path}.${key}` only when it fails.

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

/**
 * Refuses a field outside `allowed`, once the `present` fields the reader required are known to
 * be there: counting the keys is enough unless there are more (then it finds the stranger).
 */
function onlyFields(
  o: Record<string, unknown>,
  path: string,
  allowed: ReadonlySet<string>,
  present: number,
): void {
  let n = 0;
  for (const _ in o) n++;
  if (n !== present) plainObject(o, path, allowed);
}

export function nodeId(v: unknown, path: string): NodeId {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
    fail(path, "expected a node id (positive safe integer)");
  }
  return v;
}

/** A non-negative safe integer (indexes, terms, counters). */
function nat(v: unknown, path: string, key: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    fail(`${path}.${key}`, "expected a non-negative safe integer");
  }
  return v;
}

/** A term a message or entry is sent in: >= 1 (term 0 is the empty log's sentinel). */
function term(v: unknown, path: string, key: string): number {
  const t = nat(v, path, key);
  if (t < 1) fail(`${path}.${key}`, "terms start at 1");
  return t;
}

/** A term the sender already knew (<= the message term); 0 for the empty log. */
function pastTerm(v: unknown, path: string, key: string, max: number): number {
  const t = nat(v, path, key);
  if (t > max) fail(`${path}.${key}`, "above the message term");
  return t;
}

function bool(v: unknown, path: string, key: string): boolean {
  if (typeof v !== "boolean") fail(`${path}.${key}`, "expected a boolean");
  return v;
}

function bytes(v: unknown, path: string, key: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(`${path}.${key}`, "expected binary data");
  return v;
}

function array(v: unknown, path: string, key: string): unknown[] {
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
  "timeout-now": fields("index"),
};
const ENTRY_FIELDS = new Set(["index", "term", "type", "data"]);
const SNAPSHOT_FIELDS = new Set(["metadata", "data"]);
const METADATA_FIELDS = new Set(["index", "term", "conf"]);
const CONF_FIELDS = new Set(["voters", "learners", "votersOutgoing", "learnersNext", "autoLeave"]);

const P = "message";
/** Stands for "message.entries[i]" in an entry's errors until one is raised (see readAppend). */
const ENTRY = "\u0000entry";

/**
 * Checks `v` against the schema and returns it: a fresh copy when `copy`, else `v` itself
 * (then nothing is allocated but what the checks need). Throws Invalid.
 */
function readMessage(v: unknown, copy: boolean): Message {
  const o = plainObject(v, P);
  const t = o.type;
  if (typeof t !== "string" || !Object.hasOwn(FIELDS, t)) fail(`${P}.type`, "unknown message type");
  const from = nodeId(o.from, `${P}.from`);
  const to = nodeId(o.to, `${P}.to`);
  if (from === to) fail(`${P}.to`, "a node does not message itself");
  const mterm = term(o.term, P, "term");
  switch (t as MessageType) {
    case "vote":
    case "prevote": {
      const type = t as "vote" | "prevote";
      const lastLogIndex = nat(o.lastLogIndex, P, "lastLogIndex");
      const lastLogTerm = pastTerm(o.lastLogTerm, P, "lastLogTerm", mterm);
      const transfer = o.transfer === undefined ? undefined : bool(o.transfer, P, "transfer");
      onlyFields(o, P, FIELDS[type], transfer === undefined ? 6 : 7);
      if (!copy) return v as Message;
      const m: Message = { type, from, to, term: mterm, lastLogIndex, lastLogTerm };
      if (transfer !== undefined) m.transfer = transfer;
      return m;
    }
    case "vote-resp":
    case "prevote-resp": {
      const type = t as "vote-resp" | "prevote-resp";
      const granted = bool(o.granted, P, "granted");
      onlyFields(o, P, FIELDS[type], 5);
      return copy ? { type, from, to, term: mterm, granted } : (v as Message);
    }
    case "app":
      return readAppend(o, from, to, mterm, copy);
    case "app-resp": {
      const success = bool(o.success, P, "success");
      const matchIndex = nat(o.matchIndex, P, "matchIndex");
      const rejectIndex = nat(o.rejectIndex, P, "rejectIndex");
      const conflictTerm = nat(o.conflictTerm, P, "conflictTerm");
      const conflictIndex = nat(o.conflictIndex, P, "conflictIndex");
      onlyFields(o, P, FIELDS["app-resp"], 9);
      if (!copy) return v as Message;
      return {
        type: "app-resp",
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
      const commit = nat(o.commit, P, "commit");
      const ctx = nat(o.ctx, P, "ctx");
      onlyFields(o, P, FIELDS.heartbeat, 6);
      return copy ? { type: "heartbeat", from, to, term: mterm, commit, ctx } : (v as Message);
    }
    case "heartbeat-resp": {
      const ctx = nat(o.ctx, P, "ctx");
      onlyFields(o, P, FIELDS["heartbeat-resp"], 5);
      return copy ? { type: "heartbeat-resp", from, to, term: mterm, ctx } : (v as Message);
    }
    case "snap": {
      const snapshot = readSnapshot(o.snapshot, mterm, copy);
      onlyFields(o, P, FIELDS.snap, 5);
      return copy ? { type: "snap", from, to, term: mterm, snapshot } : (v as Message);
    }
    case "timeout-now": {
      const index = nat(o.index, P, "index");
      onlyFields(o, P, FIELDS["timeout-now"], 5);
      return copy ? { type: "timeout-now", from, to, term: mterm, index } : (v as Message);
    }
  }
}

function readAppend(
  o: Record<string, unknown>,
  from: NodeId,
  to: NodeId,
  mterm: number,
  copy: boolean,
): AppendRequest {
  const prevIndex = nat(o.prevIndex, P, "prevIndex");
  const prevTerm = pastTerm(o.prevTerm, P, "prevTerm", mterm);
  const commit = nat(o.commit, P, "commit");
  const raw = array(o.entries, P, "entries");
  onlyFields(o, P, FIELDS.app, 8);
  const entries: Entry[] | null = copy ? new Array(raw.length) : null;
  let lastTerm = prevTerm;
  // An index loop, not map() or for-of: map skips the holes of a sparse array. Entries are
  // checked under the placeholder path ENTRY; only a failure pays for the real one.
  let i = 0;
  try {
    for (; i < raw.length; i++) {
      // Not plainObject(): its prototype check is the costliest test per entry, and what it
      // guards against (an object inheriting fields) no decoder or caller produces; the type,
      // the fields and their count are still checked.
      const e = raw[i] as Record<string, unknown>;
      if (typeof e !== "object" || e === null) fail(ENTRY, "expected an object");
      const index = nat(e.index, ENTRY, "index");
      if (index !== prevIndex + 1 + i) fail(`${ENTRY}.index`, `expected ${prevIndex + 1 + i}`);
      const et = term(e.term, ENTRY, "term");
      if (et < lastTerm) fail(`${ENTRY}.term`, "terms must not decrease along the log");
      if (et > mterm) fail(`${ENTRY}.term`, "above the message term");
      lastTerm = et;
      const type = e.type;
      if (type !== "normal" && type !== "conf")
        fail(`${ENTRY}.type`, 'expected "normal" or "conf"');
      const data = bytes(e.data, ENTRY, "data");
      if (type === "conf") {
        const cc = decodeConfChangeEntry(data);
        if (!cc.ok) fail(`${ENTRY}.data`, cc.error);
      }
      onlyFields(e, ENTRY, ENTRY_FIELDS, 4);
      if (entries !== null) entries[i] = { index, term: et, type: type as EntryType, data };
    }
  } catch (e) {
    if (e instanceof Invalid) throw new Invalid(e.message.replace(ENTRY, `${P}.entries[${i}]`));
    throw e;
  }
  if (entries === null) return o as unknown as AppendRequest;
  return { type: "app", from, to, term: mterm, prevIndex, prevTerm, entries, commit };
}

function readSnapshot(v: unknown, mterm: number, copy: boolean): Snapshot {
  const path = `${P}.snapshot`;
  const o = plainObject(v, path, SNAPSHOT_FIELDS);
  const mpath = `${path}.metadata`;
  const md = plainObject(o.metadata, mpath, METADATA_FIELDS);
  const index = nat(md.index, mpath, "index");
  if (index < 1) fail(`${mpath}.index`, "a snapshot covers index 1 or more");
  const snapTerm = term(md.term, mpath, "term");
  if (snapTerm > mterm) fail(`${mpath}.term`, "above the message term");
  const conf = readConf(md.conf, `${mpath}.conf`, copy);
  const data = bytes(o.data, path, "data");
  if (!copy) return v as Snapshot;
  return { metadata: { index, term: snapTerm, conf }, data };
}

function readConf(v: unknown, path: string, copy: boolean): ConfState {
  const c = plainObject(v, path, CONF_FIELDS);
  const ids = (key: string): NodeId[] => {
    const raw = array(c[key], path, key);
    const out: NodeId[] = copy ? new Array(raw.length) : (raw as NodeId[]);
    for (let i = 0; i < raw.length; i++) {
      const id = nodeId(raw[i], `${path}.${key}[${i}]`);
      if (copy) out[i] = id;
    }
    return out;
  };
  const voters = ids("voters");
  const learners = ids("learners");
  const votersOutgoing = ids("votersOutgoing");
  const learnersNext = ids("learnersNext");
  const autoLeave = bool(c.autoLeave, path, "autoLeave");
  const conf = { voters, learners, votersOutgoing, learnersNext, autoLeave };
  const problem = confProblem(conf);
  if (problem !== null) fail(`${path}.${problem.key}`, problem.what);
  return copy ? conf : (v as ConfState);
}
