// The backup file format (src/kv/backup-format.ts): its shape (512k + 32 bytes ending with the
// sha256 of the rest, what etcdctl 3.4's `snapshot save` checks), round trips, and a clear
// refusal of every kind of damage: each truncation, each bit flip, appended, inserted and
// overwritten bytes, and files whose checksum was recomputed over a broken structure.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  BACKUP_VERSION,
  type BackupMeta,
  BackupVerifier,
  decodeBackup,
  encodeBackup,
} from "../../src/kv/backup-format.js";
import { simpleConf } from "../../src/raft/types.js";
import { damaged, fuzzParams } from "../fuzz/fuzz.js";

const META: BackupMeta = {
  index: 42,
  term: 3,
  conf: simpleConf([1, 2, 3]),
  node: 2,
  createdAt: 1_700_000_000_000,
};

async function encode(meta: BackupMeta, chunks: Uint8Array[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of encodeBackup(meta, chunks)) parts.push(c);
  return Buffer.concat(parts);
}

/** Recomputes the trailing checksum, as a forger (or a buggy writer) would. */
function resum(file: Buffer): Buffer {
  const body = file.subarray(0, file.length - 32);
  return Buffer.concat([body, createHash("sha256").update(body).digest()]);
}

function verify(file: Uint8Array, cuts: number[] = []): ReturnType<BackupVerifier["finish"]> {
  const v = new BackupVerifier();
  let at = 0;
  for (const c of [...cuts.filter((x) => x < file.length).sort((a, b) => a - b), file.length]) {
    if (c < at) continue;
    v.update(file.subarray(at, c));
    at = c;
  }
  return v.finish();
}

const metaArb: fc.Arbitrary<BackupMeta> = fc.record(
  {
    index: fc.nat(),
    term: fc.nat(),
    conf: fc
      .uniqueArray(fc.integer({ min: 1, max: 1000 }), { maxLength: 7 })
      .map((ids) => simpleConf(ids)),
    node: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    createdAt: fc.nat(),
  },
  { noNullPrototype: true },
);
const chunksArb = fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 6 });

describe("backup format", () => {
  it("round-trips any state, and every file is 512k + 32 bytes ending with the sha256 of the rest", async () => {
    console.log(`# backup round trip: seed=${fuzzParams.seed}`);
    await fc.assert(
      fc.asyncProperty(
        metaArb,
        chunksArb,
        fc.array(fc.nat(), { maxLength: 5 }),
        async (meta, chunks, cuts) => {
          const file = await encode(meta, chunks);
          assert.equal(file.length % 512, 32);
          const body = file.subarray(0, file.length - 32);
          assert.deepEqual(
            file.subarray(file.length - 32),
            createHash("sha256").update(body).digest(),
          );
          const d = decodeBackup(file);
          assert.ok(d.ok, d.ok ? "" : d.error);
          assert.deepEqual(d.value.meta, meta);
          assert.deepEqual(d.value.data, Buffer.concat(chunks));
          assert.deepEqual(verify(file, cuts), { ok: true, value: undefined });
        },
      ),
      { seed: fuzzParams.seed, numRuns: 100 },
    );
  });

  it("starts with the magic and the version", async () => {
    const file = await encode(META, [Buffer.from("state")]);
    assert.equal(file.subarray(0, 8).toString("latin1"), "RWBACKUP");
    assert.equal(file.readUInt32LE(8), BACKUP_VERSION);
  });

  it("refuses every truncation, with a message saying so", async () => {
    const file = await encode(META, [Buffer.alloc(1500, 7)]);
    for (let n = 0; n < file.length; n++) {
      const cut = file.subarray(0, n);
      const d = decodeBackup(cut);
      assert.ok(!d.ok, `a file cut to ${n} bytes was accepted`);
      assert.match(d.error, /empty|truncated|damaged/, `cut to ${n}: ${d.error}`);
      assert.ok(!verify(cut).ok, `the verifier accepted a file cut to ${n} bytes`);
    }
  });

  it("refuses every single-bit flip", async () => {
    const file = await encode(META, [Buffer.from("a small state")]);
    for (let i = 0; i < file.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const c = Buffer.from(file);
        c[i] = (c[i] as number) ^ (1 << bit);
        const d = decodeBackup(c);
        assert.ok(!d.ok, `a flip of bit ${bit} of byte ${i} was accepted`);
        assert.match(d.error, /not a raftwork backup|version|damaged/, d.error);
        assert.ok(!verify(c).ok);
      }
    }
  });

  it("refuses appended and inserted bytes", async () => {
    const file = await encode(META, [Buffer.from("state")]);
    for (const extra of [1, 31, 32, 511, 512]) {
      const longer = Buffer.concat([file, Buffer.alloc(extra)]);
      assert.ok(!decodeBackup(longer).ok, `${extra} appended bytes were accepted`);
      const inserted = Buffer.concat([
        file.subarray(0, 20),
        Buffer.alloc(extra, 1),
        file.subarray(20),
      ]);
      assert.ok(!decodeBackup(inserted).ok, `${extra} inserted bytes were accepted`);
    }
  });

  it("refuses any damage (fast-check: flips, overwrites, truncations, insertions, huge length fields)", async () => {
    console.log(`# backup damage: seed=${fuzzParams.seed}`);
    const valid = fc
      .tuple(metaArb, chunksArb)
      .chain(([m, c]) => fc.constant(null).map(() => ({ m, c })));
    const files: Buffer[] = [];
    for (const sample of fc.sample(valid, { seed: fuzzParams.seed, numRuns: 20 })) {
      files.push(await encode(sample.m, sample.c));
    }
    fc.assert(
      fc.property(
        fc
          .nat({ max: files.length - 1 })
          .chain((k) =>
            damaged(fc.constant(new Uint8Array(files[k] as Buffer))).map((d) => ({ k, d })),
          ),
        ({ k, d }) => {
          const original = files[k] as Buffer;
          const r = decodeBackup(d);
          // An edit may leave the bytes as they were (a byte overwritten with itself).
          if (Buffer.from(d).equals(original)) return assert.ok(r.ok);
          assert.ok(!r.ok, "a damaged file was accepted");
          assert.equal(typeof r.error, "string");
          assert.ok(!verify(d).ok);
        },
      ),
      fuzzParams,
    );
  });

  it("gives a clear error for a broken structure under a matching checksum", async () => {
    const file = await encode(META, [Buffer.from("state")]);
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ["huge header length", (b) => b.writeUInt32LE(0xffffffff, 12), /header length/],
      ["header not JSON", (b) => b.write("!", 16), /not valid JSON/],
      ["version 2", (b) => b.writeUInt32LE(2, 8), /format version is 2/],
      [
        "frame overrun",
        (b) => b.writeUInt32LE(0x7fffffff, 16 + b.readUInt32LE(12)),
        /overruns|end marker/,
      ],
      [
        "garbage in the padding",
        (b) => {
          b[b.length - 33] = 1;
        },
        /unexpected bytes/,
      ],
    ];
    for (const [name, edit, want] of cases) {
      const c = Buffer.from(file);
      edit(c);
      const d = decodeBackup(resum(c));
      assert.ok(!d.ok, `${name} was accepted`);
      assert.match(d.error, want, `${name}: ${d.error}`);
    }
    const header = (meta: unknown) => {
      const h = Buffer.from(JSON.stringify(meta));
      const pre = Buffer.alloc(16);
      pre.write("RWBACKUP", 0, "latin1");
      pre.writeUInt32LE(1, 8);
      pre.writeUInt32LE(h.length, 12);
      const body = Buffer.concat([pre, h, Buffer.alloc(4)]);
      const padded = Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
      return Buffer.concat([padded, createHash("sha256").update(padded).digest()]);
    };
    for (const bad of [
      { ...META, index: -1 },
      { ...META, term: 1.5 },
      { ...META, node: 0 },
      { ...META, conf: { voters: [1] } },
      { ...META, conf: { ...META.conf, voters: ["1"] } },
      [],
      null,
    ]) {
      const d = decodeBackup(header(bad));
      assert.ok(!d.ok, `header ${JSON.stringify(bad)} was accepted`);
      assert.match(d.error, /header/);
    }
    assert.ok(decodeBackup(header(META)).ok);
  });

  it("names an etcd database file for what it is", () => {
    // A bbolt file starts with a page header, not the magic; its size is a multiple of 4096.
    const d = decodeBackup(Buffer.alloc(4096 + 32, 0xed));
    assert.ok(!d.ok);
    assert.match(d.error, /not a raftwork backup.*bbolt/);
  });
});
