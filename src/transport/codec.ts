// Message <-> bytes. msgpack (msgpackr, records off so every payload is self-describing) for the
// encoding; the Raft core's one message schema (src/raft/validate.ts) for everything decoded:
// these bytes come from the network, and a decoded value becomes a Message only if it passes
// that schema, as a freshly built object holding nothing the peer sent beyond it.

import { Packr } from "msgpackr";
import type { Message } from "../raft/types.js";
import { parseMessage } from "../raft/validate.js";
import { err, ok, type Result } from "../util/result.js";

// validateMessage: an untrusted value as a Message (a fresh copy), never throwing. The other
// names are the schema's building blocks, for the transport's other wire records (wire.ts).
export {
  fail,
  nodeId,
  parseMessage as validateMessage,
  plainObject,
  validated,
} from "../raft/validate.js";
export type { Result };

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
  return r.ok ? parseMessage(r.value) : r;
}

/** Decodes one msgpack value, unvalidated (the caller validates it); never throws. */
export function decodeValue(bytes: Uint8Array): Result<unknown> {
  try {
    // One private copy of the whole record; binary fields (entry data) are then views into it.
    // That costs one allocation per message instead of one per entry, and a long-lived log
    // entry pins only its own message's bytes, never the 64 KiB socket chunk they arrived in.
    // The copy is a plain Uint8Array, so binary fields decode as plain Uint8Arrays (from a
    // Buffer msgpackr would produce Buffers, which compare unequal to Uint8Arrays).
    return ok(packr.unpack(new Uint8Array(bytes)));
  } catch (e) {
    return err(`malformed msgpack: ${(e as Error).message}`);
  }
}
