// Snapshot files: DIR/snap/<term:016x>-<index:016x>.snap, each written atomically (temp file,
// fsync, rename, fsync of the directory) so a crash leaves either the whole file or none.
//
//   0        4        8
//   +--------+--------+--------------------------------------------+
//   | "RSNP" | crc32  | payload: msgpack [index, term, conf (conf-codec.ts), data] |
//   +--------+--------+--------------------------------------------+

import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Snapshot } from "../raft/types.js";
import { decodeConf, encodeConf } from "./conf-codec.js";
import { StorageCorruptionError } from "./errors.js";
import { hex16, packr } from "./wal-format.js";

const SNAP_MAGIC = 0x504e5352; // "RSNP" read as little-endian u32
const SNAP_HEADER_SIZE = 8;

export function snapshotName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

/**
 * The file's bytes as parts to write in order. The state machine's data (megabytes) is neither
 * copied nor re-encoded: the payload is msgpack's array header, the metadata, and a bin32 header
 * in front of the data itself.
 */
export function encodeSnapshotFile(s: Snapshot): Buffer[] {
  const { index, term, conf } = s.metadata;
  const head = packr.pack([index, term, encodeConf(conf)]);
  head[0] = 0x94; // fixarray of 3 -> of 4: the data follows as the fourth element
  const bin = Buffer.allocUnsafe(5);
  bin[0] = 0xc6; // msgpack bin32
  bin.writeUInt32BE(s.data.length, 1);
  const data = Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength);
  const header = Buffer.allocUnsafe(SNAP_HEADER_SIZE);
  header.writeUInt32LE(SNAP_MAGIC, 0);
  header.writeUInt32LE(crc32(data, crc32(bin, crc32(head))), 4);
  return [header, head, bin, data];
}

/** Writes `parts` as `dir/name` atomically. The caller fsyncs `dir` afterwards (once per group). */
export async function writeSnapshotFile(dir: string, name: string, parts: Buffer[]): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, "w");
  try {
    let pos = 0;
    for (const part of parts) {
      for (let off = 0; off < part.length; ) {
        const { bytesWritten } = await fh.write(part, off, part.length - off, pos);
        off += bytesWritten;
        pos += bytesWritten;
      }
    }
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
}

export async function readSnapshotFile(path: string): Promise<Snapshot> {
  const buf = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") {
      throw new StorageCorruptionError(
        path,
        0,
        "the WAL names this snapshot but its file is missing",
      );
    }
    throw err;
  });
  if (buf.length < SNAP_HEADER_SIZE || buf.readUInt32LE(0) !== SNAP_MAGIC) {
    throw new StorageCorruptionError(path, 0, "not a raftwork snapshot file");
  }
  const payload = buf.subarray(SNAP_HEADER_SIZE);
  if (crc32(payload) !== buf.readUInt32LE(4)) {
    throw new StorageCorruptionError(path, SNAP_HEADER_SIZE, "snapshot checksum mismatch");
  }
  const v = packr.unpack(payload) as unknown;
  if (
    !Array.isArray(v) ||
    v.length !== 4 ||
    !Number.isSafeInteger(v[0]) ||
    !Number.isSafeInteger(v[1]) ||
    !(v[3] instanceof Uint8Array)
  ) {
    throw new StorageCorruptionError(path, SNAP_HEADER_SIZE, "snapshot payload does not parse");
  }
  const conf = decodeConf(v[2]);
  if (conf === null)
    throw new StorageCorruptionError(
      path,
      SNAP_HEADER_SIZE,
      "snapshot configuration does not parse",
    );
  return {
    metadata: { index: v[0], term: v[1], conf },
    data: new Uint8Array(v[3]),
  };
}
