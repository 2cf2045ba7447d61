// Message <-> bytes. msgpack (msgpackr, records off so every payload is self-describing) for the
// encoding, and strict validation of everything decoded: these bytes come from the network, and
// the Raft core trusts the shape of every message it steps. A decoded value becomes a Message
// only if every field has the right type and range and no unknown field is present; the result
// is a freshly built object, so nothing the peer sent beyond the contract reaches Raft.
//
// Validation also checks the structural facts every correct leader's messages satisfy (entries
// contiguous after prevIndex, terms never above the message term and non-decreasing), so a
// corrupt or hostile AppendEntries is rejected here instead of confusing the log.

import { Packr } from "msgpackr";
import type {
  AppendRequest,
  Entry,
  EntryType,
  Message,
  MessageType,
  NodeId,
  Snapshot,
} from "../raft/types.js";

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

const packr = new Packr({ useRecords: false });

/** Encodes a message. The returned buffer is the caller's. */
export function encodeMessage(m: Message): Buffer {
  return packr.pack(m);
}

/** Encodes any msgpack-able value (the transport's other wire records). */
export function encodeValue(v: unknown): Buffer {
  return packr.pack(v);
}

/** Decodes and validates a message; never throws. */
export function decodeMessage(bytes: Uint8Array): Result<Message> {
  const r = decodeValue(bytes);
  return r.ok ? validateMessage(r.value) : r;
}

/** Decodes one msgpack value, unvalidated (the caller validates it); never throws. */
export function decodeValue(bytes: Uint8Array): Result<unknown> {
  try {
    // One private copy of the whole record; binary fields (entry data) are then views into it.
    // That costs one allocation per message instead of one per entry, and a long-lived log
    // entry pins only its own message's bytes, never the 64 KiB socket chunk they arrived in.
    // The copy is a plain Uint8Array, so binary fields decode as plain Uint8Arrays (from a
    // Buffer msgpackr would produce Buffers, which compare unequal to Uint8Arrays).
    return { ok: true, value: packr.unpack(new Uint8Array(bytes)) };
  } catch (e) {
    return { ok: false, error: `malformed msgpack: ${(e as Error).message}` };
  }
}

/** Thrown inside the validators only; converted to an error value by validated(). */
class Invalid extends Error {}

export function fail(path: string, what: string): never {
  throw new Invalid(`${path}: ${what}`);
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
    for (const k of Object.keys(v)) if (!allowed.has(k)) fail(`${path}.${k}`, "unknown field");
  }
  return v as Record<string, unknown>;
}

/** A non-negative safe integer (indexes, terms, counters). */
function nat(o: Record<string, unknown>, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    fail(`${path}.${key}`, "expected a non-negative safe integer");
  }
  return v;
}

export function nodeId(v: unknown, path: string): NodeId {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
    fail(path, "expected a node id (positive safe integer)");
  }
  return v;
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

function keys(...names: string[]): ReadonlySet<string> {
  return new Set(["type", "from", "to", "term", ...names]);
}

const FIELDS: Record<MessageType, ReadonlySet<string>> = {
  vote: keys("lastLogIndex", "lastLogTerm", "transfer"),
  prevote: keys("lastLogIndex", "lastLogTerm", "transfer"),
  "vote-resp": keys("granted"),
  "prevote-resp": keys("granted"),
  app: keys("prevIndex", "prevTerm", "entries", "commit"),
  "app-resp": keys("success", "matchIndex", "rejectIndex", "conflictTerm", "conflictIndex"),
  heartbeat: keys("commit", "ctx"),
  "heartbeat-resp": keys("ctx"),
  snap: keys("snapshot"),
  "timeout-now": keys(),
};
const ENTRY_FIELDS = new Set(["index", "term", "type", "data"]);
const SNAPSHOT_FIELDS = new Set(["metadata", "data"]);
const METADATA_FIELDS = new Set(["index", "term", "conf"]);
const CONF_FIELDS = new Set(["voters", "learners", "votersOutgoing", "learnersNext", "autoLeave"]);

function isMessageType(t: unknown): t is MessageType {
  return typeof t === "string" && Object.hasOwn(FIELDS, t);
}

/** Validates an untrusted value as a Message; never throws. */
export function validateMessage(v: unknown): Result<Message> {
  return validated("invalid message", () => parseMessage(v));
}

/**
 * Runs a parser built from this module's helpers and turns its failure into an error value.
 * Exported for the transport's other wire records (handshake, snapshot chunks).
 */
export function validated<T>(what: string, parse: () => T): Result<T> {
  try {
    return { ok: true, value: parse() };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: `${what}: ${e.message}` };
    throw e;
  }
}

function parseMessage(v: unknown): Message {
  const type = plainObject(v, "message").type;
  if (!isMessageType(type)) fail("message.type", "unknown message type");
  const o = plainObject(v, "message", FIELDS[type]);
  const from = nodeId(o.from, "message.from");
  const to = nodeId(o.to, "message.to");
  if (from === to) fail("message.to", "a node does not message itself");
  const term = nat(o, "term", "message");
  const base = { from, to, term };
  const p = "message";
  switch (type) {
    case "vote":
    case "prevote": {
      const lastLogTerm = nat(o, "lastLogTerm", p);
      if (lastLogTerm > term) fail(`${p}.lastLogTerm`, "above the message term");
      const m = { type, ...base, lastLogIndex: nat(o, "lastLogIndex", p), lastLogTerm };
      return o.transfer === undefined ? m : { ...m, transfer: bool(o, "transfer", p) };
    }
    case "vote-resp":
    case "prevote-resp":
      return { type, ...base, granted: bool(o, "granted", p) };
    case "app":
      return parseAppend(o, base);
    case "app-resp":
      return {
        type,
        ...base,
        success: bool(o, "success", p),
        matchIndex: nat(o, "matchIndex", p),
        rejectIndex: nat(o, "rejectIndex", p),
        conflictTerm: nat(o, "conflictTerm", p),
        conflictIndex: nat(o, "conflictIndex", p),
      };
    case "heartbeat":
      return { type, ...base, commit: nat(o, "commit", p), ctx: nat(o, "ctx", p) };
    case "heartbeat-resp":
      return { type, ...base, ctx: nat(o, "ctx", p) };
    case "snap":
      return { type, ...base, snapshot: parseSnapshot(o.snapshot, term) };
    case "timeout-now":
      return { type, ...base };
  }
}

function parseAppend(
  o: Record<string, unknown>,
  base: { from: NodeId; to: NodeId; term: number },
): AppendRequest {
  const p = "message";
  const prevIndex = nat(o, "prevIndex", p);
  const prevTerm = nat(o, "prevTerm", p);
  if (prevTerm > base.term) fail(`${p}.prevTerm`, "above the message term");
  const raw = array(o, "entries", p);
  const entries: Entry[] = new Array(raw.length);
  let lastTerm = prevTerm;
  for (let i = 0; i < raw.length; i++) {
    const path = `${p}.entries[${i}]`;
    const e = parseEntry(raw[i], path);
    // Figure 2 / §5.3: a leader sends a contiguous run of its log right after prevIndex, and
    // log terms never decrease nor exceed the leader's current term.
    if (e.index !== prevIndex + 1 + i) fail(`${path}.index`, `expected ${prevIndex + 1 + i}`);
    if (e.term < lastTerm) fail(`${path}.term`, "terms must not decrease along the log");
    if (e.term > base.term) fail(`${path}.term`, "above the message term");
    lastTerm = e.term;
    entries[i] = e;
  }
  return { type: "app", ...base, prevIndex, prevTerm, entries, commit: nat(o, "commit", p) };
}

function parseEntry(v: unknown, path: string): Entry {
  const o = plainObject(v, path, ENTRY_FIELDS);
  const index = nat(o, "index", path);
  if (index < 1) fail(`${path}.index`, "log indexes start at 1");
  const type = o.type;
  if (type !== "normal" && type !== "conf") fail(`${path}.type`, 'expected "normal" or "conf"');
  return {
    index,
    term: nat(o, "term", path),
    type: type as EntryType,
    data: bytes(o, "data", path),
  };
}

function parseSnapshot(v: unknown, term: number): Snapshot {
  const path = "message.snapshot";
  const o = plainObject(v, path, SNAPSHOT_FIELDS);
  const mpath = `${path}.metadata`;
  const md = plainObject(o.metadata, mpath, METADATA_FIELDS);
  const index = nat(md, "index", mpath);
  const snapTerm = nat(md, "term", mpath);
  if (snapTerm > term) fail(`${mpath}.term`, "above the message term");
  const cpath = `${mpath}.conf`;
  const conf = plainObject(md.conf, cpath, CONF_FIELDS);
  const ids = (key: string): NodeId[] => {
    const raw = array(conf, key, cpath);
    const out: NodeId[] = [];
    // An index loop, not map(): map skips the holes of a sparse array.
    for (let i = 0; i < raw.length; i++) out.push(nodeId(raw[i], `${cpath}.${key}[${i}]`));
    if (new Set(out).size !== out.length) fail(`${cpath}.${key}`, "duplicate id");
    return out;
  };
  if (typeof conf.autoLeave !== "boolean") fail(`${cpath}.autoLeave`, "expected a boolean");
  return {
    metadata: {
      index,
      term: snapTerm,
      conf: {
        voters: ids("voters"),
        learners: ids("learners"),
        votersOutgoing: ids("votersOutgoing"),
        learnersNext: ids("learnersNext"),
        autoLeave: conf.autoLeave,
      },
    },
    data: bytes(o, "data", path),
  };
}
