// Snapshot files at rest (or received and stored), damaged by the generic edits, including
// length fields set to extreme values: opening and reading either gives back exactly the data
// that was written or refuses with StorageCorruptionError; it never throws anything else and
// never hands out a chunk larger than a frame (a length field cannot make it allocate more).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type SnapshotMetadata, simpleConf } from "../../src/raft/types.js";
import { StorageCorruptionError } from "../../src/storage/errors.js";
import { SimDisk } from "../../src/storage/fs/sim-disk.js";
import { FRAME_SIZE, openSnapshotFile, SnapshotFileWriter } from "../../src/storage/snap-files.js";
import { damaged, fuzzParams, rejectionAsync } from "./fuzz.js";

const META: SnapshotMetadata = { index: 42, term: 7, conf: simpleConf([1, 2, 3]) };
const FRAME = 64;

async function fileBytes(data: Uint8Array): Promise<Uint8Array> {
  const disk = new SimDisk({ random: () => 0.5 });
  await disk.fs.mkdir("/s");
  const w = await SnapshotFileWriter.create(disk.fs, "/s", "snap", "snap.1.tmp", META, FRAME);
  await w.write(data);
  await w.finish();
  return new Uint8Array(await disk.fs.readFile("/s/snap"));
}

describe("fuzz: snapshot files", () => {
  it("a damaged file reads back whole and unchanged or is refused as corrupt (property)", async () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    const valid = await fileBytes(data);
    await fc.assert(
      fc.asyncProperty(damaged(fc.constant(valid)), async (bytes) => {
        const disk = new SimDisk({ random: () => 0.5 });
        await disk.fs.mkdir("/s");
        await disk.fs.writeFile("/s/snap", bytes);
        const chunks: Uint8Array[] = [];
        let meta: SnapshotMetadata | undefined;
        const thrown = await rejectionAsync(
          async () => {
            const r = await openSnapshotFile(disk.fs, "/s/snap");
            meta = r.metadata;
            for await (const c of r.chunks()) {
              assert.ok(c.length <= FRAME_SIZE, "a chunk is at most one frame");
              chunks.push(c);
            }
          },
          (e) => e instanceof StorageCorruptionError && e.path === "/s/snap",
        );
        if (thrown !== undefined) return;
        assert.deepEqual(meta, META);
        assert.deepEqual(Buffer.concat(chunks), Buffer.from(data));
      }),
      fuzzParams,
    );
  });
});
