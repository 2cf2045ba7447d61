// Reads and verifies one WAL segment (format in wal-format.ts) and decides what damage means.
//
// An interrupted write can only damage the end of the newest segment: the bytes after the last
// fsync may be missing, zero or half-written, but nothing the process never wrote can appear
// after them intact. So a damaged record is a torn tail exactly when it is in the last segment
// and no intact record follows it anywhere in the file; recovery then discards it together with
// the rest of its batch. Any other damage is corruption of data that was reported durable, and
// reading stops with a StorageCorruptionError naming the file and offset.
//
// Segments are preallocated (zero-filled ahead, see file-storage.ts), so the newest one normally
// ends in zeros: zeros from a batch boundary to the end of the file are the end of the log, not
// damage. A record never starts with zeros (its type byte is non-zero), so this hides nothing;
// zeros after part of a batch are still a torn batch.

import { crc32 } from "node:zlib";
import type { Entry, HardState } from "../raft/types.js";
import { StorageCorruptionError } from "./errors.js";
import {
  decodeEntries,
  decodeHardState,
  decodeSegmentHeader,
  decodeSnapshotMarker,
  LAST_IN_BATCH,
  MAX_RECORD_SIZE,
  RECORD_HEADER_SIZE,
  RECORD_OVERHEAD,
  RecordKind,
  SEGMENT_HEADER_SIZE,
  type SegmentHeader,
  type SnapshotMarker,
} from "./wal-format.js";

/** One WriteBatch as found in the WAL, with where it starts (for error messages). */
export interface DecodedBatch {
  snapshot?: SnapshotMarker;
  entries?: Entry[];
  hardState?: HardState;
  path: string;
  offset: number;
}

export interface SegmentScan {
  header: SegmentHeader;
  batches: DecodedBatch[];
  /** Offset just past the last whole batch: where appending resumes. */
  end: number;
  /** The chain crc at `end`. */
  crc: number;
  /** True if bytes after `end` are a torn write to discard (last segment only). */
  torn: boolean;
}

/** True if buf[from..] is all zero bytes (the unused, preallocated rest of a segment). */
export function isZeroTail(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * True if a segment file holds no header at all: created but crashed before its first write
 * reached the disk (the header is written in one sector-sized piece, so it is all or nothing).
 */
export function isUnwrittenSegment(buf: Buffer): boolean {
  const head = buf.subarray(0, SEGMENT_HEADER_SIZE);
  return head.length < SEGMENT_HEADER_SIZE || head.every((b) => b === 0);
}

export function scanSegment(path: string, buf: Buffer, isLast: boolean): SegmentScan {
  const header = decodeSegmentHeader(buf);
  if (typeof header === "string") throw new StorageCorruptionError(path, 0, header);
  const batches: DecodedBatch[] = [];
  let off = SEGMENT_HEADER_SIZE;
  let crc = header.hcrc;
  let batch: DecodedBatch = { path, offset: off };
  let batchCrc = crc;
  while (off < buf.length) {
    if (isLast && off === batch.offset && buf[off] === 0 && isZeroTail(buf, off)) {
      return { header, batches, end: off, crc, torn: false };
    }
    const rec = checkRecord(buf, off, crc);
    if (typeof rec === "string") {
      if (isLast && !intactRecordAfter(buf, off, crc)) {
        return { header, batches, end: batch.offset, crc: batchCrc, torn: true };
      }
      throw new StorageCorruptionError(path, off, rec);
    }
    const payload = buf.subarray(off + RECORD_HEADER_SIZE, rec.end - 4);
    if (!decodeInto(batch, rec.kind, payload)) {
      throw new StorageCorruptionError(path, off, "record passed its checksum but does not parse");
    }
    crc = rec.crc;
    off = rec.end;
    if (rec.last) {
      batches.push(batch);
      batch = { path, offset: off };
      batchCrc = crc;
    }
  }
  if (off !== batch.offset) {
    // The file ends inside a batch: its remaining records were never written.
    if (!isLast) {
      throw new StorageCorruptionError(path, batch.offset, "segment ends in the middle of a batch");
    }
    return { header, batches, end: batch.offset, crc: batchCrc, torn: true };
  }
  return { header, batches, end: off, crc, torn: false };
}

interface CheckedRecord {
  kind: number;
  last: boolean;
  end: number;
  crc: number;
}

/** Verifies the record at `off` against the chain value `seed`; a string says what is wrong. */
function checkRecord(buf: Buffer, off: number, seed: number): CheckedRecord | string {
  const framing = recordEnd(buf, off);
  if (typeof framing === "string") return framing;
  const crc = crc32(buf.subarray(off, framing - 4), seed);
  if (crc !== buf.readUInt32LE(framing - 4)) return "record checksum mismatch";
  const type = buf[off + 4] as number;
  return { kind: type & ~LAST_IN_BATCH, last: (type & LAST_IN_BATCH) !== 0, end: framing, crc };
}

/** Where the record at `off` ends if its header is well-formed, or what is wrong with it. */
function recordEnd(buf: Buffer, off: number): number | string {
  if (off + RECORD_OVERHEAD > buf.length) return "record header runs past the end of the file";
  const len = buf.readUInt32LE(off);
  const kind = (buf[off + 4] as number) & ~LAST_IN_BATCH;
  if (kind < RecordKind.Entries || kind > RecordKind.Snapshot) return `unknown record type ${kind}`;
  if (buf[off + 5] !== 0 || buf[off + 6] !== 0 || buf[off + 7] !== 0) return "bad record header";
  if (len > MAX_RECORD_SIZE) return `implausible record length ${len}`;
  const end = off + RECORD_OVERHEAD + len;
  if (end > buf.length) return "record runs past the end of the file";
  return end;
}

/**
 * Whether any intact record exists after the damaged one at `off` (then the damage is not a torn
 * tail). Two ways to find one: (1) the damaged record's framing is intact and only its trailer
 * was hit, so its successor verifies against the crc its body should have; (2) some later offset
 * holds a well-formed record whose crc verifies against the 4 bytes before it (the trailer of
 * its predecessor, which is its seed).
 */
function intactRecordAfter(buf: Buffer, off: number, seed: number): boolean {
  const end = recordEnd(buf, off);
  if (typeof end === "number" && end < buf.length) {
    const bodyCrc = crc32(buf.subarray(off, end - 4), seed);
    if (typeof checkRecord(buf, end, bodyCrc) !== "string") return true;
  }
  for (let p = off + 1; p + RECORD_OVERHEAD <= buf.length; p++) {
    // Cheap filter first: a plausible type byte followed by three zero bytes.
    const kind = (buf[p + 4] as number) & ~LAST_IN_BATCH;
    if (kind < RecordKind.Entries || kind > RecordKind.Snapshot) continue;
    if (buf[p + 5] !== 0 || buf[p + 6] !== 0 || buf[p + 7] !== 0) continue;
    if (typeof checkRecord(buf, p, buf.readUInt32LE(p - 4)) !== "string") return true;
  }
  return false;
}

function decodeInto(batch: DecodedBatch, kind: number, payload: Buffer): boolean {
  try {
    switch (kind) {
      case RecordKind.Entries: {
        const entries = decodeEntries(payload);
        if (!entries || batch.entries) return false;
        batch.entries = entries;
        return true;
      }
      case RecordKind.HardState: {
        const hs = decodeHardState(payload);
        if (!hs || batch.hardState) return false;
        batch.hardState = hs;
        return true;
      }
      case RecordKind.Snapshot: {
        const marker = decodeSnapshotMarker(payload);
        if (!marker || batch.snapshot) return false;
        batch.snapshot = marker;
        return true;
      }
      default:
        return false;
    }
  } catch {
    return false; // msgpack decoding threw: garbage that happened to match its CRC
  }
}
