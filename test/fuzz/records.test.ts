// Records decoded from bytes another node produced (log entries the leader replicated) or that
// sat on disk: KV commands and configurations. Damaged, they decode to a clear reason, never an
// exception and never a command or configuration that was not encoded.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeCommand, encodeCommand, type KvCommand } from "../../src/kv/commands.js";
import { simpleConf } from "../../src/raft/types.js";
import { decodeConf, encodeConf } from "../../src/storage/conf-codec.js";
import { packr } from "../../src/storage/wal-format.js";
import { damaged, fuzzParams } from "./fuzz.js";

const bytes = fc.uint8Array({ maxLength: 16 });
const command: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({
    op: fc.constantFrom("put" as const, "append" as const),
    key: fc.string(),
    ts: fc.nat(),
    value: bytes,
  }),
  fc.record({ op: fc.constant("del" as const), key: fc.string(), ts: fc.nat() }),
  fc.record({
    op: fc.constant("cas" as const),
    key: fc.string(),
    ts: fc.nat(),
    expect: fc.option(bytes, { nil: null }),
    value: bytes,
    session: fc.record({
      clientId: fc.string({ minLength: 1 }),
      requestId: fc.integer({ min: 1 }),
    }),
  }),
);

describe("fuzz: replicated and stored records", () => {
  it("KV commands: a damaged command decodes to a reason or to a well-formed command (property)", () => {
    fc.assert(
      fc.property(
        command.chain((c) => damaged(fc.constant(encodeCommand(c)))),
        (data) => {
          const r = decodeCommand(data);
          if (typeof r === "string") return;
          // Whatever decoded must encode again to a command that decodes the same: no half-typed
          // values (a key that is not a string, a value that is not bytes) get through.
          const again = decodeCommand(encodeCommand(r));
          assert.notEqual(typeof again, "string");
          assert.deepEqual(
            Buffer.from(encodeCommand(again as KvCommand)),
            Buffer.from(encodeCommand(r)),
          );
        },
      ),
      fuzzParams,
    );
  });

  it("configurations: damaged encodings decode to null or to a configuration of positive ids (property)", () => {
    const conf = fc
      .uniqueArray(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 })
      .map((v) => simpleConf(v));
    fc.assert(
      fc.property(
        conf.chain((c) => damaged(fc.constant(new Uint8Array(packr.pack(encodeConf(c)))))),
        (data) => {
          let v: unknown;
          try {
            v = packr.unpack(data);
          } catch {
            return; // not msgpack at all: the record's own decoder reports that
          }
          const c = decodeConf(v);
          if (c === null) return;
          for (const list of [c.voters, c.learners, c.votersOutgoing, c.learnersNext]) {
            assert.ok(list.every((id) => Number.isSafeInteger(id) && id > 0));
          }
        },
      ),
      fuzzParams,
    );
  });
});
