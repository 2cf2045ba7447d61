// Output files and user-facing checks of paths. An output file is written under a dot-name
// and renamed into place when complete (rename is atomic within a directory), so every
// `mr-out-<r>` a reader can see is complete.

import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

/** A problem with the command line (bad path, existing output): exit status 2. */
export class UsageError extends Error {}

export function outputName(r: number): string {
  return `mr-out-${r}`;
}

const OUTPUT = /^mr-out-\d+$/;
const TEMP = /^\.mr-out-.*\.tmp$/;

/**
 * Creates `dir` if needed. Existing mr-out-* files are refused unless `overwrite`, in which
 * case they are removed first, so the directory never mixes two jobs' outputs.
 */
export function prepareOutDir(dir: string, overwrite: boolean): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new UsageError(`--out ${dir}: ${(err as Error).message}`);
  }
  const names = readdirSync(dir);
  const old = names.filter((n) => OUTPUT.test(n));
  if (old.length > 0 && !overwrite)
    throw new UsageError(
      `--out ${dir} already holds ${old.join(", ")} (use --overwrite to replace)`,
    );
  for (const n of names) if (OUTPUT.test(n) || TEMP.test(n)) rmSync(join(dir, n), { force: true });
}

/** Removes temporary outputs left by uploads that never finished. */
export function removeTempOutputs(dir: string): void {
  for (const n of readdirSync(dir)) if (TEMP.test(n)) rmSync(join(dir, n), { force: true });
}

export interface InputInfo {
  path: string;
  size: number;
  mtimeMs: number;
}

/** Stats every input file; a missing or unreadable one is a usage error naming it. */
export function checkInputs(files: readonly string[]): InputInfo[] {
  if (files.length === 0) throw new UsageError("no input files given");
  return files.map((path) => {
    if (!existsSync(path)) throw new UsageError(`input file ${path} does not exist`);
    const st = statSync(path);
    if (!st.isFile()) throw new UsageError(`input ${path} is not a regular file`);
    try {
      closeSync(openSync(path, "r"));
    } catch (err) {
      throw new UsageError(`input file ${path} cannot be read: ${(err as Error).message}`);
    }
    return { path, size: st.size, mtimeMs: st.mtimeMs };
  });
}

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
