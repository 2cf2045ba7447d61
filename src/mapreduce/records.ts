// The on-disk format of intermediate data (map output files, spilled runs, fetched
// partitions): a sequence of groups, each one key with some of its values (in the reduce
// side's sorted runs, sorted by key in UTF-8 byte order). Length prefixes rather than
// delimiters, so keys and values may hold any text (newlines, spaces, NULs) without escaping,
// and a reader never scans for separators.
//
//   group := keyLen:u32le key:keyLen bytes count:u32le value*count
//   value := len:u32le bytes:len bytes
//
// A map output file holds one section per reduce partition, back to back; the writer reports
// the byte offset where each section starts, so a reducer's partition is one contiguous range.

import { closeSync, openSync, readSync, writeSync } from "node:fs";

export interface Group {
  key: string;
  values: string[];
}

const CHUNK = 1 << 20;

/** Buffered, synchronous writer of groups to a file (the caller owns the path). */
export class GroupWriter {
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  /** Bytes written so far (flushed or buffered): the offset of the next group. */
  offset = 0;

  constructor(path: string) {
    this.fd = openSync(path, "w");
  }

  write(key: string, values: readonly string[]): void {
    this.putString(key);
    this.putU32(values.length);
    for (const v of values) this.putString(v);
  }

  /** Appends bytes [start, end) of another group file (whole groups, as written there). */
  copyFrom(path: string, start: number, end: number): void {
    this.flush();
    const fd = openSync(path, "r");
    try {
      for (let pos = start; pos < end; ) {
        const n = readSync(fd, this.buf, 0, Math.min(this.buf.length, end - pos), pos);
        if (n === 0) throw new Error(`${path} ends before byte ${end}`);
        this.used = n;
        this.flush();
        pos += n;
        this.offset += n;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Flushes and closes; the caller renames the file into place if it wants it durable. */
  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private putU32(n: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(n, this.used);
    this.used += 4;
    this.offset += 4;
  }

  private putString(s: string): void {
    // A UTF-16 unit is at most 3 UTF-8 bytes, so 3 * length bounds the encoding.
    const max = 4 + s.length * 3;
    this.reserve(max);
    const len = this.buf.write(s, this.used + 4, "utf8");
    this.buf.writeUInt32LE(len, this.used);
    this.used += 4 + len;
    this.offset += 4 + len;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return;
    this.flush();
    if (bytes > this.buf.length) this.buf = Buffer.allocUnsafe(bytes);
  }

  private flush(): void {
    let at = 0;
    while (at < this.used) at += writeSync(this.fd, this.buf, at, this.used - at);
    this.used = 0;
  }
}

/** Synchronous reader of the groups in the byte range [start, end) of a file. */
export class GroupReader {
  private readonly fd: number;
  private buf: Buffer;
  private bufStart = 0; // offset in buf of the next unread byte
  private bufEnd = 0;
  private pos: number; // file offset of buf[bufEnd]
  private closed = false;

  constructor(
    path: string,
    start = 0,
    private readonly end = Number.POSITIVE_INFINITY,
    chunkBytes = 64 * 1024,
  ) {
    this.fd = openSync(path, "r");
    this.buf = Buffer.allocUnsafe(chunkBytes);
    this.pos = start;
  }

  /** The next group, or undefined at the end of the range (the file is then closed). */
  next(): Group | undefined {
    if (this.closed) return undefined;
    if (!this.ensure(4)) {
      this.close();
      return undefined;
    }
    const key = this.getString();
    const count = this.getU32();
    const values = new Array<string>(count);
    for (let i = 0; i < count; i++) values[i] = this.getString();
    return { key, values };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private getU32(): number {
    if (!this.ensure(4)) throw new Error(`truncated group file (offset ${this.pos})`);
    const n = this.buf.readUInt32LE(this.bufStart);
    this.bufStart += 4;
    return n;
  }

  private getString(): string {
    const len = this.getU32();
    if (!this.ensure(len)) throw new Error(`truncated group file (offset ${this.pos})`);
    const s = this.buf.toString("utf8", this.bufStart, this.bufStart + len);
    this.bufStart += len;
    return s;
  }

  /** Makes `bytes` unread bytes available in buf; false if the range ends first. */
  private ensure(bytes: number): boolean {
    const have = this.bufEnd - this.bufStart;
    if (have >= bytes) return true;
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
