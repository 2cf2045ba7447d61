// Length-prefixed frames over a byte stream (TCP has no message boundaries).
//
//   +----------------------+---------------------------+
//   | length: u32 BE       | payload: `length` bytes   |
//   +----------------------+---------------------------+
//
// The decoder is incremental: a frame may arrive split across any number of chunks, and one
// chunk may hold many frames. It keeps the unconsumed chunks in a list and copies bytes only
// when a frame (or its 4-byte header) straddles chunks, so each byte is copied at most once:
// O(n) in the bytes received, never the O(n^2) of concatenating every chunk onto a buffer.
// A frame wholly inside one chunk is returned as a zero-copy view of that chunk.
//
// A declared length above `maxFrameBytes` is an error: the peer is broken or hostile, and the
// only safe reaction is to close the connection (its byte stream can no longer be trusted).

export const FRAME_HEADER_BYTES = 4;

/** Largest length the 4-byte header can express. */
export const MAX_FRAME_LIMIT = 0xffff_ffff;

export type DecodeResult = { ok: true; frames: Buffer[] } | { ok: false; error: string };

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
    out.writeUInt32BE(payloadBytes(p), at);
    at += FRAME_HEADER_BYTES;
    for (const part of p instanceof Uint8Array ? [p] : p) {
      out.set(part, at);
      at += part.byteLength;
    }
  }
  return out;
}

/** Frames one payload. */
export function encodeFrame(payload: Payload): Buffer {
  return encodeFrames([payload]);
}

export class FrameDecoder {
  /** Unconsumed chunks are chunks[head..]; chunks[head] is consumed from `offset`. */
  private chunks: Buffer[] = [];
  private head = 0;
  private offset = 0;
  private buffered = 0;
  private failed: string | null = null;

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
    return this.buffered;
  }

  /**
   * Feeds one chunk; returns every frame it completes, in order. After an error the decoder
   * stays failed (the stream has lost its framing) and returns the same error.
   */
  push(chunk: Buffer): DecodeResult {
    if (this.failed !== null) return { ok: false, error: this.failed };
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.byteLength;
    }
    const frames: Buffer[] = [];
    while (this.buffered >= FRAME_HEADER_BYTES) {
      const length = this.peekLength();
      if (length > this.maxFrameBytes) {
        this.failed = `frame of ${length} bytes exceeds the maximum of ${this.maxFrameBytes}`;
        this.chunks = [];
        this.head = 0;
        this.buffered = 0;
        return { ok: false, error: this.failed };
      }
      if (this.buffered < FRAME_HEADER_BYTES + length) break;
      this.take(FRAME_HEADER_BYTES);
      frames.push(this.take(length));
    }
    return { ok: true, frames };
  }

  private peekLength(): number {
    const first = this.chunks[this.head] as Buffer;
    if (first.byteLength - this.offset >= FRAME_HEADER_BYTES)
      return first.readUInt32BE(this.offset);
    // The header itself straddles chunks (rare): gather its 4 bytes without consuming them.
    let value = 0;
    let need = FRAME_HEADER_BYTES;
    let at = this.offset;
    for (let i = this.head; need > 0; i++, at = 0) {
      const c = this.chunks[i] as Buffer;
      for (; at < c.byteLength && need > 0; at++, need--) value = value * 256 + (c[at] as number);
    }
    return value;
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
