// Output files (README, "MapReduce"): DIR/mr-out-<r>, one `key value\n` line
// per key. Each is written under a dot-name and renamed into place when complete (rename is
// atomic within a directory), so every `mr-out-<r>` a reader can see is complete.

import { closeSync, openSync, writeSync } from "node:fs";

/** The final name of partition r's output. */
export function outputName(r: number): string {
  return `mr-out-${r}`;
}

/** The name partition r's output is written under until complete; `tag` tells writers apart. */
export function tempOutputName(r: number, tag: string): string {
  return `.${outputName(r)}.${tag}.tmp`;
}

export const OUTPUT_NAME = /^mr-out-\d+$/;
export const TEMP_OUTPUT_NAME = /^\.mr-out-.*\.tmp$/;

const CHUNK = 1 << 20;

/** Buffered synchronous writer of `key value\n` lines. */
export class LineWriter {
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  lines = 0;

  constructor(path: string) {
    this.fd = openSync(path, "w");
  }

  line(key: string, value: string): void {
    const max = 3 * (key.length + value.length) + 2;
    if (this.used + max > this.buf.length) {
      this.flush();
      if (max > this.buf.length) this.buf = Buffer.allocUnsafe(max);
    }
    this.used += this.buf.write(key, this.used, "utf8");
    this.buf[this.used++] = 0x20;
    this.used += this.buf.write(value, this.used, "utf8");
    this.buf[this.used++] = 0x0a;
    this.lines++;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private flush(): void {
    let at = 0;
    while (at < this.used) at += writeSync(this.fd, this.buf, at, this.used - at);
    this.used = 0;
  }
}
