// Snapshot files: DIR/snap/<term:016x>-<index:016x>.snap, each written atomically (temp file,
// fsync, rename, fsync of the directory) so a crash leaves either the whole file or none.
//
//   0        4        8
//   +--------+--------+--------------------------------------------+
//   | "RSNP" | crc32  | payload: msgpack [index, term, voters, data] |
//   +--------+--------+--------------------------------------------+

import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Snapshot } from "../raft/types.js";
import { StorageCorruptionError } from "./errors.js";
import { hex16, packr } from "./wal-format.js";

const SNAP_MAGIC = 0x504e5352; // "RSNP" read as little-endian u32
const SNAP_HEADER_SIZE = 8;

export function snapshotName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

export function encodeSnapshotFile(s: Snapshot): Buffer {
  const { index, term, conf } = s.metadata;
  const payload = packr.pack([index, term, conf.voters, s.data]);
  const out = Buffer.allocUnsafe(SNAP_HEADER_SIZE + payload.length);
  out.writeUInt32LE(SNAP_MAGIC, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, SNAP_HEADER_SIZE);
  return out;
}

/** Writes `bytes` as `dir/name` atomically. The caller fsyncs `dir` afterwards (once per group). */
export async function writeSnapshotFile(dir: string, name: string, bytes: Buffer): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(bytes);
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
    !Array.isArray(v[2]) ||
    !v[2].every(Number.isSafeInteger) ||
    !(v[3] instanceof Uint8Array)
  ) {
    throw new StorageCorruptionError(path, SNAP_HEADER_SIZE, "snapshot payload does not parse");
  }
  return {
    metadata: { index: v[0], term: v[1], conf: { voters: v[2] } },
    data: new Uint8Array(v[3]),
  };
}
