// Snapshot files in chunks (src/storage/snap-files.ts): the format round-trips whatever the
// chunking, a reader never hands out more than a frame at a time, and any damage is refused with
// the file and the offset of the damaged part.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { type SnapshotMetadata, simpleConf } from "../../src/raft/types.js";
import { encodeConf } from "../../src/storage/conf-codec.js";
import { StorageCorruptionError } from "../../src/storage/errors.js";
import { SimDisk } from "../../src/storage/fs/sim-disk.js";
import {
  FRAME_SIZE,
  openSnapshotFile,
  readSnapshotFile,
  SnapshotFileWriter,
  writeSnapshotFile,
} from "../../src/storage/snap-files.js";
import { packr } from "../../src/storage/wal-format.js";
import { testSeed } from "./seed.js";

const META: SnapshotMetadata = { index: 42, term: 7, conf: simpleConf([1, 2, 3]) };
const PATH = "/s/snap";

async function newDisk(): Promise<SimDisk> {
  const disk = new SimDisk({ random: () => 0.5 });
  await disk.fs.mkdir("/s");
  return disk;
}

function pattern(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 131 + (i >> 8)) & 0xff);
}

/** Writes `data` cut into `chunkSizes` (cycled) with frames of `frameSize` bytes. */
async function write(disk: SimDisk, data: Uint8Array, chunkSizes: number[], frameSize: number) {
  const w = await SnapshotFileWriter.create(disk.fs, "/s", "snap", "snap.1.tmp", META, frameSize);
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.max(1, chunkSizes[i % chunkSizes.length] as number);
    await w.write(data.subarray(off, off + n));
    off += n;
  }
  await w.finish();
}

async function readChunks(disk: SimDisk, path = PATH): Promise<Uint8Array[]> {
  const r = await openSnapshotFile(disk.fs, path);
  assert.deepEqual(r.metadata, META);
  const out: Uint8Array[] = [];
  for await (const c of r.chunks()) out.push(c);
  return out;
}

function joined(chunks: Uint8Array[]): Uint8Array {
  return Uint8Array.from(chunks.flatMap((c) => [...c]));
}

describe("snapshot files in chunks", () => {
  it("round-trip any data through any chunking; chunks come back one frame at a time", async () => {
    const seed = testSeed("snapshot file round trip");
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 1000 }),
        async (length, chunkSizes, frameSize) => {
          const disk = await newDisk();
          const data = pattern(length);
          await write(disk, data, chunkSizes, frameSize);
          const chunks = await readChunks(disk);
          assert.deepEqual(joined(chunks), data);
          assert.equal(chunks.length, Math.ceil(length / frameSize));
          assert.ok(chunks.every((c) => c.length <= frameSize && c.length > 0));
          assert.deepEqual(await disk.fs.readdir("/s"), ["snap"], "the temp file is renamed");
        },
      ),
      { seed, numRuns: 100 },
    );
  });

  it("a whole-buffer write is read back in FRAME_SIZE chunks, never as one buffer", async () => {
    const disk = await newDisk();
    const data = pattern(3.5 * FRAME_SIZE);
    await writeSnapshotFile(disk.fs, "/s", "snap", "snap.1.tmp", META, [data]);
    const chunks = await readChunks(disk);
    assert.deepEqual(
      chunks.map((c) => c.length),
      [FRAME_SIZE, FRAME_SIZE, FRAME_SIZE, FRAME_SIZE / 2],
    );
    assert.deepEqual((await readSnapshotFile(disk.fs, PATH)).data, data);
  });

  it("any flipped byte is refused, naming the file and a damaged part at or before it", async () => {
    const disk = await newDisk();
    await write(disk, pattern(150), [40], 50);
    const good = await disk.fs.readFile(PATH);
    for (let pos = 0; pos < good.length; pos++) {
      const bad = Buffer.from(good);
      bad[pos] = (bad[pos] as number) ^ 0x5a;
      await disk.fs.writeFile(PATH, bad);
      await assert.rejects(readChunks(disk), (err) => {
        assert.ok(err instanceof StorageCorruptionError, `byte ${pos}: ${err}`);
        assert.equal(err.path, PATH);
        assert.ok(err.offset <= pos, `byte ${pos} reported at ${err.offset}`);
        return true;
      });
    }
  });

  it("a file cut short anywhere, or with bytes after its end record, is refused", async () => {
    const disk = await newDisk();
    await write(disk, pattern(150), [150], 50);
    const good = await disk.fs.readFile(PATH);
    for (let length = 0; length <= good.length; length++) {
      const bad =
        length === good.length ? Buffer.concat([good, Buffer.from([0])]) : good.subarray(0, length);
      await disk.fs.writeFile(PATH, bad);
      await assert.rejects(readChunks(disk), StorageCorruptionError, `length ${length}`);
    }
  });

  it("a reader that stops early closes the file", async () => {
    const disk = await newDisk();
    await write(disk, pattern(500), [500], 100);
    const r = await openSnapshotFile(disk.fs, PATH);
    for await (const _ of r.chunks()) break;
    await disk.fs.unlink(PATH);
    assert.equal(disk.used, 0, "the space of the unlinked file returned: no handle holds it");
  });

  it("a missing file is corruption, with the caller's reason", async () => {
    const disk = await newDisk();
    await assert.rejects(openSnapshotFile(disk.fs, PATH, "named but missing"), (err) => {
      assert.ok(err instanceof StorageCorruptionError);
      assert.match(err.message, /named but missing/);
      return true;
    });
  });

  it("reads a file in the format written before streaming (one checksum, one chunk)", async () => {
    const disk = await newDisk();
    const data = pattern(1000);
    const payload = packr.pack([META.index, META.term, encodeConf(META.conf), data]);
    const header = Buffer.alloc(8);
    header.writeUInt32LE(0x504e5352, 0); // "RSNP"
    header.writeUInt32LE(crc32(payload), 4);
    await disk.fs.writeFile(PATH, Buffer.concat([header, payload]));
    assert.deepEqual(joined(await readChunks(disk)), data);
    const last = payload.length - 1;
    payload.writeUInt8(payload.readUInt8(last) ^ 1, last);
    await disk.fs.writeFile(PATH, Buffer.concat([header, payload]));
    await assert.rejects(readChunks(disk), StorageCorruptionError);
  });
});
