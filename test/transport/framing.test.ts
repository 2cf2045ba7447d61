import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeFrame,
  encodeFrame,
  encodeFrames,
  FRAME_HEADER_BYTES,
  FrameDecoder,
} from "../../src/transport/framing.js";

/** Splits `bytes` at the given cut points (sorted, deduplicated, clamped). */
function cut(bytes: Buffer, points: number[]): Buffer[] {
  const cuts = [...new Set(points.map((p) => p % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.byteLength]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const c of chunks) {
    const r = decoder.push(c);
    assert.ok(r.ok, r.ok ? "" : r.error);
    frames.push(...r.frames);
  }
  return frames;
}

describe("framing", () => {
  it("round-trips any payloads however the stream is chunked", () => {
    const seed = Date.now() % 1_000_000;
    console.log(`framing property seed=${seed}`);
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, points) => {
          const stream = encodeFrames(payloads);
          const frames = decodeAll(new FrameDecoder(1024), cut(stream, points));
          assert.deepEqual(
            frames.map((f) => [...f]),
            payloads.map((p) => [...p]),
          );
        },
      ),
      { seed, numRuns: 300 },
    );
  });

  it("decodes a frame delivered one byte per chunk", () => {
    const payload = Buffer.from("hello, frames");
    const stream = Buffer.concat([encodeFrame(payload), encodeFrame(Buffer.alloc(0))]);
    const decoder = new FrameDecoder(64);
    const frames = decodeAll(
      decoder,
      [...stream].map((b) => Buffer.from([b])),
    );
    assert.deepEqual(frames, [payload, Buffer.alloc(0)]);
    assert.equal(decoder.pendingBytes, 0);
  });

  it("keeps a partial frame until the rest arrives", () => {
    const stream = encodeFrame(Buffer.from("abcdef"));
    const decoder = new FrameDecoder(64);
    assert.deepEqual(decodeAll(decoder, [stream.subarray(0, 7)]), []);
    assert.equal(decoder.pendingBytes, 7);
    assert.deepEqual(decodeAll(decoder, [stream.subarray(7)]), [Buffer.from("abcdef")]);
  });

  it("rejects a declared length above the maximum, before the payload arrives", () => {
    const decoder = new FrameDecoder(16);
    const ok = decoder.push(encodeFrame(Buffer.alloc(16)));
    assert.ok(ok.ok && ok.frames.length === 1);
    const header = encodeFrame(Buffer.alloc(17)).subarray(0, FRAME_HEADER_BYTES);
    const r = decoder.push(header);
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.error, /17 bytes exceeds the maximum of 16/);
    // The stream lost its framing: the decoder stays failed.
    assert.equal(decoder.push(encodeFrame(Buffer.alloc(1))).ok, false);
  });

  it("handles 100k frames split across many chunks in linear time", () => {
    const payloads = Array.from({ length: 100_000 }, (_, i) => Buffer.from(`m${i}`));
    const stream = encodeFrames(payloads);
    const chunks: Buffer[] = [];
    for (let at = 0; at < stream.byteLength; at += 7) chunks.push(stream.subarray(at, at + 7));
    const frames = decodeAll(new FrameDecoder(1024), chunks);
    assert.equal(frames.length, payloads.length);
    assert.equal(frames[99_999]?.toString(), "m99999");
  });

  it("rejects a frame with any one bit flipped, delivering neither it nor what follows", () => {
    const seed = Date.now() % 1_000_000;
    console.log(`framing bit-flip property seed=${seed}`);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (payload) => {
        const frame = encodeFrame(payload);
        const next = encodeFrame(Buffer.from("the next frame"));
        for (let bit = 0; bit < frame.byteLength * 8; bit++) {
          const bad = flip(frame, bit, 1);
          assertRejected(bad, next, `bit ${bit}`);
        }
      }),
      { seed, numRuns: 100 },
    );
  });

  it("rejects a frame with any burst of up to 32 flipped bits (CRC-32's guarantee)", () => {
    const seed = Date.now() % 1_000_000;
    console.log(`framing burst property seed=${seed}`);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 32 }),
        fc.nat(),
        (payload, at, length, pattern) => {
          const frame = encodeFrame(payload);
          const start = at % (frame.byteLength * 8 - length + 1);
          // A burst starts and ends with a flipped bit; the bits between flip or not.
          const inner = length > 2 ? pattern % 2 ** (length - 2) : 0;
          const mask = length === 1 ? 1 : 1 + inner * 2 + 2 ** (length - 1);
          assertRejected(flip(frame, start, length, mask), encodeFrame(Buffer.alloc(3)), "burst");
        },
      ),
      { seed, numRuns: 2000 },
    );
  });

  it("decodeFrame accepts exactly one intact frame", () => {
    const frame = encodeFrame(Buffer.from("payload"));
    const r = decodeFrame(frame);
    assert.ok(r.ok && r.value.toString() === "payload");
    assert.equal(decodeFrame(frame.subarray(0, frame.byteLength - 1)).ok, false, "truncated");
    assert.equal(decodeFrame(Buffer.concat([frame, Buffer.alloc(1)])).ok, false, "trailing byte");
    assert.equal(decodeFrame(frame.subarray(0, 5)).ok, false, "shorter than a header");
  });

  it("validates maxFrameBytes", () => {
    assert.throws(() => new FrameDecoder(-1), RangeError);
    assert.throws(() => new FrameDecoder(2 ** 32), RangeError);
  });
});

/** A copy of `bytes` with the bits [start, start + length) XORed with `mask` (bit 0 first). */
function flip(bytes: Buffer, start: number, length: number, mask = 2 ** length - 1): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < length; i++) {
    if (Math.floor(mask / 2 ** i) % 2 === 0) continue;
    const bit = start + i;
    out[bit >> 3] = (out[bit >> 3] as number) ^ (0x80 >> (bit & 7));
  }
  return out;
}

/** Neither decoding path accepts `bad`; the stream decoder stops before `next` too. */
function assertRejected(bad: Buffer, next: Buffer, what: string): void {
  assert.equal(decodeFrame(bad).ok, false, `decodeFrame accepted a frame with ${what} flipped`);
  const r = new FrameDecoder(1024).push(Buffer.concat([bad, next]));
  assert.equal(r.ok, false, `FrameDecoder delivered a frame with ${what} flipped`);
  assert.equal(r.ok ? "" : r.reason, "checksum");
}
