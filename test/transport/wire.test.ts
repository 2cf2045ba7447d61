import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newClusterId } from "../../src/transport/cluster-id.js";
import { encodeMessage, encodeValue } from "../../src/transport/codec.js";
import { encodeFrames, FrameDecoder } from "../../src/transport/framing.js";
import {
  ChunkAssembler,
  chunkPayloads,
  decodeMessageFrame,
  encodeMessageFrame,
  handshakePayload,
  KIND_HELLO,
  parseChunk,
  parseClose,
  parseHandshake,
  parsePreamble,
  preamble,
  WIRE_VERSION,
} from "../../src/transport/wire.js";
import { everyMessageType } from "./suite.js";

/** The bodies (payload minus kind byte) that a receiver would see for these payloads. */
function bodies(payloads: Parameters<typeof encodeFrames>[0]): Buffer[] {
  const r = new FrameDecoder(1 << 20).push(encodeFrames(payloads));
  assert.ok(r.ok);
  return r.frames.map((f) => f.subarray(1));
}

function rejects(r: { ok: boolean; error?: unknown }, re: RegExp): void {
  assert.equal(r.ok, false);
  assert.match(String(r.error), re);
}

describe("wire", () => {
  it("round-trips a handshake with every field, and one with only an id", () => {
    const cluster = newClusterId();
    const secret = "s3cr3t_-".repeat(5);
    const full = { id: 3, cluster, http: "10.0.0.3:8003", grpc: "[::1]:2379", secret };
    const [body] = bodies([handshakePayload(KIND_HELLO, full)]);
    assert.deepStrictEqual(parseHandshake(body as Buffer), { ok: true, value: full });
    const [bare] = bodies([handshakePayload(KIND_HELLO, { id: 9 })]);
    assert.deepStrictEqual(parseHandshake(bare as Buffer), { ok: true, value: { id: 9 } });
  });

  it("refuses a handshake with bad or unbounded fields, naming the field", () => {
    const cases: [unknown, RegExp][] = [
      [{ id: -3 }, /id/],
      [{ id: 1.5 }, /id/],
      [{}, /id/],
      [{ id: 3, extra: true }, /extra|unrecognized/i],
      [{ id: 3, http: "x".repeat(300) }, /http/],
      [{ id: 3, http: "no-port" }, /http: expected HOST:PORT/],
      [{ id: 3, grpc: 5 }, /grpc/],
      [{ id: 3, secret: "short" }, /secret: expected 16\.\.128 base64url/],
      [{ id: 3, secret: "x".repeat(129) }, /secret/],
      [{ id: 3, secret: "not base64url at all!" }, /secret/],
      [{ id: 3, secret: 42 }, /secret/],
      [{ id: 3, cluster: "12" }, /cluster: expected a cluster id/],
      [{ id: 3, cluster: 2 ** 61 }, /cluster/],
      [{ id: 3, cluster: (2n ** 64n).toString() }, /cluster/],
      [[3], /record|expected object/i],
    ];
    for (const [bad, re] of cases) rejects(parseHandshake(encodeValue(bad)), re);
    rejects(parseHandshake(Uint8Array.of(0xc1)), /invalid handshake/);
  });

  it("recognises its own preamble, a version-1 peer, and a stranger", () => {
    assert.deepStrictEqual(parsePreamble(preamble()), { ok: true, value: WIRE_VERSION });
    assert.deepStrictEqual(parsePreamble(preamble(7)), { ok: true, value: 7 });
    // Version 1 opened with a 4-byte length and a HELLO kind byte.
    const v1 = Buffer.from([0, 0, 0, 20, KIND_HELLO, 0x83, 0, 0, 0, 0]);
    rejects(parsePreamble(v1), /wire version 1/);
    rejects(parsePreamble(Buffer.from("GET / HTTP")), /not a raftwork node/);
  });

  it("bounds a close notice", () => {
    assert.deepStrictEqual(parseClose(encodeValue({ code: "liveness", reason: "quiet" })), {
      ok: true,
      value: { code: "liveness", reason: "quiet" },
    });
    rejects(parseClose(encodeValue({ code: "liveness", reason: "x".repeat(600) })), /reason/);
    rejects(parseClose(encodeValue({ code: "Not A Code", reason: "" })), /code/);
  });

  it("seals messages for the simulator as TCP frames them, and rejects any flipped bit", () => {
    for (const m of everyMessageType(1, 2)) {
      const sealed = encodeMessageFrame(m);
      assert.deepStrictEqual(decodeMessageFrame(sealed), { ok: true, value: m }, m.type);
      // Every bit of small messages; a sample of the large ones' bits (the snapshot's is 8 KiB).
      const step = sealed.byteLength > 256 ? 61 : 1;
      for (let bit = 0; bit < sealed.byteLength * 8; bit += step) {
        const bad = Buffer.from(sealed);
        bad[bit >> 3] = (bad[bit >> 3] as number) ^ (0x80 >> (bit & 7));
        assert.equal(decodeMessageFrame(bad).ok, false, `${m.type}: bit ${bit} flipped`);
      }
    }
    rejects(decodeMessageFrame(encodeFrames([Uint8Array.of(KIND_HELLO)])), /not a message/);
  });

  it("cuts a snapshot into chunks and reassembles exactly the original bytes", () => {
    const snap = everyMessageType(1, 2).find((m) => m.type === "snap");
    assert.ok(snap);
    const encoded = encodeMessage(snap);
    const chunks = bodies(chunkPayloads(encoded, 100));
    assert.equal(chunks.length, Math.ceil(encoded.byteLength / 100));
    const a = new ChunkAssembler(encoded.byteLength);
    const results = chunks.map((c) => {
      const parsed = parseChunk(c);
      assert.ok(parsed.ok);
      const r = a.push(parsed.value);
      assert.ok(r.ok);
      return r.value;
    });
    assert.ok(results.slice(0, -1).every((r) => r === null));
    assert.ok(encoded.equals(results.at(-1) as Buffer));
  });

  it("refuses chunks out of sequence, without a start, or above the size limit", () => {
    const encoded = Buffer.alloc(300, 7);
    const chunks = bodies(chunkPayloads(encoded, 100)).map((c) => {
      const p = parseChunk(c);
      assert.ok(p.ok);
      return p.value;
    });
    const [c0, c1, c2] = chunks as [(typeof chunks)[0], (typeof chunks)[0], (typeof chunks)[0]];
    const noStart = new ChunkAssembler(1000).push(c1);
    assert.deepStrictEqual(noStart, { ok: false, error: "snapshot chunk without a start" });
    const skip = new ChunkAssembler(1000);
    assert.ok(skip.push(c0).ok);
    assert.deepStrictEqual(skip.push(c2), { ok: false, error: "snapshot chunk out of sequence" });
    const small = new ChunkAssembler(299).push(c0);
    assert.equal(small.ok, false);
    assert.match(small.ok ? "" : small.error, /300 bytes exceeds the maximum of 299/);
  });

  it("rejects a chunk whose data runs past its declared total, or that has no data", () => {
    const header = Buffer.alloc(12);
    header.writeUIntBE(10, 0, 6);
    header.writeUIntBE(5, 6, 6);
    assert.equal(parseChunk(Buffer.concat([header, Buffer.alloc(6)])).ok, false);
    assert.equal(parseChunk(Buffer.concat([header, Buffer.alloc(5)])).ok, true);
    assert.equal(parseChunk(header).ok, false);
  });
});
