// Writing a file so that a crash leaves either the old file or the whole new one, never a part:
// write a temp file beside it, fsync it, rename it over the target, fsync the directory (the
// rename itself is only durable once the directory is).

import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Opens a temp file beside `target`; write to it, then commit() (fsync + rename + directory
 * fsync) or abort() (remove it). The temp name is unique per process, so two writers of the
 * same target do not share one.
 */
export async function createDurableFile(target: string): Promise<DurableFile> {
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  const fh = await open(tmp, "w", 0o644);
  return new DurableFile(target, tmp, fh);
}

export class DurableFile {
  private done = false;

  constructor(
    readonly target: string,
    readonly tmp: string,
    private readonly fh: FileHandle,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
  }

  async commit(): Promise<void> {
    this.done = true;
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.target);
    await syncDir(dirname(this.target));
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/** Writes `data` to `target` durably and atomically. */
export async function writeDurably(target: string, data: Uint8Array): Promise<void> {
  const f = await createDurableFile(target);
  try {
    await f.write(data);
    await f.commit();
  } catch (e) {
    await f.abort();
    throw e;
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
