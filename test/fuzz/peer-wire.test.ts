// What a peer (or anyone who reaches the Raft port) can send, damaged or hostile: the frame
// stream, the handshake and close records, snapshot chunks and sealed messages. Each parser
// answers with a Result, never an exception; the frame decoder never delivers a frame that was
// not sent and never buffers more than one maximum frame.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { encodeValue } from "../../src/transport/codec.js";
import { encodeFrames, FRAME_HEADER_BYTES, FrameDecoder } from "../../src/transport/framing.js";
import {
  ChunkAssembler,
  chunkPayloads,
  closePayload,
  decodeMessageFrame,
  encodeMessageFrame,
  handshakePayload,
  KIND_HELLO,
  parseChunk,
  parseClose,
  parseHandshake,
  parsePreamble,
  preamble,
} from "../../src/transport/wire.js";
import { damaged, fuzzParams } from "./fuzz.js";

const MAX_FRAME = 4096;

/** The body of a payload after its kind byte, as the connection hands it to the parsers. */
function body(p: Uint8Array | readonly Uint8Array[]): Uint8Array {
  const whole = p instanceof Uint8Array ? p : Buffer.concat(p.map((x) => Buffer.from(x)));
  return whole.subarray(1);
}

const payloads = fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 6 });

describe("fuzz: the peer wire", () => {
  it("the frame decoder delivers only frames that were sent, in order, whatever the damage and chunking (property)", () => {
    const arb = payloads.chain((ps) => {
      const stream = new Uint8Array(encodeFrames(ps));
      return fc.tuple(
        fc.constant(ps),
        damaged(fc.constant(stream)),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
      );
    });
    fc.assert(
      fc.property(arb, ([sent, stream, cuts]) => {
        const decoder = new FrameDecoder(MAX_FRAME);
        const got: Uint8Array[] = [];
        let failed = false;
        let at = 0;
        for (let i = 0; at < stream.length && !failed; i++) {
          const n = cuts[i % cuts.length] as number;
          const r = decoder.push(Buffer.from(stream.subarray(at, at + n)));
          at += n;
          if (r.ok) got.push(...r.frames);
          else failed = true;
          assert.ok(decoder.pendingBytes <= MAX_FRAME + 2 * FRAME_HEADER_BYTES + 64);
        }
        // The CRC can let a damaged frame through only with probability 2^-32 per frame; a
        // frame's header and payload are checked separately, so what arrives is what was sent.
        assert.ok(got.length <= sent.length);
        for (const [i, f] of got.entries()) assert.deepEqual([...f], [...(sent[i] as Uint8Array)]);
      }),
      fuzzParams,
    );
  });

  it("a declared length over the maximum is refused at the header, before any payload is buffered", () => {
    const decoder = new FrameDecoder(MAX_FRAME);
    const header = encodeFrames([new Uint8Array(MAX_FRAME + 1)]).subarray(0, FRAME_HEADER_BYTES);
    const r = decoder.push(Buffer.from(header));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, "oversized");
    assert.equal(decoder.pendingBytes, 0);
  });

  it("handshake, close and preamble parsers answer damaged records with an error, never a throw (property)", () => {
    const hello = body(
      handshakePayload(KIND_HELLO, { id: 3, cluster: "1234567890abcdef0", http: "127.0.0.1:8080" }),
    );
    const close = body(
      closePayload({ code: "not-a-peer", reason: "node 9 is not in the configuration" }),
    );
    const weird = fc.anything().map((v) => {
      try {
        return new Uint8Array(encodeValue(v));
      } catch {
        return new Uint8Array(0);
      }
    });
    fc.assert(
      fc.property(
        damaged(fc.oneof(fc.constant(hello), fc.constant(close), weird)),
        damaged(fc.constant(new Uint8Array(preamble()))),
        (record, pre) => {
          for (const parse of [parseHandshake, parseClose]) {
            const r = parse(record);
            if (!r.ok) assert.match(r.error, /invalid (handshake|close notice)/);
          }
          const p = parsePreamble(Buffer.from(pre));
          if (!p.ok) assert.equal(typeof p.error, "string");
        },
      ),
      fuzzParams,
    );
  });

  it("snapshot chunks: a hostile total or offset is refused before anything is allocated for it (property)", () => {
    const encoded = new Uint8Array(1000).map((_, i) => i & 0xff);
    const valid = chunkPayloads(encoded, 300).map(body);
    fc.assert(
      fc.property(fc.array(damaged(fc.constantFrom(...valid)), { maxLength: 6 }), (chunks) => {
        const asm = new ChunkAssembler(2000);
        for (const c of chunks) {
          const parsed = parseChunk(Buffer.from(c));
          if (!parsed.ok) continue;
          const r = asm.push(parsed.value);
          if (r.ok && r.value !== null) assert.ok(r.value.byteLength <= 2000);
        }
      }),
      fuzzParams,
    );
  });

  it("sealed messages (the simulator's corrupt fault uses this pair) reject every damaged frame or decode a valid message (property)", () => {
    const m = encodeMessageFrame({
      type: "app",
      from: 1,
      to: 2,
      term: 4,
      prevIndex: 7,
      prevTerm: 3,
      commit: 6,
      entries: [{ index: 8, term: 4, type: "normal", data: Uint8Array.of(1, 2, 3) }],
    });
    fc.assert(
      fc.property(damaged(fc.constant(new Uint8Array(m))), (bytes) => {
        const r = decodeMessageFrame(bytes);
        if (r.ok) assert.deepEqual(Buffer.from(bytes), m, "only the undamaged frame decodes");
      }),
      fuzzParams,
    );
  });
});
