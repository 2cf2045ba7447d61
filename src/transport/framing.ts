// Checksummed, length-prefixed frames over a byte stream (TCP has no message boundaries).
//
//   +--------------+--------------+---------------+---------------------------+
//   | length: u32  | crc: u32     | hcrc: u32     | payload: `length` bytes   |
//   +--------------+--------------+---------------+---------------------------+
//   crc  = crc32(payload)            all integers big-endian
//   hcrc = crc32(header bytes 0..7)  (length and crc)
//
// Why a checksum when TCP has one: TCP's 16-bit sum misses real corruption (router and NIC
// memory, DMA bugs) at rates measured in Stone & Partridge, "When the CRC and TCP checksum
// disagree" (SIGCOMM 2000); a flipped bit in an entry would be replicated and applied. crc32
// (node:zlib, the same function FileStorage's WAL uses) detects every error of up to 3 bits
// and every burst of up to 32 bits in frames of this size. The header has a check of its own so a
// corrupted length is caught at once, instead of after waiting for bytes that may never come.
//
// A frame that fails either check is rejected, never delivered, and the decoder stays failed:
// once a header may be wrong, the stream's framing cannot be trusted, so the connection is
// closed (Raft resends whatever it needs). The same pair of pure functions, encodeFrame and
// decodeFrame, lets the simulator seal and check its simulated messages exactly as TCP does.
//
// The decoder is incremental: a frame may arrive split across any number of chunks, and one
// chunk may hold many frames. It keeps the unconsumed chunks in a list and copies bytes only
// when a frame (or its header) straddles chunks, so each byte is copied at most once: O(n) in
// the bytes received, never the O(n^2) of concatenating every chunk onto a buffer. A frame
// wholly inside one chunk is returned as a zero-copy view of that chunk.
//
// A declared length above `maxFrameBytes` is an error too: the peer is broken or hostile.

import { crc32 } from "node:zlib";
import { err, ok, type Result } from "../util/result.js";

export const FRAME_HEADER_BYTES = 12;

/** Largest length the 4-byte length field can express. */
export const MAX_FRAME_LIMIT = 0xffff_ffff;

/** Why a stream of frames was rejected. */
export type FrameError = "oversized" | "checksum";

export type DecodeResult =
  | { ok: true; frames: Buffer[] }
  | { ok: false; reason: FrameError; error: string };

/** A frame's payload, whole or as parts to be concatenated (saves a copy for small headers). */
export type Payload = Uint8Array | readonly Uint8Array[];

export function payloadBytes(p: Payload): number {
  if (p instanceof Uint8Array) return p.byteLength;
  let n = 0;
  for (const part of p) n += part.byteLength;
  return n;
}

/** Frames `payloads` into one buffer (a single write for a batch: one syscall, one copy). */
export function encodeFrames(payloads: readonly Payload[]): Buffer {
  let total = 0;
  for (const p of payloads) total += FRAME_HEADER_BYTES + payloadBytes(p);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const p of payloads) {
    const header = at;
    at += FRAME_HEADER_BYTES;
    const start = at;
    for (const part of p instanceof Uint8Array ? [p] : p) {
      out.set(part, at);
      at += part.byteLength;
    }
    // One crc32 call over the copied payload: for small messages the call costs more than
    // the bytes, so not one per part.
    out.writeUInt32BE(at - start, header);
    out.writeUInt32BE(crc32(out.subarray(start, at)), header + 4);
    out.writeUInt32BE(crc32(out.subarray(header, header + 8)), header + 8);
  }
  return out;
}

/** Frames one payload: the sealing half of the pure pair (decodeFrame checks it). */
export function encodeFrame(payload: Payload): Buffer {
  return encodeFrames([payload]);
}

/**
 * Checks that `bytes` is exactly one intact frame and returns its payload (a view). Rejects a
 * frame with a damaged header or payload, or whose length is not the bytes given. Never throws.
 */
export function decodeFrame(bytes: Uint8Array): Result<Buffer> {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.byteLength < FRAME_HEADER_BYTES) return err("frame shorter than its header");
  const header = checkHeader(b);
  if (!header.ok) return header;
  if (header.value.length !== b.byteLength - FRAME_HEADER_BYTES) {
    const carried = b.byteLength - FRAME_HEADER_BYTES;
    return err(`frame declares ${header.value.length} bytes but carries ${carried}`);
  }
  const payload = b.subarray(FRAME_HEADER_BYTES);
  return crc32(payload) === header.value.crc ? ok(payload) : err("frame checksum mismatch");
}

function checkHeader(h: Buffer): Result<{ length: number; crc: number }> {
  if (crc32(h.subarray(0, 8)) !== h.readUInt32BE(8)) return err("frame header checksum mismatch");
  return ok({ length: h.readUInt32BE(0), crc: h.readUInt32BE(4) });
}

export class FrameDecoder {
  /** Unconsumed chunks are chunks[head..]; chunks[head] is consumed from `offset`. */
  private chunks: Buffer[] = [];
  private head = 0;
  private offset = 0;
  private buffered = 0;
  private failed: { reason: FrameError; error: string } | null = null;
  /** The header of the frame being gathered, once checked. */
  private pending: { length: number; crc: number } | null = null;

  constructor(readonly maxFrameBytes: number) {
    if (
      !Number.isSafeInteger(maxFrameBytes) ||
      maxFrameBytes < 0 ||
      maxFrameBytes > MAX_FRAME_LIMIT
    ) {
      throw new RangeError(`maxFrameBytes must be an integer in [0, ${MAX_FRAME_LIMIT}]`);
    }
  }

  /** Bytes received but not yet returned as frames. */
  get pendingBytes(): number {
    return this.buffered + (this.pending === null ? 0 : FRAME_HEADER_BYTES);
  }

  /**
   * Feeds one chunk; returns every intact frame it completes, in order. After an error the
   * decoder stays failed (the stream has lost its framing) and returns the same error.
   */
  push(chunk: Buffer): DecodeResult {
    if (this.failed !== null) return { ok: false, ...this.failed };
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.byteLength;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.pending === null) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        const h = checkHeader(this.take(FRAME_HEADER_BYTES));
        if (!h.ok) return this.fail("checksum", h.error);
        if (h.value.length > this.maxFrameBytes) {
          const error = `frame of ${h.value.length} bytes exceeds the maximum of ${this.maxFrameBytes}`;
          return this.fail("oversized", error);
        }
        this.pending = h.value;
      }
      if (this.buffered < this.pending.length) break;
      const payload = this.take(this.pending.length);
      if (crc32(payload) !== this.pending.crc)
        return this.fail("checksum", "frame checksum mismatch");
      this.pending = null;
      frames.push(payload);
    }
    return { ok: true, frames };
  }

  private fail(reason: FrameError, error: string): DecodeResult {
    this.failed = { reason, error };
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.buffered = 0;
    this.pending = null;
    return { ok: false, reason, error };
  }

  /** Consumes exactly n buffered bytes (the caller checked they are there). */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.buffered -= n;
    const first = this.chunks[this.head] as Buffer;
    const available = first.byteLength - this.offset;
    if (n <= available) {
      const view = first.subarray(this.offset, this.offset + n);
      this.advance(n, available);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.head] as Buffer;
      const avail = c.byteLength - this.offset;
      const step = Math.min(avail, n - filled);
      c.copy(out, filled, this.offset, this.offset + step);
      filled += step;
      this.advance(step, avail);
    }
    return out;
  }

  private advance(n: number, availableInFirst: number): void {
    if (n === availableInFirst) {
      // Advance a head index rather than shift(): a frame sent one byte per chunk must not cost
      // O(chunks^2). Compact once the consumed prefix dominates.
      this.head++;
      this.offset = 0;
      if (this.head === this.chunks.length) {
        this.chunks = [];
        this.head = 0;
      } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    } else {
      this.offset += n;
    }
  }
}
