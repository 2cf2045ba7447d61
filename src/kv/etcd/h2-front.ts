// The HTTP/2 front door of the etcd gRPC port. etcdctl 3.4 (grpc-go) sends the endpoint it was
// given, scheme included, as the :authority of per-endpoint calls (`--endpoints
// http://127.0.0.1:2379 endpoint status`, hashkv, defrag, move-leader, `--cluster`). nghttp2,
// under Node's HTTP/2 server, checks :authority against RFC 3986's authority characters and
// resets such a stream with PROTOCOL_ERROR before any handler runs. etcd's own tests dial
// http://localhost:PORT everywhere, so raftwork must accept it.
//
// Every connection first meets this front door, which answers the client's connection preface
// with an empty SETTINGS frame (grpc-go sends no request before the server's preface) and reads
// up to the end of the first request's header block:
//
//   client ──preface, SETTINGS, [WINDOW_UPDATE], SETTINGS ACK, HEADERS──▶ front door
//   front door ──SETTINGS (empty)──▶ client
//
// The client's ACK of that SETTINGS frame is removed (the HTTP/2 server never sent it and
// would treat the ACK as a protocol error). If the first request's :authority is acceptable,
// the bytes read so far go back into the socket and the socket itself goes to the HTTP/2
// server: from then on nghttp2 reads the socket natively, at full speed (every grpc-js client,
// the etcd3 npm client, etcdctl without a scheme, etcd's benchmark tool). Otherwise the
// connection stays behind a rewriter that passes every frame through unchanged except header
// blocks, where a literal :authority with a scheme ("http://h:p/x") becomes "h:p".
//
// Why shortening is safe with HPACK's dynamic table (RFC 7541 §2.3, §4.4): the rewritten
// literal still enters the server's table at the same position as it enters the client's, so
// the indexes the client uses later mean the same entries; the server's table only holds fewer
// octets, so it evicts no entry the client still has (it may keep old ones the client
// dropped, which the client never references).

import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { RaftworkError } from "../../util/errors.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const FRAME_HEADER = 9;
const TYPE_HEADERS = 1;
const TYPE_SETTINGS = 4;
const TYPE_CONTINUATION = 9;
const FLAG_ACK = 0x1;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** The smallest SETTINGS_MAX_FRAME_SIZE a peer may announce (RFC 9113 §6.5.2). */
const MAX_FRAME = 16_384;
/** Bytes the front door holds before deciding; a request's headers are far smaller. */
const MAX_PEEK = 64 * 1024;
/** A header block above this is refused (nghttp2's own default limit is 64 KiB too). */
const MAX_HEADER_BLOCK = 64 * 1024;

/** How long the front door waits for a first request before handing the connection over. */
const DECIDE_WITHIN_MS = 1000;

/** An empty SETTINGS frame: the server's connection preface. */
const SERVER_PREFACE = Buffer.from([0, 0, 0, TYPE_SETTINGS, 0, 0, 0, 0, 0]);

export class H2ProtocolError extends RaftworkError {
  readonly code = "h2-protocol";
}

// ---- HPACK (RFC 7541): just enough to find and replace one field -------------------------

/**
 * Code lengths of RFC 7541 Appendix B's Huffman code for symbols 0..255 (EOS, 256, is 30 bits
 * of ones). The code is canonical: codes of equal length are consecutive in symbol order, so
 * the lengths define it.
 */
const HUFFMAN_LENGTHS =
  "13 23 28 28 28 28 28 28 28 24 30 28 28 30 28 28 28 28 28 28 28 28 30 28 28 28 28 28 28 28 28 28 " +
  "6 10 10 12 13 6 8 11 10 10 8 11 8 6 6 6 5 5 5 6 6 6 6 6 6 6 7 8 15 6 12 10 " +
  "13 6 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 8 7 8 13 19 13 14 6 " +
  "15 5 6 5 6 5 6 6 6 5 7 7 6 6 6 5 6 7 6 5 5 6 7 7 7 7 7 15 11 14 13 28 " +
  "20 22 20 20 22 22 22 23 22 23 23 23 23 23 24 23 24 24 22 23 24 23 23 23 23 21 22 23 22 23 23 24 " +
  "22 21 20 22 22 23 23 21 23 22 22 24 21 22 23 23 21 21 22 21 23 22 23 23 20 22 22 22 23 22 22 23 " +
  "26 26 20 19 22 23 22 25 26 26 26 27 27 26 24 25 19 21 26 27 27 26 27 24 21 21 26 26 28 27 27 27 " +
  "20 24 20 21 22 21 21 23 22 22 25 25 24 24 26 23 26 27 26 26 27 27 27 27 27 28 27 27 27 27 27 26";

/** Decoding trie: node k has children at trie[2k] (bit 0) and trie[2k+1] (bit 1); leaves are -(sym+1). */
const TRIE = buildTrie();

function buildTrie(): Int32Array {
  const lengths = HUFFMAN_LENGTHS.split(" ").map(Number);
  const order = lengths
    .map((len, sym) => ({ len, sym }))
    .sort((a, b) => a.len - b.len || a.sym - b.sym);
  const trie = new Int32Array(2 * 512).fill(0);
  let nodes = 1;
  let code = 0;
  let prevLen = order[0]?.len ?? 0;
  for (let i = 0; i < order.length; i++) {
    const { len, sym } = order[i] as { len: number; sym: number };
    if (i > 0) code = (code + 1) * 2 ** (len - prevLen);
    prevLen = len;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const slot = 2 * node + (Math.floor(code / 2 ** b) % 2);
      if (b === 0) trie[slot] = -(sym + 1);
      else {
        if (trie[slot] === 0) trie[slot] = nodes++;
        node = trie[slot] as number;
      }
    }
  }
  return trie;
}

function huffmanDecode(src: Buffer): Buffer {
  const out: number[] = [];
  let node = 0;
  let depth = 0;
  for (const byte of src) {
    for (let b = 7; b >= 0; b--) {
      const next = TRIE[2 * node + ((byte >> b) & 1)] as number;
      if (next < 0) {
        out.push(-next - 1);
        node = 0;
        depth = 0;
      } else if (next === 0) {
        throw new H2ProtocolError("hpack: invalid Huffman code");
      } else {
        node = next;
        depth++;
      }
    }
  }
  // §5.2: padding is at most 7 bits, the most significant bits of EOS (all ones).
  if (depth > 7) throw new H2ProtocolError("hpack: Huffman padding longer than 7 bits");
  return Buffer.from(out);
}

/** Reads an HPACK integer with an N-bit prefix (§5.1) at `pos`; returns [value, next pos]. */
function readInt(b: Buffer, pos: number, prefixBits: number): [number, number] {
  const max = (1 << prefixBits) - 1;
  if (pos >= b.length) throw new H2ProtocolError("hpack: truncated integer");
  let v = (b[pos] as number) & max;
  pos++;
  if (v < max) return [v, pos];
  let shift = 0;
  for (;;) {
    if (pos >= b.length) throw new H2ProtocolError("hpack: truncated integer");
    const byte = b[pos++] as number;
    v += (byte & 0x7f) * 2 ** shift;
    if (v > 0xffffff) throw new H2ProtocolError("hpack: integer too large");
    if ((byte & 0x80) === 0) return [v, pos];
    shift += 7;
  }
}

/** A string literal (§5.2) at `pos`: its octets (Huffman-decoded) and the next position. */
function readString(b: Buffer, pos: number, decode: boolean): [Buffer | null, number] {
  if (pos >= b.length) throw new H2ProtocolError("hpack: truncated string");
  const huffman = ((b[pos] as number) & 0x80) !== 0;
  const [len, start] = readInt(b, pos, 7);
  const end = start + len;
  if (end > b.length) throw new H2ProtocolError("hpack: truncated string");
  if (!decode) return [null, end];
  const raw = b.subarray(start, end);
  return [huffman ? huffmanDecode(raw) : Buffer.from(raw), end];
}

function encodeInt(v: number, prefixBits: number, firstByteFlags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (v < max) return Buffer.from([firstByteFlags | v]);
  const out = [firstByteFlags | max];
  v -= max;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Static table index of :authority (RFC 7541 Appendix A). */
const AUTHORITY_INDEX = 1;

interface AuthorityField {
  /** Offsets of the value's string literal in the block. */
  valueStart: number;
  valueEnd: number;
  value: string;
}

/**
 * Finds literal :authority fields in a header block (named by the static table or by a literal
 * name). A field whose name comes from the dynamic table is not recognised; HPACK encoders
 * name :authority by the static entry, which always matches first.
 */
function authorityFields(block: Buffer): AuthorityField[] {
  const found: AuthorityField[] = [];
  let pos = 0;
  while (pos < block.length) {
    const first = block[pos] as number;
    if (first & 0x80) {
      [, pos] = readInt(block, pos, 7); // indexed field
      continue;
    }
    if ((first & 0xe0) === 0x20) {
      [, pos] = readInt(block, pos, 5); // dynamic table size update
      continue;
    }
    const prefix = (first & 0xc0) === 0x40 ? 6 : 4; // incremental indexing / without / never
    let nameIndex: number;
    [nameIndex, pos] = readInt(block, pos, prefix);
    let isAuthority = nameIndex === AUTHORITY_INDEX;
    if (nameIndex === 0) {
      let name: Buffer | null;
      [name, pos] = readString(block, pos, true);
      isAuthority = name?.toString("latin1") === ":authority";
    }
    const valueStart = pos;
    let value: Buffer | null;
    [value, pos] = readString(block, pos, isAuthority);
    if (isAuthority && value)
      found.push({ valueStart, valueEnd: pos, value: value.toString("latin1") });
  }
  return found;
}

/** "http://host:port/x" -> "host:port"; anything without a scheme is returned unchanged. */
export function repairAuthority(value: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(value);
  return m ? (m[1] as string) : value;
}

/** The block with every repaired :authority value written as a plain (non-Huffman) literal. */
function rewriteBlock(block: Buffer): Buffer {
  const fields = authorityFields(block).filter((f) => repairAuthority(f.value) !== f.value);
  if (fields.length === 0) return block;
  const parts: Buffer[] = [];
  let at = 0;
  for (const f of fields) {
    const fixed = Buffer.from(repairAuthority(f.value), "latin1");
    parts.push(block.subarray(at, f.valueStart), encodeInt(fixed.length, 7, 0), fixed);
    at = f.valueEnd;
  }
  parts.push(block.subarray(at));
  return Buffer.concat(parts);
}

// ---- frames ------------------------------------------------------------------------------

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** The header block fragment of a HEADERS frame's payload, and its priority fields if any. */
function headersFragment(
  flags: number,
  payload: Buffer,
): { priority: Buffer | null; fragment: Buffer } {
  let start = 0;
  let end = payload.length;
  if (flags & FLAG_PADDED) {
    const pad = payload[0];
    if (pad === undefined) throw new H2ProtocolError("HEADERS: missing pad length");
    start = 1;
    end -= pad;
  }
  let priority: Buffer | null = null;
  if (flags & FLAG_PRIORITY) {
    priority = payload.subarray(start, start + 5);
    start += 5;
  }
  if (end < start) throw new H2ProtocolError("HEADERS: padding exceeds the payload");
  return { priority, fragment: payload.subarray(start, end) };
}

/**
 * The client-to-server byte stream, frame by frame: header blocks (HEADERS + CONTINUATION) are
 * reassembled, repaired and re-emitted as one HEADERS frame (plus CONTINUATIONs if it outgrew a
 * frame), unpadded; every other frame passes through byte for byte. Throws H2ProtocolError on
 * input no HTTP/2 peer may send (the connection is then dropped).
 */
export class ClientStreamRewriter {
  private buf: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private block: {
    stream: number;
    flags: number;
    priority: Buffer | null;
    parts: Buffer[];
    size: number;
  } | null = null;
  /** Drops the client's first SETTINGS ACK (it acknowledges the front door's SETTINGS). */
  private dropAck: boolean;
  /** Set once the first complete header block was seen: its :authority values. */
  firstAuthority: string[] | null = null;

  /** Stop parsing once deciding is over, leaving the rest in pending() (the front door). */
  private readonly stopWhenDecided: boolean;

  constructor(opts: { dropFirstSettingsAck: boolean; stopWhenDecided: boolean }) {
    this.dropAck = opts.dropFirstSettingsAck;
    this.stopWhenDecided = opts.stopWhenDecided;
  }

  /** True while the first header block is incomplete or the front door's ACK is still due. */
  get deciding(): boolean {
    return this.firstAuthority === null || this.dropAck;
  }

  push(chunk: Buffer, rewrite: boolean): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    if (!this.prefaceSeen) {
      if (this.buf.length < PREFACE.length) {
        if (!PREFACE.subarray(0, this.buf.length).equals(this.buf))
          throw new H2ProtocolError("not an HTTP/2 connection preface");
        return out;
      }
      if (!this.buf.subarray(0, PREFACE.length).equals(PREFACE))
        throw new H2ProtocolError("not an HTTP/2 connection preface");
      out.push(this.buf.subarray(0, PREFACE.length));
      this.buf = this.buf.subarray(PREFACE.length);
      this.prefaceSeen = true;
    }
    while (this.buf.length >= FRAME_HEADER && !(this.stopWhenDecided && !this.deciding)) {
      const len = this.buf.readUIntBE(0, 3);
      if (len > MAX_HEADER_BLOCK + 256) throw new H2ProtocolError(`frame of ${len} bytes`);
      if (this.buf.length < FRAME_HEADER + len) break;
      const raw = this.buf.subarray(0, FRAME_HEADER + len);
      this.buf = this.buf.subarray(FRAME_HEADER + len);
      this.onFrame(raw, rewrite, out);
    }
    return out;
  }

  private onFrame(raw: Buffer, rewrite: boolean, out: Buffer[]): void {
    const type = raw[3] as number;
    const flags = raw[4] as number;
    const stream = raw.readUInt32BE(5) & 0x7fffffff;
    const payload = raw.subarray(FRAME_HEADER);
    if (this.block !== null && type !== TYPE_CONTINUATION)
      throw new H2ProtocolError("header block interrupted by another frame");
    if (type === TYPE_SETTINGS && flags & FLAG_ACK && this.dropAck) {
      this.dropAck = false;
      return;
    }
    if (type === TYPE_HEADERS) {
      const { priority, fragment } = headersFragment(flags, payload);
      this.block = { stream, flags, priority, parts: [fragment], size: fragment.length };
    } else if (type === TYPE_CONTINUATION) {
      if (this.block === null || this.block.stream !== stream)
        throw new H2ProtocolError("CONTINUATION without its HEADERS");
      this.block.parts.push(payload);
      this.block.size += payload.length;
    } else {
      out.push(raw);
      return;
    }
    if (this.block.size > MAX_HEADER_BLOCK) throw new H2ProtocolError("header block too large");
    if (!(flags & FLAG_END_HEADERS)) return;
    const b = this.block;
    this.block = null;
    const whole = Buffer.concat(b.parts);
    if (this.firstAuthority === null)
      this.firstAuthority = authorityFields(whole).map((f) => f.value);
    const fixed = rewrite ? rewriteBlock(whole) : whole;
    out.push(...headerFrames(b.stream, b.flags & FLAG_END_STREAM, b.priority, fixed));
  }

  /** Bytes received but not yet complete frames (handed over with the socket). */
  pending(): Buffer {
    return this.buf;
  }
}

function headerFrames(
  stream: number,
  endStream: number,
  priority: Buffer | null,
  block: Buffer,
): Buffer[] {
  const frames: Buffer[] = [];
  const firstRoom = MAX_FRAME - (priority ? 5 : 0);
  const first = block.subarray(0, firstRoom);
  let rest = block.subarray(first.length);
  const flags =
    endStream | (priority ? FLAG_PRIORITY : 0) | (rest.length === 0 ? FLAG_END_HEADERS : 0);
  frames.push(
    frame(TYPE_HEADERS, flags, stream, priority ? Buffer.concat([priority, first]) : first),
  );
  while (rest.length > 0) {
    const part = rest.subarray(0, MAX_FRAME);
    rest = rest.subarray(part.length);
    frames.push(frame(TYPE_CONTINUATION, rest.length === 0 ? FLAG_END_HEADERS : 0, stream, part));
  }
  return frames;
}

/** The parts of a :authority value nghttp2 accepts (RFC 3986 authority characters). */
export function acceptableAuthority(value: string): boolean {
  return /^[A-Za-z0-9\-._~!$&'()*+,;=:%@[\]]*$/.test(value);
}

export interface FrontDoorEvents {
  /** The connection was not HTTP/2 or broke the protocol before it was handed over. */
  onRefused?(socket: Socket, reason: string): void;
}

/**
 * Handles one accepted socket: reads up to the end of its first request's headers, then hands
 * the socket (fast path) or a rewriting stream (slow path) to `inject` (grpc-js's
 * Server.createConnectionInjector().injectConnection).
 */
export function acceptH2(
  socket: Socket,
  inject: (s: Duplex) => void,
  events: FrontDoorEvents = {},
): void {
  socket.setNoDelay(true);
  const rw = new ClientStreamRewriter({ dropFirstSettingsAck: true, stopWhenDecided: true });
  const held: Buffer[] = [];
  let heldBytes = 0;
  socket.write(SERVER_PREFACE);
  const refuse = (reason: string) => {
    clearTimeout(idle);
    socket.off("data", onData);
    events.onRefused?.(socket, reason);
    socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    let out: Buffer[];
    try {
      out = rw.push(chunk, false);
    } catch (e) {
      refuse((e as Error).message);
      return;
    }
    for (const b of out) {
      held.push(b);
      heldBytes += b.length;
    }
    if (rw.deciding) {
      if (heldBytes + rw.pending().length > MAX_PEEK) refuse("no request headers within 64 KiB");
      return;
    }
    handOver((rw.firstAuthority ?? []).every(acceptableAuthority));
  };
  // A client may open a connection and send its first request only later (grpc-go connects
  // eagerly): after a while without one, hand the socket over as it is (the fast path serves
  // every client that sends an acceptable :authority).
  const idle = setTimeout(() => {
    if (!rw.deciding || rw.firstAuthority !== null) return;
    handOver(true);
  }, DECIDE_WITHIN_MS);
  idle.unref();
  const handOver = (fast: boolean) => {
    clearTimeout(idle);
    socket.off("data", onData);
    socket.pause();
    if (fast) {
      socket.unshift(Buffer.concat([...held, rw.pending()]));
      inject(socket);
    } else {
      inject(rewritingStream(socket, rw, held));
    }
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}

/** A Duplex for the HTTP/2 server: reads the rewritten client stream, writes to the socket. */
function rewritingStream(socket: Socket, rw: ClientStreamRewriter, held: Buffer[]): Duplex {
  // `held` went through the rewriter unmodified (it was still deciding): repair it now.
  const replay = new ClientStreamRewriter({ dropFirstSettingsAck: false, stopWhenDecided: false });
  const first = replay.push(Buffer.concat([...held, rw.pending()]), true);
  const inner = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (socket.write(chunk)) cb();
      else socket.once("drain", () => cb());
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  for (const b of first) inner.push(b);
  socket.on("data", (chunk: Buffer) => {
    let out: Buffer[];
    try {
      out = replay.push(chunk, true);
    } catch (e) {
      inner.destroy(e as Error);
      return;
    }
    let more = true;
    for (const b of out) more = inner.push(b) && more;
    if (!more) socket.pause();
  });
  socket.on("end", () => inner.push(null));
  socket.on("close", () => inner.destroy());
  socket.resume();
  return inner;
}
