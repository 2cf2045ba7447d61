// Snapshots of the MVCC store, encoded and decoded a slice at a time.
//
// A snapshot is the store's logical state at one revision R (the revision when
// snapshotChunks() is called): every key's versions that compaction keeps (record.ts,
// retainedVersions), the compact revision, the leases with their granted TTL, and named extra
// sections for the layers above (the KV layer's client sessions, later auth state). History
// is immutable, so R is a clean cut: writes applied while the chunks are produced only add
// versions above R, which the encoder skips, and the store's pin() keeps pruning from dropping
// versions the encoder still needs. The bytes are a function of the logical state alone (not of
// how far each member has pruned), so every member encodes the same bytes at the same R.
//
// Stream layout: a sequence of records, each
//
//   +------------+---------+-----------------+
//   | u32 length | u8 type | payload (length) |     little-endian throughout
//   +------------+---------+-----------------+
//
//   HEADER  "RWMV", u16 format version, f64 revision, f64 compact revision
//   LEASES  u32 n, n x (i64 id, f64 ttl)                       (sorted by id)
//   KEYS    u32 n, n x (u32 key length, key bytes, u32 versions,
//                       versions x (f64 mod, f64 create, f64 version, i64 lease,
//                                   i32 value length or -1 for a tombstone, value bytes))
//   EXTRA   u16 name length, name (UTF-8), data          (records of one name concatenate)
//   END     f64 keys, f64 versions, f64 leases               (a check on what came before)
//
// Keys come in byte order across KEYS records, versions oldest first. Each chunk the encoder
// yields holds whole records of about `chunkBytes`; the decoder accepts any split of the
// stream.

import { RaftworkError } from "../../util/errors.js";
import { LeaseTable } from "../lease/lease-table.js";
import { toByteString } from "./keys.js";
import { type KeyRecord, retainedVersions, type Version } from "./record.js";
import { RevisionLog } from "./revision-log.js";
import { type MvccStore, newKeyIndex, type StoreImage } from "./store.js";

const FORMAT_VERSION = 1;
const MAGIC = 0x564d5752; // "RWMV" read as a little-endian u32
const HEADER = 1;
const LEASES = 2;
const KEYS = 3;
const EXTRA = 4;
const END = 5;
/** Bytes of a record's length and type. */
const RECORD_HEAD = 5;
/** Fixed bytes of one version: mod, create, version, lease, value length. */
const VERSION_FIXED = 8 * 4 + 4;
const DEFAULT_CHUNK_BYTES = 64 * 1024;
/** Key records fetched from the index per batch. */
const KEY_BATCH = 256;

export class SnapshotFormatError extends RaftworkError {
  readonly code = "MVCC_SNAPSHOT_FORMAT";
}

/** Thrown by a snapshot's iterator when the store was restored before it finished. */
export class SnapshotAbortedError extends RaftworkError {
  readonly code = "MVCC_SNAPSHOT_ABORTED";
}

export interface SnapshotOptions {
  /** Target size of each chunk (a chunk grows to hold one larger record). Default 64 KiB. */
  chunkBytes?: number;
  /** Named sections stored with the state, encoded by their owners at the cut. */
  extras?: ReadonlyArray<readonly [string, Uint8Array]>;
}

/** Appends records to chunks of about chunkBytes and hands out the finished chunks. */
class ChunkWriter {
  private buf: Buffer;
  private pos = 0;
  /** Offset of the open record's head, or -1. */
  private recordStart = -1;
  private recordCount = 0;
  private readonly done: Buffer[] = [];

  constructor(private readonly chunkBytes: number) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** Opens a record of `type` with room for `bytes` of payload in the current chunk. */
  open(type: number, bytes: number): void {
    this.room(RECORD_HEAD + bytes);
    this.recordStart = this.pos;
    this.buf[this.pos + 4] = type;
    this.pos += RECORD_HEAD;
    this.recordCount = 0;
  }

  /**
   * Makes room for `bytes` more inside the open KEYS/LEASES record, closing it and opening a
   * new one of the same type (with its count field) in a new chunk if they do not fit.
   */
  roomInCounted(type: number, bytes: number): void {
    if (this.recordStart >= 0 && this.pos + bytes <= this.buf.length) return;
    if (this.recordStart >= 0) this.closeCounted();
    this.open(type, 4 + bytes);
    this.pos += 4; // the count, filled by closeCounted
  }

  counted(): void {
    this.recordCount++;
  }

  closeCounted(): void {
    if (this.recordStart < 0) return;
    this.buf.writeUInt32LE(this.recordCount, this.recordStart + RECORD_HEAD);
    this.close();
  }

  close(): void {
    this.buf.writeUInt32LE(this.pos - this.recordStart - RECORD_HEAD, this.recordStart);
    this.recordStart = -1;
  }

  u16(v: number): void {
    this.pos = this.buf.writeUInt16LE(v, this.pos);
  }
  u32(v: number): void {
    this.pos = this.buf.writeUInt32LE(v, this.pos);
  }
  i32(v: number): void {
    this.pos = this.buf.writeInt32LE(v, this.pos);
  }
  f64(v: number): void {
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }
  i64(v: bigint): void {
    this.pos = this.buf.writeBigInt64LE(v, this.pos);
  }
  bytes(v: Uint8Array): void {
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }
  latin1(s: string): number {
    const n = this.buf.write(s, this.pos, "latin1");
    this.pos += n;
    return n;
  }

  /** Finished chunks since the last call. */
  take(): Buffer[] {
    return this.done.splice(0);
  }

  /** Ends the stream: the last chunk is finished too. */
  flush(): void {
    if (this.pos > 0) this.done.push(this.buf.subarray(0, this.pos));
    this.pos = 0;
  }

  private room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    if (this.pos > 0) this.done.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Math.max(this.chunkBytes, bytes));
    this.pos = 0;
  }
}

/**
 * The store's snapshot at its current revision, as chunks. The cut (revision, compact
 * revision, leases, extras) is taken now, at the call; each next() then encodes about one
 * chunk, so a caller that yields to the event loop between chunks never blocks it for long.
 * The store must not be restored meanwhile. Drain the iterator or call return() (a for-of loop
 * does): until then the store keeps the history the snapshot needs.
 */
export function snapshotChunks(
  store: MvccStore,
  options: SnapshotOptions = {},
): IterableIterator<Uint8Array> {
  const cut = store.pin();
  const leases = store.leases
    .ids()
    .map((id) => [id, (store.leases.get(id) as { ttl: number }).ttl] as const);
  const extras = options.extras ?? [];
  const w = new ChunkWriter(options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const gen = encode(store, cut, leases, extras, w);
  // A generator returned before its first next() skips its finally: release the pin here too.
  return {
    next: () => gen.next(),
    return: (value?: unknown) => {
      cut.release();
      return gen.return(value as undefined);
    },
    [Symbol.iterator]() {
      return this;
    },
  };
}

interface Cut {
  revision: number;
  compactRevision: number;
  generation: number;
  release: () => void;
}

function* encode(
  store: MvccStore,
  cut: Cut,
  leases: ReadonlyArray<readonly [bigint, number]>,
  extras: ReadonlyArray<readonly [string, Uint8Array]>,
  w: ChunkWriter,
): Generator<Uint8Array, void, undefined> {
  try {
    w.open(HEADER, 22);
    w.u32(MAGIC);
    w.u16(FORMAT_VERSION);
    w.f64(cut.revision);
    w.f64(cut.compactRevision);
    w.close();

    for (const [id, ttl] of leases) {
      w.roomInCounted(LEASES, 16);
      w.i64(id);
      w.f64(ttl);
      w.counted();
    }
    w.closeCounted();
    yield* w.take();

    let keys = 0;
    let versions = 0;
    let after: string | null = null;
    for (;;) {
      if (store.generation !== cut.generation) {
        throw new SnapshotAbortedError("MVCC snapshot: the store was restored while encoding");
      }
      const batch = store.recordsAfter(after, KEY_BATCH);
      if (batch.length === 0) break;
      for (const rec of batch) {
        const vs = retainedVersions(rec, cut.revision, cut.compactRevision);
        if (vs.length === 0) continue;
        writeKey(w, rec, vs);
        keys++;
        versions += vs.length;
      }
      after = (batch[batch.length - 1] as KeyRecord).key;
      yield* w.take();
    }
    w.closeCounted();

    for (const [name, data] of extras) {
      const nameBytes = Buffer.from(name, "utf8");
      for (let off = 0; off === 0 || off < data.length; off += DEFAULT_CHUNK_BYTES) {
        const part = data.subarray(off, off + DEFAULT_CHUNK_BYTES);
        w.open(EXTRA, 2 + nameBytes.length + part.length);
        w.u16(nameBytes.length);
        w.bytes(nameBytes);
        w.bytes(part);
        w.close();
        yield* w.take();
      }
    }

    w.open(END, 24);
    w.f64(keys);
    w.f64(versions);
    w.f64(leases.length);
    w.close();
    w.flush();
    yield* w.take();
  } finally {
    cut.release();
  }
}

function writeKey(w: ChunkWriter, rec: KeyRecord, vs: readonly Version[]): void {
  let bytes = 8 + rec.key.length;
  for (const v of vs) bytes += VERSION_FIXED + (v.value?.length ?? 0);
  w.roomInCounted(KEYS, bytes);
  w.u32(rec.key.length);
  w.latin1(rec.key);
  w.u32(vs.length);
  for (const v of vs) {
    w.f64(v.mod);
    w.f64(v.create);
    w.f64(v.ver);
    w.i64(v.lease);
    if (v.value === null) w.i32(-1);
    else {
      w.i32(v.value.length);
      w.bytes(v.value);
    }
  }
  w.counted();
}

/**
 * Decodes a snapshot pushed in chunks of any size into a new store image, leaving the target
 * store alone until finish(): a stream that turns out damaged changes nothing. Each push()
 * costs time in proportion to its bytes. Throws SnapshotFormatError on anything malformed.
 */
export class SnapshotReader {
  private parts: Buffer[] = [];
  private buffered = 0;
  private header: { revision: number; compactRevision: number } | null = null;
  private readonly index = newKeyIndex();
  private readonly log = new RevisionLog<KeyRecord>();
  private readonly leases: LeaseTable;
  private readonly extras = new Map<string, Buffer[]>();
  private keys = 0;
  private versions = 0;
  private ended = false;

  constructor(minLeaseTtl?: number) {
    this.leases = new LeaseTable(minLeaseTtl);
  }

  push(chunk: Uint8Array): void {
    if (this.ended) throw new SnapshotFormatError("MVCC snapshot: data after the end record");
    this.parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.buffered += chunk.byteLength;
    this.parse();
  }

  /** The decoded state and extra sections; throws if the stream is incomplete. */
  finish(): { image: StoreImage; extras: Map<string, Uint8Array> } {
    if (!this.ended || this.header === null) {
      throw new SnapshotFormatError("MVCC snapshot: truncated (no end record)");
    }
    const extras = new Map<string, Uint8Array>();
    for (const [name, parts] of this.extras) extras.set(name, Buffer.concat(parts));
    const image: StoreImage = {
      revision: this.header.revision,
      compactRevision: this.header.compactRevision,
      index: this.index,
      log: this.log,
      leases: this.leases,
    };
    return { image, extras };
  }

  private parse(): void {
    for (;;) {
      if (this.buffered < RECORD_HEAD) return;
      const head = this.peek(RECORD_HEAD);
      const length = head.readUInt32LE(0);
      if (this.buffered < RECORD_HEAD + length) return;
      const rec = this.consume(RECORD_HEAD + length);
      try {
        this.record(rec[4] as number, rec.subarray(RECORD_HEAD));
      } catch (e) {
        if (e instanceof SnapshotFormatError) throw e;
        throw new SnapshotFormatError(`MVCC snapshot: malformed record: ${(e as Error).message}`, {
          cause: e,
        });
      }
      if (this.ended && this.buffered > 0) {
        throw new SnapshotFormatError("MVCC snapshot: data after the end record");
      }
    }
  }

  /** The first n buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    const first = this.parts[0] as Buffer;
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.parts).subarray(0, n);
  }

  private consume(n: number): Buffer {
    let out: Buffer;
    const first = this.parts[0] as Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.parts);
      out = all.subarray(0, n);
      this.parts = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }

  private record(type: number, p: Buffer): void {
    if (this.header === null && type !== HEADER)
      throw new SnapshotFormatError("MVCC snapshot: no header");
    switch (type) {
      case HEADER:
        this.readHeader(p);
        break;
      case LEASES:
        this.readLeases(p);
        break;
      case KEYS:
        this.readKeys(p);
        break;
      case EXTRA: {
        const n = p.readUInt16LE(0);
        const name = p.toString("utf8", 2, 2 + n);
        const parts = this.extras.get(name) ?? [];
        parts.push(Buffer.from(p.subarray(2 + n))); // a copy: the chunk may be reused
        this.extras.set(name, parts);
        break;
      }
      case END:
        this.readEnd(p);
        break;
      default:
        throw new SnapshotFormatError(`MVCC snapshot: unknown record type ${type}`);
    }
  }

  private readHeader(p: Buffer): void {
    if (this.header !== null) throw new SnapshotFormatError("MVCC snapshot: two headers");
    if (p.length !== 22 || p.readUInt32LE(0) !== MAGIC) {
      throw new SnapshotFormatError("MVCC snapshot: not an MVCC snapshot");
    }
    const version = p.readUInt16LE(4);
    if (version !== FORMAT_VERSION) {
      throw new SnapshotFormatError(`MVCC snapshot: unsupported format version ${version}`);
    }
    const revision = p.readDoubleLE(6);
    const compactRevision = p.readDoubleLE(14);
    if (!Number.isSafeInteger(revision) || revision < 1 || !Number.isSafeInteger(compactRevision)) {
      throw new SnapshotFormatError("MVCC snapshot: bad revisions in header");
    }
    if (compactRevision > revision || compactRevision < -1) {
      throw new SnapshotFormatError("MVCC snapshot: compact revision above the revision");
    }
    this.header = { revision, compactRevision };
    this.log.startAt(Math.max(compactRevision, 1));
  }

  private readLeases(p: Buffer): void {
    if (this.keys > 0) throw new SnapshotFormatError("MVCC snapshot: leases after keys");
    const n = p.readUInt32LE(0);
    if (p.length !== 4 + 16 * n) throw new SnapshotFormatError("MVCC snapshot: bad lease record");
    for (let i = 0, off = 4; i < n; i++, off += 16) {
      const r = this.leases.grant(p.readBigInt64LE(off), p.readDoubleLE(off + 8), 0);
      if (!r.ok) throw new SnapshotFormatError(`MVCC snapshot: lease: ${r.error.message}`);
    }
  }

  private readKeys(p: Buffer): void {
    const { revision, compactRevision } = this.header as {
      revision: number;
      compactRevision: number;
    };
    const n = p.readUInt32LE(0);
    let off = 4;
    for (let k = 0; k < n; k++) {
      const keyLen = p.readUInt32LE(off);
      off += 4;
      if (keyLen === 0 || off + keyLen > p.length)
        throw new SnapshotFormatError("MVCC snapshot: bad key");
      const key = toByteString(p.subarray(off, off + keyLen));
      off += keyLen;
      const nv = p.readUInt32LE(off);
      off += 4;
      if (nv === 0) throw new SnapshotFormatError("MVCC snapshot: key without versions");
      const vs: Version[] = [];
      for (let i = 0; i < nv; i++) {
        const mod = p.readDoubleLE(off);
        const create = p.readDoubleLE(off + 8);
        const ver = p.readDoubleLE(off + 16);
        const lease = p.readBigInt64LE(off + 24);
        const len = p.readInt32LE(off + 32);
        off += VERSION_FIXED;
        let value: Uint8Array | null = null;
        if (len >= 0) {
          if (off + len > p.length) throw new SnapshotFormatError("MVCC snapshot: bad value");
          // A copy (the chunk may be reused), in Node's Buffer pool: an ArrayBuffer per value
          // costs V8's GC far more (bench/mvcc-store.ts).
          value = Buffer.from(p.subarray(off, off + len));
          off += len;
        }
        const prevMod = vs.length > 0 ? (vs[vs.length - 1] as Version).mod : 0;
        if (!Number.isSafeInteger(mod) || mod <= prevMod || mod > revision) {
          throw new SnapshotFormatError("MVCC snapshot: version revisions out of order");
        }
        vs.push({ mod, create, ver, value, lease });
      }
      const latest = vs.pop() as Version;
      const rec: KeyRecord = { key, ...latest, older: vs.length > 0 ? vs : null };
      this.index.append(rec); // throws unless keys come in order
      const all = rec.older === null ? [rec] : [...rec.older, rec];
      for (const v of all) if (v.mod >= compactRevision) this.log.add(v.mod, rec);
      if (rec.value !== null && rec.lease !== 0n) {
        if (this.leases.get(rec.lease) === undefined) {
          throw new SnapshotFormatError(
            "MVCC snapshot: key attached to a lease that does not exist",
          );
        }
        this.leases.attach(rec.lease, key);
      }
      this.keys++;
      this.versions += nv;
    }
    if (off !== p.length) throw new SnapshotFormatError("MVCC snapshot: bad key record length");
  }

  private readEnd(p: Buffer): void {
    const keys = p.readDoubleLE(0);
    const versions = p.readDoubleLE(8);
    const leases = p.readDoubleLE(16);
    if (keys !== this.keys || versions !== this.versions || leases !== this.leases.size) {
      throw new SnapshotFormatError("MVCC snapshot: counts in the end record do not match");
    }
    this.ended = true;
  }
}

/** Restores `store` from a whole snapshot at once (tests, small states). */
export function restoreSnapshot(
  store: MvccStore,
  chunks: Iterable<Uint8Array>,
): Map<string, Uint8Array> {
  const reader = new SnapshotReader(store.leases.minTtl);
  for (const c of chunks) reader.push(c);
  const { image, extras } = reader.finish();
  store.adopt(image);
  return extras;
}
