// The backup file (docs/architecture.md, "Backups"): what GET /v1/snapshot and the etcd API's
// Maintenance.Snapshot stream, `kv snapshot save` stores and `kv snapshot restore` reads.
//
//   offset  size
//   0       8    magic "RWBACKUP"
//   8       4    format version, u32 little-endian (1)
//   12      4    header length H, u32 LE
//   16      H    header, UTF-8 JSON: {"index", "term", "conf", "node", "createdAt"}
//   16+H    ...  the state machine's snapshot as frames: u32 LE length L > 0, then L bytes;
//                a frame of length 0 ends them (the writer streams, so no total up front)
//           ...  zero bytes up to the next multiple of 512
//           32   sha256 of every byte before it
//
// The size is therefore 512k + 32 and the file ends with the sha256 of the rest: the shape
// etcdctl 3.4's `snapshot save` checks (clientv3/snapshot: size % 512 == sha256.Size), so the
// same bytes can come through either API. Nothing here knows the state machine's own format:
// the frames carry KvStateMachine.snapshot()'s bytes as they are.

import { createHash, type Hash } from "node:crypto";
import type { ConfState, NodeId } from "../raft/types.js";
import { err, ok, type Result } from "../util/result.js";

export const BACKUP_MAGIC = Buffer.from("RWBACKUP", "latin1");
export const BACKUP_VERSION = 1;
const PREFIX_BYTES = 16;
const SUM_BYTES = 32;
const PAD = 512;
/** A header is a few hundred bytes; anything near this is not one. */
const MAX_HEADER_BYTES = 1024 * 1024;

/** What a backup says about the state it holds. */
export interface BackupMeta {
  /** The applied index the state machine's state is at. */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
  /** The configuration in effect at `index`. */
  conf: ConfState;
  /** The member that took the backup. */
  node: NodeId;
  /** When, in ms since the epoch (the member's clock: informational). */
  createdAt: number;
}

export interface Backup {
  meta: BackupMeta;
  /** The state machine's snapshot bytes. */
  data: Buffer;
}

/**
 * The backup file as a stream of chunks: the prefix and header, one frame per chunk of `data`
 * (empty chunks are skipped: a zero length ends the frames), the padding and the checksum.
 * Nothing is held beyond the chunk in hand, so a large state is never copied whole.
 */
export async function* encodeBackup(
  meta: BackupMeta,
  data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  let size = 0;
  const emit = (b: Buffer): Buffer => {
    hash.update(b);
    size += b.length;
    return b;
  };
  const header = Buffer.from(JSON.stringify(meta), "utf8");
  const prefix = Buffer.alloc(PREFIX_BYTES);
  BACKUP_MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(BACKUP_VERSION, 8);
  prefix.writeUInt32LE(header.length, 12);
  yield emit(Buffer.concat([prefix, header]));
  for await (const chunk of data) {
    if (chunk.length === 0) continue;
    const frame = Buffer.alloc(4);
    frame.writeUInt32LE(chunk.length, 0);
    yield emit(frame);
    yield emit(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }
  const end = Buffer.alloc(4);
  yield emit(end);
  const pad = (PAD - (size % PAD)) % PAD;
  if (pad > 0) yield emit(Buffer.alloc(pad));
  yield hash.digest();
}

/**
 * Checks a file's shape and checksum as it streams by (`kv snapshot save` verifies what it
 * wrote without reading it twice): feed every chunk to update(), then finish().
 */
export class BackupVerifier {
  private readonly hash: Hash = createHash("sha256");
  /** The last SUM_BYTES bytes seen, which are not hashed until more bytes push them out. */
  private tail = Buffer.alloc(0);
  private head = Buffer.alloc(0);
  size = 0;

  update(chunk: Uint8Array): void {
    this.size += chunk.length;
    if (this.head.length < PREFIX_BYTES) {
      this.head = Buffer.concat([this.head, chunk]).subarray(0, PREFIX_BYTES);
    }
    const all = Buffer.concat([this.tail, chunk]);
    const cut = Math.max(0, all.length - SUM_BYTES);
    this.hash.update(all.subarray(0, cut));
    this.tail = Buffer.from(all.subarray(cut));
  }

  /** ok once the whole file went through update() and it has the right shape and checksum. */
  finish(): Result<void> {
    const shape = checkPrefix(this.head, this.size);
    if (!shape.ok) return shape;
    if (!this.hash.digest().equals(this.tail)) return err(CHECKSUM_MISMATCH);
    return ok(undefined);
  }
}

const CHECKSUM_MISMATCH =
  "the backup is damaged: its sha256 checksum does not match its contents (a changed or truncated file)";

/** The checks that need only the first bytes and the size, in the order a user can act on. */
function checkPrefix(head: Buffer, size: number): Result<void> {
  if (size === 0) return err("the backup file is empty");
  const magic = head.subarray(0, BACKUP_MAGIC.length);
  if (!BACKUP_MAGIC.subarray(0, magic.length).equals(magic)) {
    return err(
      "not a raftwork backup (it does not start with RWBACKUP; an etcd server's snapshot is a bbolt database that raftwork cannot read)",
    );
  }
  if (size < PAD + SUM_BYTES || size % PAD !== SUM_BYTES) {
    return err(
      `the backup is truncated or padded: ${size} bytes, where a whole backup has 512k + 32 (an interrupted save?)`,
    );
  }
  const version = head.readUInt32LE(8);
  if (version !== BACKUP_VERSION) {
    return err(
      `the backup's format version is ${version}; this raftwork reads version ${BACKUP_VERSION}`,
    );
  }
  return ok(undefined);
}

/** Reads a whole backup file, checking every part; any damage gives a clear error. */
export function decodeBackup(file: Uint8Array): Result<Backup> {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.length);
  const shape = checkPrefix(buf.subarray(0, PREFIX_BYTES), buf.length);
  if (!shape.ok) return shape;
  const body = buf.subarray(0, buf.length - SUM_BYTES);
  const sum = createHash("sha256").update(body).digest();
  if (!sum.equals(buf.subarray(buf.length - SUM_BYTES))) return err(CHECKSUM_MISMATCH);
  // The checksum matched, so what follows fails only for a file written by a broken writer (or
  // forged with a matching sum): still answered with an error, never an exception.
  const headerLength = buf.readUInt32LE(12);
  if (headerLength > MAX_HEADER_BYTES || PREFIX_BYTES + headerLength > body.length) {
    return err(`the backup's header length ${headerLength} is out of range`);
  }
  const meta = parseMeta(buf.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength));
  if (!meta.ok) return meta;
  const parts: Buffer[] = [];
  let at = PREFIX_BYTES + headerLength;
  for (;;) {
    if (at + 4 > body.length) return err("the backup's data ends without its end marker");
    const len = body.readUInt32LE(at);
    at += 4;
    if (len === 0) break;
    if (at + len > body.length) return err(`the backup's data frame at byte ${at - 4} overruns it`);
    parts.push(body.subarray(at, at + len));
    at += len;
  }
  if (body.length - at >= PAD || body.subarray(at).some((b) => b !== 0)) {
    return err("the backup has unexpected bytes after its data");
  }
  return ok({ meta: meta.value, data: Buffer.concat(parts) });
}

function parseMeta(bytes: Buffer): Result<BackupMeta> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch {
    return err("the backup's header is not valid JSON");
  }
  const m = v as Partial<Record<keyof BackupMeta, unknown>>;
  const count = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (typeof v !== "object" || v === null) return err("the backup's header is not an object");
  if (!count(m.index) || !count(m.term) || !count(m.createdAt)) {
    return err("the backup's header lacks a whole index, term or createdAt");
  }
  if (!Number.isSafeInteger(m.node) || (m.node as number) < 1) {
    return err("the backup's header lacks the id of the member that took it");
  }
  const conf = parseConf(m.conf);
  if (conf === null) return err("the backup's header has no valid configuration");
  return ok({
    index: m.index as number,
    term: m.term as number,
    conf,
    node: m.node as number,
    createdAt: m.createdAt as number,
  });
}

function parseConf(v: unknown): ConfState | null {
  if (typeof v !== "object" || v === null) return null;
  const c = v as Record<string, unknown>;
  const ids = (x: unknown): x is NodeId[] =>
    Array.isArray(x) && x.every((id) => Number.isSafeInteger(id) && id >= 1);
  if (!ids(c.voters) || !ids(c.learners) || !ids(c.votersOutgoing) || !ids(c.learnersNext)) {
    return null;
  }
  if (typeof c.autoLeave !== "boolean") return null;
  return {
    voters: c.voters,
    learners: c.learners,
    votersOutgoing: c.votersOutgoing,
    learnersNext: c.learnersNext,
    autoLeave: c.autoLeave,
  };
}
