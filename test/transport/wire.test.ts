import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeMessage, encodeValue } from "../../src/transport/codec.js";
import { encodeFrames, FrameDecoder } from "../../src/transport/framing.js";
import {
  ChunkAssembler,
  chunkPayloads,
  helloPayload,
  MAX_HELLO_KEYS,
  parseChunk,
  parseHello,
} from "../../src/transport/wire.js";
import { everyMessageType } from "./suite.js";

/** The bodies (payload minus kind byte) that a receiver would see for these payloads. */
function bodies(payloads: Parameters<typeof encodeFrames>[0]): Buffer[] {
  const r = new FrameDecoder(1 << 20).push(encodeFrames(payloads));
  assert.ok(r.ok);
  return r.frames.map((f) => f.subarray(1));
}

describe("wire", () => {
  it("round-trips a handshake and bounds its metadata", () => {
    const [body] = bodies([helloPayload({ id: 3, hello: { http: "10.0.0.3:8003" } })]);
    assert.deepStrictEqual(parseHello(body as Buffer), {
      ok: true,
      value: { id: 3, hello: { http: "10.0.0.3:8003" } },
    });
    const tooMany = Object.fromEntries(
      Array.from({ length: MAX_HELLO_KEYS + 1 }, (_, i) => [`k${i}`, "v"]),
    );
    for (const [bad, re] of [
      [{ v: 1, id: 3, hello: tooMany }, /more than 32 keys/],
      [{ v: 1, id: 3, hello: { http: "x".repeat(2000) } }, /longer than 1024/],
      [{ v: 1, id: 3, hello: { http: 5 } }, /hello\.hello\.http: expected a string/],
      [{ v: 1, id: -3, hello: {} }, /hello\.id/],
      [{ v: 1, id: 3 }, /hello\.hello: expected an object/],
      [{ v: 1, id: 3, hello: {}, extra: true }, /hello\.extra: unknown field/],
    ] as const) {
      const r = parseHello(encodeValue(bad));
      assert.equal(r.ok, false);
      assert.match(r.ok ? "" : r.error, re);
    }
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
