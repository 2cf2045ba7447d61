// One conformance suite for every FileSystem (src/storage/fs/file-system.ts): node:fs and
// SimDisk must agree on everything FileStorage relies on, or the simulator would test another
// storage than the one nodes run.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { errorCode, type FileSystem, mkdirDurable } from "../../src/storage/fs/file-system.js";

/** A file system and an empty directory in it; `dispose` removes what the test made. */
export interface FsHarness {
  fs: FileSystem;
  dir: string;
  dispose(): Promise<void>;
}

const bytes = (s: string) => Buffer.from(s);

async function rejectsWith(p: Promise<unknown>, code: string, path?: string): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.equal(errorCode(err), code, String(err));
    if (path !== undefined) assert.equal((err as { path?: string }).path, path);
    return true;
  });
}

export function runFileSystemSuite(name: string, factory: () => Promise<FsHarness>): void {
  describe(`FileSystem conformance: ${name}`, () => {
    async function withFs(body: (fs: FileSystem, dir: string) => Promise<void>): Promise<void> {
      const h = await factory();
      try {
        await body(h.fs, h.dir);
      } finally {
        await h.dispose();
      }
    }

    it("writes at positions, reads ranges back, and zero-fills gaps", async () => {
      await withFs(async (fs, dir) => {
        const fh = await fs.open(join(dir, "f"), "w");
        await fh.write(bytes("hello"), 0);
        fh.writeSync(bytes("XY"), 1);
        await fh.write(bytes("!"), 8);
        assert.equal(await fh.size(), 9);
        const buf = Buffer.alloc(16, 0xff);
        assert.equal(await fh.read(buf, 0), 9);
        assert.deepEqual(buf.subarray(0, 9), Buffer.from("hXYlo\0\0\0!", "latin1"));
        const mid = Buffer.alloc(3);
        assert.equal(await fh.read(mid, 1), 3);
        assert.equal(mid.toString(), "XYl");
        assert.equal(await fh.read(Buffer.alloc(4), 20), 0, "reading past the end reads nothing");
        await fh.datasync();
        await fh.close();
        assert.equal((await fs.readFile(join(dir, "f"))).toString("latin1"), "hXYlo\0\0\0!");
      });
    });

    it("truncates down and zero-extends up", async () => {
      await withFs(async (fs, dir) => {
        const fh = await fs.open(join(dir, "f"), "w");
        await fh.write(bytes("abcdef"), 0);
        await fh.truncate(2);
        await fh.truncate(4);
        assert.equal(await fh.size(), 4);
        await fh.close();
        assert.deepEqual(await fs.readFile(join(dir, "f")), Buffer.from("ab\0\0", "latin1"));
      });
    });

    it("honours open flags: r and r+ need the file, w truncates, wx refuses an existing one", async () => {
      await withFs(async (fs, dir) => {
        const f = join(dir, "f");
        await rejectsWith(fs.open(f, "r"), "ENOENT", f);
        await rejectsWith(fs.open(f, "r+"), "ENOENT", f);
        const a = await fs.open(f, "wx");
        await a.write(bytes("data"), 0);
        await a.close();
        await rejectsWith(fs.open(f, "wx"), "EEXIST", f);
        const r = await fs.open(f, "r");
        await rejectsWith(r.write(bytes("x"), 0), "EBADF", f);
        await r.close();
        const w = await fs.open(f, "w");
        assert.equal(await w.size(), 0);
        await w.close();
      });
    });

    it("renames over an existing file, links exclusively, unlinks once", async () => {
      await withFs(async (fs, dir) => {
        const [a, b, c] = ["a", "b", "c"].map((n) => join(dir, n)) as [string, string, string];
        await fs.writeFile(a, bytes("A"));
        await fs.writeFile(b, bytes("B"));
        await fs.rename(a, b);
        assert.equal((await fs.readFile(b)).toString(), "A");
        await rejectsWith(fs.readFile(a), "ENOENT", a);
        await rejectsWith(fs.rename(a, c), "ENOENT");
        await fs.link(b, c);
        await rejectsWith(fs.link(b, c), "EEXIST", b); // node names the source
        await fs.unlink(b);
        assert.equal((await fs.readFile(c)).toString(), "A", "the other name keeps the data");
        await rejectsWith(fs.unlink(b), "ENOENT", b);
        assert.deepEqual((await fs.readdir(dir)).sort(), ["c"]);
        await fs.syncDir(dir);
      });
    });

    it("keeps an unlinked file readable through a handle opened before", async () => {
      await withFs(async (fs, dir) => {
        const f = join(dir, "f");
        await fs.writeFile(f, bytes("still here"));
        const fh = await fs.open(f, "r");
        await fs.unlink(f);
        const buf = Buffer.alloc(10);
        assert.equal(await fh.read(buf, 0), 10);
        assert.equal(buf.toString(), "still here");
        await fh.close();
      });
    });

    it("mkdir creates parents and says which level it created first", async () => {
      await withFs(async (fs, dir) => {
        const deep = join(dir, "a", "b", "c");
        assert.equal(await fs.mkdir(deep), join(dir, "a"));
        assert.equal(await fs.mkdir(deep), undefined);
        assert.deepEqual(await fs.readdir(join(dir, "a")), ["b"]);
        await mkdirDurable(fs, join(deep, "d"));
        assert.deepEqual(await fs.readdir(deep), ["d"]);
        await rejectsWith(fs.readdir(join(dir, "missing")), "ENOENT");
      });
    });

    it("a closed handle refuses further use", async () => {
      await withFs(async (fs, dir) => {
        const fh = await fs.open(join(dir, "f"), "w");
        await fh.close();
        await assert.rejects(fh.write(bytes("x"), 0));
        assert.throws(() => fh.writeSync(bytes("x"), 0));
      });
    });

    it("names the lock owner and knows it runs", async () => {
      await withFs(async (fs) => {
        assert.ok(Number.isSafeInteger(fs.processId) && fs.processId > 0);
        assert.equal(fs.isProcessRunning(fs.processId), true);
      });
    });
  });
}
