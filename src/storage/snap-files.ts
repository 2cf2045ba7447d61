// Snapshot files: DIR/snap/<term:016x>-<index:016x>.snap, written and read as a sequence of
// chunks, so that neither side ever holds the state machine's data as one buffer. Each file is
// written atomically (temp file <name>.<n>.tmp, datasync, rename; the caller then syncs the
// directory), so a crash leaves the whole file or none of it, and a checksum per frame catches
// damage at rest. Integers are little-endian:
//
//   0        4        8        12
//   +--------+--------+--------+-----------------------------------------+
//   | "RSN2" |  mlen  |  mcrc  | meta: msgpack [index, term, conf]       |  header (12 + mlen)
//   +--------+--------+--------+-----------------------------------------+
//   +-----------+---------------------------+-----------+
//   | len (u32) | data (len bytes)          | crc (u32) |  frame: 1 <= len <= MAX_FRAME,
//   +-----------+---------------------------+-----------+  repeated (none for empty data)
//   +-----------+---------------------------+-----------+
//   | 0 (u32)   | total (u64)               | crc (u32) |  end: total = sum of the frames' len;
//   +-----------+---------------------------+-----------+  nothing may follow it
//
//   mcrc = crc32("RSN2" ‖ mlen ‖ meta)               conf: conf-codec.ts
//   crc  = crc32(len ‖ data, previous crc)           chained from mcrc through every frame;
//                                                    the end's crc covers 0 ‖ total
//
// The chain makes a reordered, repeated or missing frame a checksum mismatch, and the end record
// a truncation one. A reader hands out each frame only after verifying it, and completes only
// after the end record: a consumer that restores from the chunks must treat a rejection at any
// point as "this snapshot is unusable" and discard what it restored so far.
//
// The writer cuts its input into frames of FRAME_SIZE (1 MiB) whatever the chunk sizes it is fed,
// so a reader gets chunks of that size back even from a whole-buffer write.
//
// Format 1 (written before streaming; read only, as one chunk):
//   +--------+--------+----------------------------------------------------------+
//   | "RSNP" | crc32  | payload: msgpack [index, term, conf, data]  crc32 of it   |
//   +--------+--------+----------------------------------------------------------+

import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Snapshot, SnapshotMetadata } from "../raft/types.js";
import { collectChunks } from "./chunks.js";
import { decodeConf, encodeConf } from "./conf-codec.js";
import { StorageCorruptionError } from "./errors.js";
import { errorCode, type FileHandle, type FileSystem, unlinkIfExists } from "./fs/file-system.js";
import type { Chunks } from "./storage.js";
import { hex16, packr, parseHexPair } from "./wal-format.js";

const MAGIC = 0x324e5352; // "RSN2" read as little-endian u32
const MAGIC_V1 = 0x504e5352; // "RSNP"
const HEADER_SIZE = 12;
/** Bytes of data per frame the writer emits. */
export const FRAME_SIZE = 1 << 20;
/** Sanity bounds a reader applies: a header claiming more is damaged. */
const MAX_FRAME = 1 << 26;
const MAX_META = 1 << 26;

export function snapshotName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

export function parseSnapshotName(name: string): { term: number; index: number } | null {
  const pair = parseHexPair(name, ".snap");
  return pair && { term: pair[0], index: pair[1] };
}

/**
 * Writes one snapshot file from chunks: create() opens the temp file and writes the header,
 * write() frames data as it comes, finish() seals it (end record, datasync, rename into place),
 * abort() removes the temp file. The caller syncs the directory after finish().
 */
export class SnapshotFileWriter {
  private readonly frame: Buffer;
  private fill = 0;
  private pos: number;
  private total = 0;
  private done = false;

  private constructor(
    private readonly fs: FileSystem,
    private readonly fh: FileHandle,
    private readonly tmp: string,
    private readonly path: string,
    private crc: number,
    headerSize: number,
    frameSize: number,
  ) {
    this.frame = Buffer.allocUnsafe(4 + frameSize + 4);
    this.pos = headerSize;
  }

  /**
   * Opens the temp file `dir/tmpName` (replacing a leftover) and writes the header of
   * `metadata`; finish() renames it to `dir/name`. Concurrent writers of one name need distinct
   * temp names.
   */
  static async create(
    fs: FileSystem,
    dir: string,
    name: string,
    tmpName: string,
    metadata: SnapshotMetadata,
    frameSize = FRAME_SIZE,
  ): Promise<SnapshotFileWriter> {
    const meta = packr.pack([metadata.index, metadata.term, encodeConf(metadata.conf)]);
    const header = Buffer.allocUnsafe(HEADER_SIZE + meta.length);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt32LE(meta.length, 4);
    meta.copy(header, HEADER_SIZE);
    const mcrc = crc32(meta, crc32(header.subarray(0, 8)));
    header.writeUInt32LE(mcrc, 8);
    const tmp = join(dir, tmpName);
    const fh = await fs.open(tmp, "w");
    const w = new SnapshotFileWriter(fs, fh, tmp, join(dir, name), mcrc, header.length, frameSize);
    try {
      await fh.write(header, 0);
    } catch (err) {
      await w.abort();
      throw err;
    }
    return w;
  }

  /** Appends `chunk` (copied: the caller may reuse it once the promise settles). */
  async write(chunk: Uint8Array): Promise<void> {
    const room = this.frame.length - 8;
    for (let off = 0; off < chunk.length; ) {
      const n = Math.min(room - this.fill, chunk.length - off);
      this.frame.set(chunk.subarray(off, off + n), 4 + this.fill);
      this.fill += n;
      off += n;
      if (this.fill === room) await this.flushFrame();
    }
  }

  /** Writes the last frame and the end record, makes the file durable and renames it. */
  async finish(): Promise<void> {
    if (this.fill > 0) await this.flushFrame();
    const end = Buffer.allocUnsafe(16);
    end.writeUInt32LE(0, 0);
    end.writeBigUInt64LE(BigInt(this.total), 4);
    end.writeUInt32LE(crc32(end.subarray(0, 12), this.crc), 12);
    await this.fh.write(end, this.pos);
    await this.fh.datasync();
    this.done = true;
    await this.fh.close();
    await this.fs.rename(this.tmp, this.path);
  }

  /** Closes and removes the temp file (best effort: errors are ignored, open() cleans up). */
  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.fh.close().catch(() => {});
    }
    await unlinkIfExists(this.fs, this.tmp).catch(() => {});
  }

  private async flushFrame(): Promise<void> {
    const f = this.frame;
    const len = this.fill;
    f.writeUInt32LE(len, 0);
    this.crc = crc32(f.subarray(0, 4 + len), this.crc);
    f.writeUInt32LE(this.crc, 4 + len);
    await this.fh.write(f.subarray(0, 8 + len), this.pos);
    this.pos += 8 + len;
    this.total += len;
    this.fill = 0;
  }
}

/**
 * Writes `dir/name` from `chunks` atomically (through `dir/tmpName`); on any error removes the
 * temp file and rethrows.
 */
export async function writeSnapshotFile(
  fs: FileSystem,
  dir: string,
  name: string,
  tmpName: string,
  metadata: SnapshotMetadata,
  chunks: Chunks,
): Promise<void> {
  const w = await SnapshotFileWriter.create(fs, dir, name, tmpName, metadata);
  try {
    for await (const chunk of chunks) await w.write(chunk);
    await w.finish();
  } catch (err) {
    await w.abort();
    throw err;
  }
}

/** An open snapshot file: its metadata, then its data as verified chunks. */
export interface SnapshotFileReader {
  readonly metadata: SnapshotMetadata;
  /**
   * The data, frame by frame (the caller owns each chunk). Each is verified before it is
   * yielded; the end record is verified before the iteration completes. Throws
   * StorageCorruptionError naming the file and the offset of the damaged frame. Closes the file
   * when the iteration ends, however it ends. Call it once.
   */
  chunks(): AsyncGenerator<Uint8Array>;
  /** Closes the file without reading (not needed after chunks() was iterated). */
  close(): Promise<void>;
}

/**
 * Opens the snapshot file at `path` and verifies its header. Throws StorageCorruptionError if it
 * is missing (`missing` says why that is damage) or is not a valid snapshot file.
 */
export async function openSnapshotFile(
  fs: FileSystem,
  path: string,
  missing = "the WAL names this snapshot but its file is missing",
): Promise<SnapshotFileReader> {
  let fh: FileHandle;
  try {
    fh = await fs.open(path, "r");
  } catch (err) {
    if (errorCode(err) === "ENOENT") throw new StorageCorruptionError(path, 0, missing);
    throw err;
  }
  let v1 = false;
  try {
    const head = await readExactly(fh, path, 0, HEADER_SIZE, "snapshot header");
    const magic = head.readUInt32LE(0);
    v1 = magic === MAGIC_V1;
    if (v1) return await readV1(fh, path);
    if (magic !== MAGIC) throw new StorageCorruptionError(path, 0, "not a raftwork snapshot file");
    const mlen = head.readUInt32LE(4);
    if (mlen > MAX_META) throw new StorageCorruptionError(path, 0, "implausible header length");
    const meta = await readExactly(fh, path, HEADER_SIZE, mlen, "snapshot header", 0);
    const mcrc = crc32(meta, crc32(head.subarray(0, 8)));
    if (mcrc !== head.readUInt32LE(8)) {
      throw new StorageCorruptionError(path, 0, "snapshot header checksum mismatch");
    }
    const metadata = decodeMeta(unpack(meta), path, 0);
    return {
      metadata,
      chunks: () => framesOf(fh, path, HEADER_SIZE + mlen, mcrc),
      close: () => fh.close(),
    };
  } catch (err) {
    if (!v1) await fh.close();
    throw err;
  } finally {
    if (v1) await fh.close();
  }
}

async function* framesOf(
  fh: FileHandle,
  path: string,
  start: number,
  seed: number,
): AsyncGenerator<Uint8Array> {
  try {
    let pos = start;
    let crc = seed;
    let total = 0;
    // Each read takes a frame's data and crc and the next frame's len: one read per frame.
    let len = (await readExactly(fh, path, pos, 4, "snapshot frame")).readUInt32LE(0);
    while (len !== 0) {
      if (len > MAX_FRAME) throw new StorageCorruptionError(path, pos, "implausible frame length");
      const buf = await readExactly(fh, path, pos + 4, len + 8, "snapshot frame", pos);
      const lenBytes = Buffer.allocUnsafe(4);
      lenBytes.writeUInt32LE(len, 0);
      crc = crc32(buf.subarray(0, len), crc32(lenBytes, crc));
      if (crc !== buf.readUInt32LE(len)) {
        throw new StorageCorruptionError(path, pos, "snapshot frame checksum mismatch");
      }
      total += len;
      pos += 8 + len;
      len = buf.readUInt32LE(len + 4);
      yield new Uint8Array(buf.buffer, buf.byteOffset, buf.length - 8);
    }
    const end = await readExactly(fh, path, pos, 16, "snapshot end record");
    if (crc32(end.subarray(0, 12), crc) !== end.readUInt32LE(12)) {
      throw new StorageCorruptionError(path, pos, "snapshot end record checksum mismatch");
    }
    if (Number(end.readBigUInt64LE(4)) !== total) {
      throw new StorageCorruptionError(path, pos, "snapshot length does not match its frames");
    }
    if ((await fh.read(Buffer.allocUnsafe(1), pos + 16)) !== 0) {
      throw new StorageCorruptionError(path, pos + 16, "bytes after the snapshot's end record");
    }
  } finally {
    await fh.close();
  }
}

/** Format 1: one checksum over the whole payload, so it is read and verified whole. */
async function readV1(fh: FileHandle, path: string): Promise<SnapshotFileReader> {
  const buf = Buffer.allocUnsafe(await fh.size());
  await fh.read(buf, 0);
  const payload = buf.subarray(8);
  if (buf.length < 8 || crc32(payload) !== buf.readUInt32LE(4)) {
    throw new StorageCorruptionError(path, 8, "snapshot checksum mismatch");
  }
  const v = unpack(payload);
  if (!Array.isArray(v) || v.length !== 4 || !(v[3] instanceof Uint8Array)) {
    throw new StorageCorruptionError(path, 8, "snapshot payload does not parse");
  }
  const data = new Uint8Array(v[3]);
  return {
    metadata: decodeMeta(v.slice(0, 3), path, 8),
    async *chunks() {
      yield data;
    },
    close: async () => {},
  };
}

function decodeMeta(v: unknown, path: string, offset: number): SnapshotMetadata {
  if (!Array.isArray(v) || v.length !== 3) {
    throw new StorageCorruptionError(path, offset, "snapshot metadata does not parse");
  }
  const [index, term, rawConf] = v as unknown[];
  if (!isNat(index) || !isNat(term)) {
    throw new StorageCorruptionError(path, offset, "snapshot metadata does not parse");
  }
  const conf = decodeConf(rawConf);
  if (conf === null) {
    throw new StorageCorruptionError(path, offset, "snapshot configuration does not parse");
  }
  return { index, term, conf };
}

/** msgpack-decoded `bytes`, or undefined for bytes that are no msgpack (decodeMeta refuses it). */
function unpack(bytes: Buffer): unknown {
  try {
    return packr.unpack(bytes);
  } catch {
    return undefined;
  }
}

const isNat = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * `length` bytes at `pos`, part of the `what` that starts at `start`; a file that ends first is
 * damaged there (snapshot files are never torn: they are renamed into place once durable).
 */
async function readExactly(
  fh: FileHandle,
  path: string,
  pos: number,
  length: number,
  what: string,
  start = pos,
): Promise<Buffer> {
  // Not from the shared pool: a frame handed to the caller must not pin or expose other data.
  const buf = Buffer.allocUnsafeSlow(length);
  if ((await fh.read(buf, pos)) < length) {
    throw new StorageCorruptionError(path, start, `the file ends inside the ${what}`);
  }
  return buf;
}

/** The whole snapshot in one buffer (for callers that want it so: load()). */
export async function readSnapshotFile(fs: FileSystem, path: string): Promise<Snapshot> {
  const r = await openSnapshotFile(fs, path);
  return { metadata: r.metadata, data: await collectChunks(r.chunks()) };
}
