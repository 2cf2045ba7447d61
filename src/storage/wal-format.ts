// The on-disk format of FileStorage's write-ahead log: segment headers, records and their payloads.
//
//   DIR/LOCK                                   pid of the process that owns DIR
//   DIR/wal/<seq:016x>-<firstIndex:016x>.wal   log segments, replayed in seq order
//   DIR/snap/<term:016x>-<index:016x>.snap     the newest snapshot (see snap-files.ts)
//
// A segment is a 32-byte header followed by records (integers little-endian):
//
//   0       4       8               16              24      28      32
//   +-------+-------+---------------+---------------+-------+-------+
//   | "RWAL"|version|  seq (u64)    | firstIndex    | seed  | hcrc  |  segment header
//   +-------+-------+---------------+---------------+-------+-------+
//   | record | record | record | ...                                   (up to ~segmentSize)
//
//   record:
//   +-----------+------+---------+----------------------+-----------+
//   | len (u32) | type | 0, 0, 0 | payload (len bytes)  | crc (u32) |
//   +-----------+------+---------+----------------------+-----------+
//
//   hcrc = crc32(header bytes 0..27)        (covers seed)
//   crc  = crc32(len ‖ type ‖ 0,0,0 ‖ payload, starting from the previous crc)
//          where the "previous crc" of a segment's first record is its hcrc.
//
// The CRCs form one chain through the whole log: `seed` is the crc of the previous segment's last
// record, so a segment can be verified on its own once older segments are deleted, and a record
// or segment spliced in from elsewhere breaks the chain. Because each record's crc trails it, the
// 4 bytes before any record are the seed of its crc: recovery can test whether an intact record
// exists anywhere after a damaged one (see wal-reader.ts).
//
// `type` = kind | LAST_IN_BATCH. A WriteBatch is one to three records (snapshot marker, entries,
// hard state); only its last record carries LAST_IN_BATCH, so replay applies whole batches only
// and a torn batch at the tail is discarded whole. Payloads are msgpack arrays:
//   entries:          [firstIndex, [[term, kind (0 normal, 1 conf), data], ...]]
//   hard state:       [term, vote, commit]
//   snapshot marker:  [index, term, conf (conf-codec.ts), keptLog (1 if the log after index was kept)]
// Every segment starts with a batch restating the current snapshot marker and hard state, so
// replay can begin at any segment whose predecessors a snapshot made obsolete.

import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import type { Entry, EntryType, HardState, SnapshotMetadata } from "../raft/types.js";
import { decodeConf, encodeConf } from "./conf-codec.js";

export const SEGMENT_MAGIC = 0x4c415752; // "RWAL" read as little-endian u32
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_SIZE = 32;
export const RECORD_HEADER_SIZE = 8;
export const RECORD_TRAILER_SIZE = 4;
export const RECORD_OVERHEAD = RECORD_HEADER_SIZE + RECORD_TRAILER_SIZE;
/** Sanity bound on one record; a header claiming more is damaged. */
export const MAX_RECORD_SIZE = 1 << 30;

export const RecordKind = { Entries: 1, HardState: 2, Snapshot: 3 } as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];
export const LAST_IN_BATCH = 0x80;

export const packr = new Packr({ useRecords: false });

export interface SegmentHeader {
  seq: number;
  firstIndex: number;
  seed: number;
  /** crc of the header itself: the chain value the segment's first record starts from. */
  hcrc: number;
}

export function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

export function parseSegmentName(name: string): { seq: number; firstIndex: number } | null {
  const pair = parseHexPair(name, ".wal");
  return pair && { seq: pair[0], firstIndex: pair[1] };
}

/** The two numbers of a file name `<hex16>-<hex16><ext>` (segments, snapshots), or null. */
export function parseHexPair(name: string, ext: string): [number, number] | null {
  const m = /^([0-9a-f]{16})-([0-9a-f]{16})(\.[a-z]+)$/.exec(name);
  if (!m || m[3] !== ext) return null;
  return [Number.parseInt(m[1] as string, 16), Number.parseInt(m[2] as string, 16)];
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}

/** The header bytes, and their crc: the chain value the segment's first record starts from. */
export function encodeSegmentHeader(
  seq: number,
  firstIndex: number,
  seed: number,
): { bytes: Buffer; hcrc: number } {
  const b = Buffer.alloc(SEGMENT_HEADER_SIZE);
  b.writeUInt32LE(SEGMENT_MAGIC, 0);
  b.writeUInt32LE(SEGMENT_VERSION, 4);
  b.writeBigUInt64LE(BigInt(seq), 8);
  b.writeBigUInt64LE(BigInt(firstIndex), 16);
  b.writeUInt32LE(seed, 24);
  const hcrc = crc32(b.subarray(0, 28));
  b.writeUInt32LE(hcrc, 28);
  return { bytes: b, hcrc };
}

/** Parses a header; returns a reason string when it is not a valid header. */
export function decodeSegmentHeader(b: Buffer): SegmentHeader | string {
  if (b.length < SEGMENT_HEADER_SIZE) return "segment header is incomplete";
  if (b.readUInt32LE(0) !== SEGMENT_MAGIC) return "not a raftwork WAL segment (bad magic)";
  if (b.readUInt32LE(4) !== SEGMENT_VERSION) return `unsupported WAL version ${b.readUInt32LE(4)}`;
  const hcrc = b.readUInt32LE(28);
  if (crc32(b.subarray(0, 28)) !== hcrc) return "segment header checksum mismatch";
  return {
    seq: Number(b.readBigUInt64LE(8)),
    firstIndex: Number(b.readBigUInt64LE(16)),
    seed: b.readUInt32LE(24),
    hcrc,
  };
}

/**
 * Appends records to a growing in-memory chunk, chaining their CRCs. The chunk is what sync()
 * writes with a single write call.
 */
export class RecordEncoder {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;

  constructor(public crc: number) {}

  get size(): number {
    return this.len;
  }

  /** Appends raw bytes that are not a record (a segment header). */
  appendRaw(bytes: Buffer): void {
    this.reserve(bytes.length);
    bytes.copy(this.buf, this.len);
    this.len += bytes.length;
  }

  append(kind: RecordKind, last: boolean, payload: Buffer): void {
    const start = this.len;
    this.reserve(payload.length + RECORD_OVERHEAD);
    const b = this.buf;
    b.writeUInt32LE(payload.length, start);
    b.writeUInt32LE(kind | (last ? LAST_IN_BATCH : 0), start + 4); // type byte + three zeros
    payload.copy(b, start + RECORD_HEADER_SIZE);
    const end = start + RECORD_HEADER_SIZE + payload.length;
    this.crc = crc32(b.subarray(start, end), this.crc);
    b.writeUInt32LE(this.crc, end);
    this.len = end + RECORD_TRAILER_SIZE;
  }

  /** Hands the encoded bytes over and starts a new, empty chunk. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.buf = Buffer.allocUnsafe(Math.max(64 * 1024, Math.min(this.buf.length, 1 << 22)));
    this.len = 0;
    return out;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

const KIND_CODE: Record<EntryType, number> = { normal: 0, conf: 1 };
const CODE_KIND: readonly EntryType[] = ["normal", "conf"];

export function encodeEntries(entries: readonly Entry[]): Buffer {
  return packr.pack([
    (entries[0] as Entry).index,
    entries.map((e) => {
      const kind = KIND_CODE[e.type];
      if (kind === undefined) throw new Error(`storage: unknown entry type ${String(e.type)}`);
      return [e.term, kind, e.data];
    }),
  ]);
}

export function encodeHardState(hs: HardState): Buffer {
  return packr.pack([hs.term, hs.vote, hs.commit]);
}

export function encodeSnapshotMarker(m: SnapshotMetadata, keptLog: boolean): Buffer {
  return packr.pack([m.index, m.term, encodeConf(m.conf), keptLog ? 1 : 0]);
}

// Decoders validate shape strictly: a record that passes its CRC but does not parse means a bug
// or a foreign file, and is reported as corruption by the caller (they return null).

const isNat = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

export function decodeEntries(payload: Buffer): Entry[] | null {
  const v = packr.unpack(payload) as unknown;
  if (!Array.isArray(v) || v.length !== 2 || !isNat(v[0]) || !Array.isArray(v[1])) return null;
  const first = v[0];
  const out: Entry[] = [];
  for (const [i, e] of (v[1] as unknown[]).entries()) {
    if (!Array.isArray(e) || e.length !== 3 || !isNat(e[0]) || !(e[2] instanceof Uint8Array)) {
      return null;
    }
    const type = CODE_KIND[e[1] as number];
    if (type === undefined) return null;
    // Copied out of the segment buffer so a loaded entry does not pin the whole file in memory.
    out.push({ index: first + i, term: e[0], type, data: new Uint8Array(e[2]) });
  }
  return out.length > 0 ? out : null;
}

export function decodeHardState(payload: Buffer): HardState | null {
  const v = packr.unpack(payload) as unknown;
  if (!Array.isArray(v) || v.length !== 3) return null;
  const [term, vote, commit] = v as unknown[];
  if (!isNat(term) || !isNat(vote) || !isNat(commit)) return null;
  return { term, vote, commit };
}

export interface SnapshotMarker {
  metadata: SnapshotMetadata;
  keptLog: boolean;
}

export function decodeSnapshotMarker(payload: Buffer): SnapshotMarker | null {
  const v = packr.unpack(payload) as unknown;
  if (!Array.isArray(v) || v.length !== 4 || !isNat(v[0]) || !isNat(v[1])) return null;
  const conf = decodeConf(v[2]);
  if (conf === null || (v[3] !== 0 && v[3] !== 1)) return null;
  return { metadata: { index: v[0], term: v[1], conf }, keptLog: v[3] === 1 };
}
