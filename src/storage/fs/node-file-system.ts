// The FileSystem contract (file-system.ts) on node:fs, for real nodes. A thin shell: each method
// is the one node:fs call it names, plus the loops that turn short reads and writes into whole
// ones, and the handle's path attached to errors of fd operations (node:fs reports "EIO: i/o
// error, fdatasync" without saying which file).

import { writeSync } from "node:fs";
import * as fsp from "node:fs/promises";
import type { FileHandle, FileSystem, OpenFlags } from "./file-system.js";

class NodeFileHandle implements FileHandle {
  constructor(
    readonly path: string,
    private readonly fh: fsp.FileHandle,
  ) {}

  async read(buffer: Uint8Array, position: number): Promise<number> {
    let got = 0;
    try {
      while (got < buffer.length) {
        const { bytesRead } = await this.fh.read(buffer, got, buffer.length - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (err) {
      throw this.named(err);
    }
    return got;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    try {
      for (let off = 0; off < data.length; ) {
        const { bytesWritten } = await this.fh.write(data, off, data.length - off, position + off);
        off += bytesWritten;
      }
    } catch (err) {
      throw this.named(err);
    }
  }

  writeSync(data: Uint8Array, position: number): void {
    try {
      for (let off = 0; off < data.length; ) {
        off += writeSync(this.fh.fd, data, off, data.length - off, position + off);
      }
    } catch (err) {
      throw this.named(err);
    }
  }

  async size(): Promise<number> {
    return (await this.fh.stat().catch((err) => Promise.reject(this.named(err)))).size;
  }

  truncate(length: number): Promise<void> {
    return this.fh.truncate(length).catch((err) => Promise.reject(this.named(err)));
  }

  datasync(): Promise<void> {
    return this.fh.datasync().catch((err) => Promise.reject(this.named(err)));
  }

  close(): Promise<void> {
    return this.fh.close().catch((err) => Promise.reject(this.named(err)));
  }

  private named(err: unknown): unknown {
    if (err instanceof Error && (err as NodeJS.ErrnoException).path === undefined) {
      (err as NodeJS.ErrnoException).path = this.path;
    }
    return err;
  }
}

const READ_TOO = { r: "r", "r+": "r+", w: "w+", wx: "wx+" } as const;

export const nodeFileSystem: FileSystem = {
  // "w" and "wx" open for reading too (node's "w+", "wx+"): every handle can read.
  open: async (path: string, flags: OpenFlags) =>
    new NodeFileHandle(path, await fsp.open(path, READ_TOO[flags])),
  readFile: (path) => fsp.readFile(path),
  writeFile: (path, data) => fsp.writeFile(path, data),
  rename: (from, to) => fsp.rename(from, to),
  link: (existing, path) => fsp.link(existing, path),
  unlink: (path) => fsp.unlink(path),
  readdir: (path) => fsp.readdir(path),
  mkdir: (path) => fsp.mkdir(path, { recursive: true }),
  async syncDir(path) {
    const fh = await fsp.open(path, "r");
    try {
      await fh.sync();
    } catch (err) {
      (err as NodeJS.ErrnoException).path ??= path;
      throw err;
    } finally {
      await fh.close();
    }
  },
  processId: process.pid,
  isProcessRunning(pid) {
    try {
      process.kill(pid, 0); // signal 0: existence check only
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
    }
  },
};
