import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeFileSystem } from "../../src/storage/fs/node-file-system.js";
import { SimDisk } from "../../src/storage/fs/sim-disk.js";
import { runFileSystemSuite } from "./fs-suite.js";

runFileSystemSuite("node:fs", async () => {
  const dir = await mkdtemp(join(tmpdir(), "raftwork-fs-"));
  return { fs: nodeFileSystem, dir, dispose: () => rm(dir, { recursive: true, force: true }) };
});

runFileSystemSuite("SimDisk", async () => {
  const disk = new SimDisk({ random: () => 0.5 });
  await disk.fs.mkdir("/t");
  return { fs: disk.fs, dir: "/t", dispose: async () => {} };
});
