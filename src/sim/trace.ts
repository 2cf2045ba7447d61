// The simulator's trace: one JSON object per line for every delivered, dropped or duplicated
// message, timer that did something, crash, restart, partition, commit and apply, in the format
// src/sim/trace-schema.ts defines (record kinds, fields, key order, version). The sha256 of
// the whole JSONL text (traceHash) is always computed, streaming, so two runs can be compared
// without storing anything; the text is written to a file only when asked (--trace FILE).
// The same seed and options give a byte-identical trace.

import { createHash, type Hash } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";

/** Lines kept in memory for violation reports. */
const DEFAULT_TAIL = 40;
/** Text buffered before hashing/writing: hashing many small strings costs more than one big one. */
const FLUSH_CHARS = 1 << 16;

export type TraceRecord = Record<string, string | number | boolean | null | undefined | number[]>;

export class Trace {
  private readonly hash: Hash = createHash("sha256");
  private readonly fd: number | null;
  private buffer = "";
  private readonly ring: string[];
  private ringNext = 0;
  private digest: string | null = null;
  lines = 0;

  constructor(opts: { file?: string; tail?: number } = {}) {
    this.fd = opts.file ? openSync(opts.file, "w") : null;
    this.ring = new Array<string>(opts.tail ?? DEFAULT_TAIL).fill("");
  }

  /** Append one record. Key order is the caller's: keep it fixed for byte-identical traces. */
  record(rec: TraceRecord): void {
    this.line(JSON.stringify(rec));
  }

  /** Append one record already serialized as a JSON object (hot paths build it by hand). */
  line(line: string): void {
    this.lines++;
    if (this.ring.length > 0) {
      this.ring[this.ringNext] = line;
      this.ringNext = (this.ringNext + 1) % this.ring.length;
    }
    this.buffer += `${line}\n`;
    if (this.buffer.length >= FLUSH_CHARS) this.flush();
  }

  /** The last lines recorded, oldest first. */
  tail(): string[] {
    const n = Math.min(this.lines, this.ring.length);
    const out: string[] = [];
    for (let i = n; i > 0; i--) {
      out.push(this.ring[(this.ringNext - i + this.ring.length) % this.ring.length] as string);
    }
    return out;
  }

  /** Flush, close the file (if any) and return the sha256 hex of everything recorded. */
  finish(): string {
    if (this.digest === null) {
      this.flush();
      if (this.fd !== null) closeSync(this.fd);
      this.digest = this.hash.digest("hex");
    }
    return this.digest;
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    this.hash.update(this.buffer);
    if (this.fd !== null) writeSync(this.fd, this.buffer);
    this.buffer = "";
  }
}
