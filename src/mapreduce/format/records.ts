// The on-disk format of intermediate data (map output files, spilled runs, fetched
// partitions): a sequence of blocks, each holding whole groups (one key with some of its
// values; in every file this project writes, sorted by key in UTF-8 byte order within a
// section). A block keeps the text of all its keys and values in one UTF-8 string and their
// lengths apart, so a reader decodes a block with one call and cuts the strings out of it,
// instead of one decode per key and per value (intermediate data is mostly short words: the
// per-call cost, not the bytes, dominated). Length prefixes rather than delimiters, so keys
// and values may hold any text (newlines, spaces, NULs) without escaping.
//
//   block := nLens:u32le textBytes:u32le lens:(nLens * u32le) text:(textBytes bytes of UTF-8)
//   lens  := per group: keyLen count valueLen*count      (lengths in UTF-16 code units)
//
// Lengths count UTF-16 code units of the decoded text: encoding a string to UTF-8 and back
// keeps its length (a lone surrogate becomes U+FFFD, also one unit), so the reader can slice.
// A map output file holds one section per reduce partition, back to back; a section is whole
// blocks, so `boundary()` ends the current block and reports where the next section starts.

import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { endianness } from "node:os";

export interface Group {
  key: string;
  values: string[];
}

const CHUNK = 1 << 20;
/** A block is closed once its text reaches this many code units (or lengths this many). */
const BLOCK_UNITS = 1 << 16;
const BLOCK_LENS = 1 << 14;
const SURROGATE = /[\ud800-\udfff]/;
const BIG_ENDIAN = endianness() === "BE";

/** Whether `s` holds no UTF-16 surrogate: then `<` on it agrees with UTF-8 byte order. */
export function plainText(s: string): boolean {
  return !SURROGATE.test(s);
}

/** Buffered, synchronous writer of groups to a file (the caller owns the path). */
export class GroupWriter {
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  private written = 0;
  private parts: string[] = [];
  private lens = new Uint32Array(BLOCK_LENS + 2);
  private nLens = 0;
  private units = 0;

  constructor(path: string) {
    this.fd = openSync(path, "w");
  }

  write(key: string, values: readonly string[]): void {
    if (this.nLens + 2 + values.length > this.lens.length) this.growLens(2 + values.length);
    const lens = this.lens;
    this.parts.push(key);
    lens[this.nLens++] = key.length;
    lens[this.nLens++] = values.length;
    let units = key.length;
    for (const v of values) {
      this.parts.push(v);
      lens[this.nLens++] = v.length;
      units += v.length;
    }
    this.units += units;
    if (this.units >= BLOCK_UNITS || this.nLens >= BLOCK_LENS) this.endBlock();
  }

  /** Ends the current block; returns the file offset where the next group will start. */
  boundary(): number {
    this.endBlock();
    return this.written;
  }

  /** Flushes and closes; the caller renames the file into place if it wants it durable. */
  close(): void {
    this.endBlock();
    this.flush();
    closeSync(this.fd);
  }

  private endBlock(): void {
    const nLens = this.nLens;
    if (nLens === 0) return;
    const text = this.parts.join("");
    const head = 8 + 4 * nLens;
    // A UTF-16 unit is at most 3 UTF-8 bytes, so 3 * length bounds the encoding.
    const max = head + 3 * text.length;
    if (this.used + max > this.buf.length) {
      this.flush();
      if (max > this.buf.length) this.buf = Buffer.allocUnsafe(max);
    }
    const buf = this.buf;
    const at = this.used;
    const textBytes = text.length === 0 ? 0 : buf.write(text, at + head, "utf8");
    buf.writeUInt32LE(nLens, at);
    buf.writeUInt32LE(textBytes, at + 4);
    // One copy of the lengths' bytes (platform order), swapped if the platform is big-endian.
    buf.set(new Uint8Array(this.lens.buffer, 0, 4 * nLens), at + 8);
    if (BIG_ENDIAN) buf.subarray(at + 8, at + head).swap32();
    this.used += head + textBytes;
    this.written += head + textBytes;
    this.parts = [];
    this.nLens = 0;
    this.units = 0;
  }

  /** Room for a group with more values than a block's usual lengths. */
  private growLens(extra: number): void {
    const lens = new Uint32Array(this.nLens + extra + BLOCK_LENS);
    lens.set(this.lens.subarray(0, this.nLens));
    this.lens = lens;
  }

  private flush(): void {
    let at = 0;
    while (at < this.used) at += writeSync(this.fd, this.buf, at, this.used - at);
    this.used = 0;
  }
}

/**
 * Synchronous reader of the groups in the byte range [start, end) of a file, or of a buffer
 * already in memory (a fetched section). Decodes a block at a time.
 */
export class GroupReader {
  private readonly fd: number;
  private buf: Buffer;
  private bufStart = 0; // offset in buf of the next unread byte
  private bufEnd = 0;
  private pos: number; // file offset of buf[bufEnd]
  private closed = false;
  // The current block, read one group at a time (no array of all its groups: each group is
  // garbage as soon as its consumer is done with it): its text, the position in it of the
  // next string, and the byte range in buf of the lengths still to read.
  private text = "";
  private textAt = 0;
  private lensAt = 0;
  private lensEnd = 0;
  /** True when no key or value of the current block holds a surrogate (see plainText). */
  plain = false;

  constructor(
    source: string | Buffer,
    start = 0,
    private readonly end = Number.POSITIVE_INFINITY,
    chunkBytes = 64 * 1024,
  ) {
    if (typeof source === "string") {
      this.fd = openSync(source, "r");
      this.buf = Buffer.allocUnsafe(chunkBytes);
      this.pos = start;
    } else {
      this.fd = -1;
      this.buf = source.subarray(start, Math.min(end, source.length));
      this.bufEnd = this.buf.length;
      this.pos = this.end;
    }
  }

  /** The next group, or undefined at the end of the range (the file is then closed). */
  next(): Group | undefined {
    if (this.lensAt < this.lensEnd) return this.nextInBlock();
    if (this.closed) return undefined;
    if (!this.ensure(8)) {
      const partial = this.bufEnd > this.bufStart;
      this.close();
      if (partial) throw this.corrupt("truncated");
      return undefined;
    }
    this.startBlock();
    return this.nextInBlock();
  }

  close(): void {
    this.text = "";
    this.lensAt = this.lensEnd = 0;
    if (this.closed) return;
    this.closed = true;
    if (this.fd >= 0) closeSync(this.fd);
  }

  /** Decodes the next block's text; its lengths stay in buf until the block is read. */
  private startBlock(): void {
    const nLens = this.buf.readUInt32LE(this.bufStart);
    const textBytes = this.buf.readUInt32LE(this.bufStart + 4);
    const head = 8 + 4 * nLens;
    if (nLens < 2 || !this.ensure(head + textBytes)) throw this.corrupt("truncated");
    const at = this.bufStart;
    this.text = this.buf.toString("utf8", at + head, at + head + textBytes);
    this.plain = plainText(this.text);
    this.textAt = 0;
    this.lensAt = at + 8;
    this.lensEnd = at + head;
    this.bufStart += head + textBytes;
  }

  private nextInBlock(): Group {
    const buf = this.buf;
    const text = this.text;
    let i = this.lensAt;
    let p = this.textAt;
    const keyLen = buf.readUInt32LE(i);
    const count = i + 8 <= this.lensEnd ? buf.readUInt32LE(i + 4) : -1;
    i += 8;
    if (count < 0 || i + 4 * count > this.lensEnd) throw this.corrupt("bad lengths in");
    const key = text.slice(p, p + keyLen);
    p += keyLen;
    const values = new Array<string>(count);
    for (let j = 0; j < count; j++, i += 4) {
      const len = buf.readUInt32LE(i);
      values[j] = text.slice(p, p + len);
      p += len;
    }
    if (p > text.length || (i === this.lensEnd && p !== text.length))
      throw this.corrupt("bad lengths in");
    this.lensAt = i;
    this.textAt = p;
    return { key, values };
  }

  private corrupt(what: string): Error {
    return new Error(`${what} group file (block before offset ${this.pos})`);
  }

  /** Makes `bytes` unread bytes available in buf; false if the range ends first. */
  private ensure(bytes: number): boolean {
    const have = this.bufEnd - this.bufStart;
    if (have >= bytes) return true;
    if (this.fd < 0) return false;
    if (bytes > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(bytes, this.buf.length * 2));
      this.buf.copy(bigger, 0, this.bufStart, this.bufEnd);
      this.buf = bigger;
    } else {
      this.buf.copy(this.buf, 0, this.bufStart, this.bufEnd);
    }
    this.bufStart = 0;
    this.bufEnd = have;
    while (this.bufEnd < bytes) {
      const want = Math.min(this.buf.length - this.bufEnd, this.end - this.pos);
      if (want <= 0) return false;
      const n = readSync(this.fd, this.buf, this.bufEnd, want, this.pos);
      if (n === 0) return false;
      this.bufEnd += n;
      this.pos += n;
    }
    return true;
  }
}
