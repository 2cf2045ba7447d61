// Reading byte ranges of files: input splits, and the sections of map output that reducers
// fetch, are ranges of larger files.

import { closeSync, openSync, readSync } from "node:fs";

/** Reads up to `length` bytes of `path` at `position` (fewer only at end of file). */
export type ReadAt = (path: string, position: number, length: number) => Buffer;

/** A ReadAt on the local filesystem. */
export function readFileAt(path: string, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  const fd = openSync(path, "r");
  try {
    let at = 0;
    for (let n = 1; at < length && n > 0; at += n)
      n = readSync(fd, buf, at, length - at, position + at);
    return buf.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}
