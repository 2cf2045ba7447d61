// What TcpTransport sends on a connection, wire protocol version 2 (version 1 had no preamble,
// no checksums and one-way connections).
//
//   dialer                                              acceptor
//     preamble "raftwork" | version u16 BE  ------->
//                                           <-------   preamble "raftwork" | version u16 BE
//     HELLO                                 ------->   checks version, cluster id, peer id
//                                           <-------   WELCOME, or CLOSE (refused) and hang up
//     MSG / CHUNK / PING ...                ------->
//                                           <-------   PING ...
//     CLOSE (only when closing on purpose)  <------>
//
// After the preamble, everything is frames (framing.ts: length, checksums). Every frame payload
// starts with a kind byte:
//
//   0x01 HELLO    dialer, first frame      msgpack Handshake {id, cluster?, http?, grpc?}
//   0x02 MSG      dialer                   msgpack Message (codec.ts)
//   0x03 CHUNK    dialer                   total: u48 BE | offset: u48 BE | bytes
//   0x04 WELCOME  acceptor, first frame    msgpack Handshake of the acceptor
//   0x05 PING     either side, no body     keepalive: proves the connection carries bytes
//   0x06 CLOSE    either side, last frame  msgpack {code, reason}: "I am closing this on purpose"
//
// Raft messages flow only from dialer to acceptor, so each pair of nodes uses two connections,
// one per direction; the acceptor's direction carries only WELCOME, PING and CLOSE. A "snap"
// message may exceed the frame limit, so it travels as the msgpack encoding of the whole Message
// cut into CHUNK frames, sent back to back on one connection (offset 0 starts one; offsets are
// contiguous; the last chunk ends at `total`). PINGs may come between chunks.
//
// The preamble comes before any frame so that a peer of another version (whose framing may
// differ) is recognised and named in the logs, not mistaken for a corrupt stream.

import type { Message, NodeId } from "../raft/types.js";
import { fail, nodeId, plainObject, validated } from "../raft/validate.js";
import { parseHostPort } from "../util/host-port.js";
import { err, ok, type Result } from "../util/result.js";
import { isClusterId } from "./cluster-id.js";
import { decodeMessage, decodeValue, encodeMessage, encodeValue } from "./codec.js";
import { decodeFrame, encodeFrame, type Payload } from "./framing.js";

export const WIRE_VERSION = 2;
const MAGIC = Buffer.from("raftwork", "latin1");
export const PREAMBLE_BYTES = MAGIC.byteLength + 2;

export const KIND_HELLO = 0x01;
export const KIND_MSG = 0x02;
export const KIND_CHUNK = 0x03;
export const KIND_WELCOME = 0x04;
export const KIND_PING = 0x05;
export const KIND_CLOSE = 0x06;

/** Bounds on handshake strings: they are metadata (addresses), not a data channel. */
export const MAX_ADDRESS_CHARS = 256;
export const MAX_CLOSE_REASON_CHARS = 512;

/** What a node advertises about itself in its handshake (what its peers dial back and show). */
export interface Advertised {
  /** HOST:PORT of its HTTP API. */
  http?: string;
  /** HOST:PORT of its etcd v3 gRPC API. */
  grpc?: string;
  /**
   * An opaque secret the node's HTTP API accepts as proof that a caller is a member (the KV
   * layer's forwarding, src/kv/member-link.ts). It travels only in handshakes, which peer TLS
   * keeps among members.
   */
  secret?: string;
}

export interface Handshake extends Advertised {
  id: NodeId;
  /** Absent while the node does not know its cluster yet (see TcpTransportOptions.clusterId). */
  cluster?: string;
}

/** The 10 bytes each side sends first. */
export function preamble(version = WIRE_VERSION): Buffer {
  const b = Buffer.alloc(PREAMBLE_BYTES);
  MAGIC.copy(b);
  b.writeUInt16BE(version, MAGIC.byteLength);
  return b;
}

/** The version a peer's preamble announces, or why these bytes are not a raftwork preamble. */
/** The start of a TLS record (handshake 0x16 or alert 0x15, version 3.x): a TLS peer. */
export function looksLikeTls(b: Buffer): boolean {
  return b.byteLength >= 2 && (b[0] === 0x16 || b[0] === 0x15) && b[1] === 0x03;
}

export function parsePreamble(b: Buffer): Result<number> {
  if (b.byteLength >= PREAMBLE_BYTES && b.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
    return ok(b.readUInt16BE(MAGIC.byteLength));
  }
  if (looksLikeTls(b)) {
    return err("the peer speaks TLS and this node does not (is TLS configured on every member?)");
  }
  // Version 1 opened with a hello frame: a small u32 length, then kind 0x01.
  if (b.byteLength >= 5 && b.readUInt32BE(0) < 4096 && b[4] === KIND_HELLO) {
    return err("the peer speaks raftwork wire version 1 (an older raftwork): upgrade it");
  }
  return err("the peer is not a raftwork node (no raftwork preamble)");
}

const HANDSHAKE_FIELDS = new Set(["id", "cluster", "http", "grpc", "secret"]);
const SECRET = /^[A-Za-z0-9_-]{16,128}$/;
const CLOSE_FIELDS = new Set(["code", "reason"]);
const CLOSE_CODE = /^[a-z][a-z-]{0,63}$/;

function readHandshake(v: unknown): Handshake {
  const o = plainObject(v, "record", HANDSHAKE_FIELDS);
  const h: Handshake = { id: nodeId(o.id, "record.id") };
  if (o.cluster !== undefined) {
    if (!isClusterId(o.cluster)) fail("record.cluster", "expected a cluster id");
    h.cluster = o.cluster;
  }
  for (const key of ["http", "grpc"] as const) {
    const a = o[key];
    if (a === undefined) continue;
    if (typeof a !== "string" || a.length > MAX_ADDRESS_CHARS || !parseHostPort(a).ok)
      fail(`record.${key}`, "expected HOST:PORT");
    h[key] = a;
  }
  if (o.secret !== undefined) {
    if (typeof o.secret !== "string" || !SECRET.test(o.secret))
      fail("record.secret", "expected 16..128 base64url characters");
    h.secret = o.secret;
  }
  return h;
}

function readClose(v: unknown): CloseNotice {
  const o = plainObject(v, "record", CLOSE_FIELDS);
  if (typeof o.code !== "string" || !CLOSE_CODE.test(o.code))
    fail("record.code", "expected a lowercase code");
  if (typeof o.reason !== "string" || o.reason.length > MAX_CLOSE_REASON_CHARS)
    fail("record.reason", `expected a string of at most ${MAX_CLOSE_REASON_CHARS} characters`);
  return { code: o.code, reason: o.reason };
}

/** Why a connection was closed on purpose (a CLOSE frame). */
export interface CloseNotice {
  code: string;
  reason: string;
}

/** Checks a handshake this node is about to send (a configuration bug throws at start). */
export function checkOwnHandshake(h: Handshake): void {
  const r = validated("invalid handshake settings", () => readHandshake({ ...h }));
  if (!r.ok) throw new RangeError(r.error);
}

/** A HELLO (kind KIND_HELLO) or WELCOME (KIND_WELCOME) payload. */
export function handshakePayload(kind: number, h: Handshake): Payload {
  const record: Record<string, unknown> = { id: h.id };
  for (const key of ["cluster", "http", "grpc", "secret"] as const) {
    if (h[key] !== undefined) record[key] = h[key];
  }
  return [Uint8Array.of(kind), encodeValue(record)];
}

export function parseHandshake(body: Uint8Array): Result<Handshake> {
  return parseRecord(body, readHandshake, "invalid handshake");
}

export function closePayload(notice: CloseNotice): Payload {
  return [Uint8Array.of(KIND_CLOSE), encodeValue(notice)];
}

export function parseClose(body: Uint8Array): Result<CloseNotice> {
  return parseRecord(body, readClose, "invalid close notice");
}

export const PING_PAYLOAD: Payload = Uint8Array.of(KIND_PING);

function parseRecord<T>(body: Uint8Array, read: (v: unknown) => T, what: string): Result<T> {
  const r = decodeValue(body);
  if (!r.ok) return err(`${what}: ${r.error}`);
  return validated(what, () => read(r.value));
}

const KIND_MSG_BYTE = Uint8Array.of(KIND_MSG);

/** A MSG payload around an encoded message (codec.ts encodeMessage). */
export function msgPayload(encoded: Uint8Array): Payload {
  return [KIND_MSG_BYTE, encoded];
}

/**
 * A message sealed exactly as TcpTransport frames it (kind byte, checksums). With
 * decodeMessageFrame, the pure pair the simulator uses for its `corrupt` fault: any single bit
 * flip, and any burst of up to 32, makes decodeMessageFrame reject the frame.
 */
export function encodeMessageFrame(m: Message): Buffer {
  return encodeFrame(msgPayload(encodeMessage(m)));
}

/** Checks and decodes one sealed message (encodeMessageFrame); never throws. */
export function decodeMessageFrame(bytes: Uint8Array): Result<Message> {
  const frame = decodeFrame(bytes);
  if (!frame.ok) return frame;
  if (frame.value[0] !== KIND_MSG) return err("not a message frame");
  return decodeMessage(frame.value.subarray(1));
}

/** total (6 bytes) + offset (6 bytes), after the kind byte. */
const CHUNK_HEADER_BYTES = 12;
/** Kind byte + chunk header. */
export const CHUNK_OVERHEAD = 1 + CHUNK_HEADER_BYTES;

/** Cuts an encoded "snap" message into CHUNK payloads of at most chunkBytes data bytes each. */
export function chunkPayloads(encoded: Uint8Array, chunkBytes: number): Payload[] {
  const out: Payload[] = [];
  for (let offset = 0; offset < encoded.byteLength; offset += chunkBytes) {
    const header = Buffer.allocUnsafe(CHUNK_OVERHEAD);
    header[0] = KIND_CHUNK;
    header.writeUIntBE(encoded.byteLength, 1, 6);
    header.writeUIntBE(offset, 7, 6);
    out.push([header, encoded.subarray(offset, offset + chunkBytes)]);
  }
  return out;
}

export interface Chunk {
  total: number;
  offset: number;
  data: Buffer;
}

/** Parses a CHUNK body (the payload after its kind byte). */
export function parseChunk(body: Buffer): Result<Chunk> {
  if (body.byteLength <= CHUNK_HEADER_BYTES) {
    return err("invalid snapshot chunk: no data after the header");
  }
  const total = body.readUIntBE(0, 6);
  const offset = body.readUIntBE(6, 6);
  const data = body.subarray(CHUNK_HEADER_BYTES);
  if (offset + data.byteLength > total) {
    return err("invalid snapshot chunk: extends past the declared total");
  }
  return ok({ total, offset, data });
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
      if (c.offset !== 0) return err("snapshot chunk without a start");
      if (c.total > this.maxBytes) {
        return err(`snapshot of ${c.total} bytes exceeds the maximum of ${this.maxBytes}`);
      }
      this.total = c.total;
    } else if (c.offset !== this.received || c.total !== this.total) {
      return err("snapshot chunk out of sequence");
    }
    this.parts.push(c.data);
    this.received += c.data.byteLength;
    if (this.received < this.total) return ok(null);
    const whole = Buffer.concat(this.parts, this.total);
    this.parts = [];
    this.received = 0;
    return ok(whole);
  }
}

/** The CLOSE code a node sends a peer it no longer has (setPeers): this node was removed. */
export const REMOVED = "removed";
