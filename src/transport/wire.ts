// What TcpTransport puts inside each frame (see framing.ts for the frame itself). Every frame
// payload starts with a kind byte:
//
//   0x01 HELLO   msgpack {v: 1, id: NodeId, hello: {string: string}}   first frame, exactly once
//   0x02 MSG     msgpack Message                                       (codec.ts)
//   0x03 CHUNK   total: u48 BE | offset: u48 BE | bytes                part of a "snap" Message
//
// A connection is one-way: the dialer sends HELLO and then MSG/CHUNK frames; the acceptor only
// reads. A "snap" message may exceed the frame limit, so it travels as the msgpack encoding of
// the whole Message cut into CHUNK frames, sent back to back on one connection (offset 0 starts
// one; offsets are contiguous; the last chunk ends at `total`).

import type { NodeId } from "../raft/types.js";
import {
  decodeValue,
  encodeValue,
  fail,
  nodeId,
  plainObject,
  type Result,
  validated,
} from "./codec.js";
import type { Payload } from "./framing.js";

export const KIND_HELLO = 0x01;
export const KIND_MSG = 0x02;
export const KIND_CHUNK = 0x03;

export const WIRE_VERSION = 1;
/** Bounds on the hello map: it is metadata (an HTTP address), not a data channel. */
export const MAX_HELLO_KEYS = 32;
export const MAX_HELLO_STRING = 1024;

const KIND_MSG_BYTE = Uint8Array.of(KIND_MSG);
/** total (6 bytes) + offset (6 bytes), after the kind byte. */
const CHUNK_HEADER_BYTES = 12;
const HELLO_FIELDS = new Set(["v", "id", "hello"]);

export interface Handshake {
  id: NodeId;
  hello: Record<string, string>;
}

export function helloPayload(h: Handshake): Payload {
  return [Uint8Array.of(KIND_HELLO), encodeValue({ v: WIRE_VERSION, id: h.id, hello: h.hello })];
}

/** A MSG payload around an encoded message (codec.ts encodeMessage). */
export function msgPayload(encoded: Uint8Array): Payload {
  return [KIND_MSG_BYTE, encoded];
}

/** Cuts an encoded "snap" message into CHUNK payloads of at most chunkBytes data bytes each. */
export function chunkPayloads(encoded: Uint8Array, chunkBytes: number): Payload[] {
  const out: Payload[] = [];
  for (let offset = 0; offset < encoded.byteLength; offset += chunkBytes) {
    const header = Buffer.allocUnsafe(1 + CHUNK_HEADER_BYTES);
    header[0] = KIND_CHUNK;
    header.writeUIntBE(encoded.byteLength, 1, 6);
    header.writeUIntBE(offset, 7, 6);
    out.push([header, encoded.subarray(offset, offset + chunkBytes)]);
  }
  return out;
}

export function parseHello(body: Uint8Array): Result<Handshake> {
  const r = decodeValue(body);
  if (!r.ok) return r;
  return validated("invalid handshake", () => {
    const o = plainObject(r.value, "hello", HELLO_FIELDS);
    if (o.v !== WIRE_VERSION) fail("hello.v", `unsupported wire version (want ${WIRE_VERSION})`);
    const id = nodeId(o.id, "hello.id");
    const meta = plainObject(o.hello, "hello.hello");
    const entries = Object.entries(meta);
    if (entries.length > MAX_HELLO_KEYS) fail("hello.hello", `more than ${MAX_HELLO_KEYS} keys`);
    const hello: Record<string, string> = {};
    for (const [k, v] of entries) {
      if (typeof v !== "string") fail(`hello.hello.${k}`, "expected a string");
      if (k.length > MAX_HELLO_STRING || v.length > MAX_HELLO_STRING) {
        fail(`hello.hello.${k}`, `longer than ${MAX_HELLO_STRING} characters`);
      }
      hello[k] = v;
    }
    return { id, hello };
  });
}

export interface Chunk {
  total: number;
  offset: number;
  data: Buffer;
}

/** Parses a CHUNK body (the payload after its kind byte). */
export function parseChunk(body: Buffer): Result<Chunk> {
  return validated("invalid snapshot chunk", () => {
    if (body.byteLength <= CHUNK_HEADER_BYTES) fail("chunk", "no data after the header");
    const total = body.readUIntBE(0, 6);
    const offset = body.readUIntBE(6, 6);
    const data = body.subarray(CHUNK_HEADER_BYTES);
    if (offset + data.byteLength > total) fail("chunk", "extends past the declared total");
    return { total, offset, data };
  });
}

/**
 * Reassembles the CHUNK frames of one connection. At most one snapshot is in progress per
 * connection and it is bounded by maxBytes; dropping the assembler (connection closed) drops
 * the partial snapshot with it.
 */
export class ChunkAssembler {
  private parts: Buffer[] = [];
  private received = 0;
  private total = 0;

  constructor(readonly maxBytes: number) {}

  /** Adds a chunk; returns the whole encoded message once complete, null while partial. */
  push(c: Chunk): Result<Buffer | null> {
    if (this.received === 0) {
      if (c.offset !== 0) return { ok: false, error: "snapshot chunk without a start" };
      if (c.total > this.maxBytes) {
        return {
          ok: false,
          error: `snapshot of ${c.total} bytes exceeds the maximum of ${this.maxBytes}`,
        };
      }
      this.total = c.total;
    } else if (c.offset !== this.received || c.total !== this.total) {
      return { ok: false, error: "snapshot chunk out of sequence" };
    }
    this.parts.push(c.data);
    this.received += c.data.byteLength;
    if (this.received < this.total) return { ok: true, value: null };
    const whole = Buffer.concat(this.parts, this.total);
    this.parts = [];
    this.received = 0;
    return { ok: true, value: whole };
  }
}
