// Input splits: one map task per input file, and files above the split size cut into several
// tasks at line boundaries (MapReduce paper, section 3.1: "splits the input files into M
// pieces"), so that no line, and no UTF-8 character, is ever cut in two.

import type { ReadAt } from "../format/read-at.js";

export interface InputFile {
  path: string;
  size: number;
}

/** A byte range [start, end) of one input file; the unit of work of one map task. */
export interface Split {
  path: string;
  start: number;
  end: number;
}

const PROBE_BYTES = 64 * 1024;

/**
 * Cuts each file into pieces of about `splitSize` bytes. A cut is placed just after the first
 * newline at or beyond each multiple of `splitSize` past the previous cut; a line longer than
 * that stays whole. Empty files still get one (empty) task, so every input is mapped once.
 */
export function planSplits(
  files: readonly InputFile[],
  splitSize: number,
  readAt: ReadAt,
): Split[] {
  const splits: Split[] = [];
  for (const file of files) {
    let start = 0;
    while (file.size - start > splitSize) {
      const cut = nextLineStart(file, start + splitSize, readAt);
      if (cut >= file.size) break;
      splits.push({ path: file.path, start, end: cut });
      start = cut;
    }
    splits.push({ path: file.path, start, end: file.size });
  }
  return splits;
}

/** The offset just past the first "\n" at or after `from`, or the file size if there is none. */
function nextLineStart(file: InputFile, from: number, readAt: ReadAt): number {
  // Start one byte early: if the byte before `from` is a newline, `from` is a line start.
  for (let pos = from - 1; pos < file.size; pos += PROBE_BYTES) {
    const chunk = readAt(file.path, pos, Math.min(PROBE_BYTES, file.size - pos));
    if (chunk.length === 0) break;
    const nl = chunk.indexOf(10);
    if (nl >= 0) return pos + nl + 1;
  }
  return file.size;
}
