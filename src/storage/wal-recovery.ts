// Recovery: read every WAL segment, repair a torn tail, and replay the batches into the state the
// node restarts from.

import { join } from "node:path";
import type { Entry, HardState, SnapshotMetadata } from "../raft/types.js";
import { StorageCorruptionError } from "./errors.js";
import type { FileSystem } from "./fs/file-system.js";
import { EMPTY_HARD_STATE } from "./storage.js";
import { parseSegmentName, SEGMENT_HEADER_SIZE } from "./wal-format.js";
import { type DecodedBatch, isUnwrittenSegment, scanSegment } from "./wal-reader.js";

export interface SegmentFile {
  seq: number;
  /** lastIndex + 1 when the segment was started: no entry it holds is live below this. */
  firstIndex: number;
  path: string;
  /** Bytes durably written. */
  size: number;
  /** Length of the file: more than `size` when its zero-filled rest is preallocated. */
  allocated: number;
}

export interface RecoveredWal {
  hardState: HardState;
  /** The snapshot the log is based on (its data is in the snapshot file of that name). */
  snapshot: SnapshotMetadata | null;
  entries: Entry[];
  /** Live segments in order; the last one is where appending resumes. */
  segments: SegmentFile[];
  /** Chain crc at the end of the last segment. */
  crc: number;
  /** Whether the last segment holds at least one whole batch (its opening state batch). */
  lastHasBatch: boolean;
}

/**
 * Reads `walDir`. Given a `repairs` list (at open, holding the lock), a torn tail is cut off the
 * last segment and a segment whose header never reached the disk is removed, each described in
 * `repairs`; given null, the files are only read. Returns null if there is no segment (new store).
 */
export async function recoverWal(
  fs: FileSystem,
  walDir: string,
  repairs: string[] | null,
): Promise<RecoveredWal | null> {
  const segments: SegmentFile[] = [];
  for (const name of (await fs.readdir(walDir)).sort()) {
    const parsed = parseSegmentName(name);
    if (parsed) segments.push({ ...parsed, path: join(walDir, name), size: 0, allocated: 0 });
  }
  const batches: DecodedBatch[] = [];
  let crc = 0;
  let lastHasBatch = false;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as SegmentFile;
    const isLast = i === segments.length - 1;
    const prev = segments[i - 1];
    if (prev && seg.seq !== prev.seq + 1) {
      throw new StorageCorruptionError(seg.path, 0, `WAL segment ${prev.seq + 1} is missing`);
    }
    const buf = await fs.readFile(seg.path);
    if (isLast && isUnwrittenSegment(buf) && (prev || seg.seq === 0)) {
      // Created, then the process died before the first write reached the disk.
      if (repairs) {
        await fs.unlink(seg.path);
        repairs.push(`removed ${seg.path}: created but never written before a crash`);
      }
      segments.pop();
      break;
    }
    const scan = scanSegment(seg.path, buf, isLast);
    const { header } = scan;
    if (header.seq !== seg.seq || header.firstIndex !== seg.firstIndex) {
      throw new StorageCorruptionError(seg.path, 0, "segment header does not match its file name");
    }
    if (prev && header.seed !== crc) {
      throw new StorageCorruptionError(
        seg.path,
        24,
        "CRC chain broken: this segment does not continue the previous one",
      );
    }
    if (scan.torn && repairs) {
      await truncateFile(fs, seg.path, scan.end);
      repairs.push(
        `truncated ${seg.path} from ${buf.length} to ${scan.end} bytes: a write torn by a crash`,
      );
    }
    seg.size = scan.end;
    seg.allocated = scan.torn ? scan.end : buf.length;
    crc = scan.crc;
    lastHasBatch = scan.batches.length > 0;
    for (const b of scan.batches) batches.push(b);
  }
  const first = segments[0];
  if (!first) return null;
  return { ...replay(batches, first), segments, crc, lastHasBatch };
}

/**
 * Replays batches in log order. Only entries above the final base B (the last snapshot marker in
 * the WAL, i.e. the newest snapshot) survive, and those were all written in live segments, so
 * replay tracks just them while re-enacting what each batch did at the time it was written:
 *  - a marker moved the base then; if it dropped the log (recorded as keptLog = false, because
 *    the terms that decided it may be in deleted segments) nothing written before survives;
 *  - an append [f..g] was a no-op if g was at or below the base of the time; otherwise it
 *    truncated the log from max(f, base + 1) on and appended (see log-state.ts).
 */
function replay(
  batches: DecodedBatch[],
  first: SegmentFile,
): Pick<RecoveredWal, "hardState" | "snapshot" | "entries"> {
  let final: SnapshotMetadata | null = null;
  for (const b of batches) if (b.snapshot) final = b.snapshot.metadata;
  const B = final?.index ?? 0;
  // Segments before `first` were deleted because a snapshot covered every entry they held.
  if (first.firstIndex - 1 > B) {
    throw new StorageCorruptionError(
      first.path,
      0,
      `the WAL starts at index ${first.firstIndex} but no snapshot covers the entries before it`,
    );
  }
  let hardState: HardState = { ...EMPTY_HARD_STATE };
  let base = 0; // the snapshot index in force when the batch being replayed was written
  const live: Entry[] = []; // contiguous from B + 1
  for (const b of batches) {
    if (b.snapshot) {
      base = b.snapshot.metadata.index;
      if (!b.snapshot.keptLog) live.length = 0;
    }
    const es = b.entries;
    const g = es?.at(-1)?.index ?? 0;
    if (es && g > base) {
      const from = Math.max((es[0] as Entry).index, base + 1);
      if (from > B + live.length + 1) {
        throw new StorageCorruptionError(
          b.path,
          b.offset,
          `entries start at ${from} but the log ends at ${B + live.length} (gap)`,
        );
      }
      live.length = Math.max(0, from - B - 1);
      for (const e of es) if (e.index >= from && e.index > B) live.push(e);
    }
    if (b.hardState) hardState = b.hardState;
  }
  return { hardState, snapshot: final, entries: live };
}

async function truncateFile(fs: FileSystem, path: string, size: number): Promise<void> {
  const fh = await fs.open(path, "r+");
  try {
    await fh.truncate(Math.max(size, SEGMENT_HEADER_SIZE));
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
