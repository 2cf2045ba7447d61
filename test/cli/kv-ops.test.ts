// `kv snapshot save` in-process against servers that misbehave in the ways a transfer can:
// a slow one (progress is printed, the file appears only when verified), one that breaks off,
// one that sends a damaged file, one that falls silent; the target then keeps its old content
// and no temp file is left.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { encodeBackup } from "../../src/kv/backup-format.js";
import { simpleConf } from "../../src/raft/types.js";
import { runKv as run } from "../support/run-kv.js";

const root = mkdtempSync(join(tmpdir(), "raftwork-save-"));
const servers: http.Server[] = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  rmSync(root, { recursive: true, force: true });
});

async function backup(bytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  const meta = { index: 9, term: 2, conf: simpleConf([1]), node: 1, createdAt: 0 };
  for await (const c of encodeBackup(meta, [Buffer.alloc(bytes, 3)])) parts.push(c);
  return Buffer.concat(parts);
}

/** A server that writes `file` in `pieces` pieces `gapMs` apart, then does `end`. */
async function server(
  file: Buffer,
  pieces: number,
  gapMs: number,
  end: "end" | "destroy" = "end",
): Promise<string> {
  const s = http.createServer(async (_req, res) => {
    res.writeHead(200, { "x-raftwork-backup-index": "9", "x-raftwork-backup-term": "2" });
    const step = Math.ceil(file.length / pieces);
    for (let at = 0; at < file.length; at += step) {
      res.write(file.subarray(at, at + step));
      await new Promise((r) => setTimeout(r, gapMs));
    }
    if (end === "end") res.end();
    else res.destroy();
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  servers.push(s);
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe("kv snapshot save", () => {
  it("prints progress on a slow transfer and writes the file only once verified", async () => {
    const file = await backup(100_000);
    const url = await server(file, 6, 300);
    const target = join(root, "slow.backup");
    const r = await run("snapshot", "save", target, "--endpoints", url);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /received \d+\.\d MiB from/);
    assert.match(r.stdout, /index 9, term 2, sha256 verified/);
    assert.deepEqual(readFileSync(target), file);
  });

  it("keeps the old file when a transfer breaks off, is damaged or falls silent", async () => {
    const file = await backup(5000);
    const target = join(root, "kept.backup");
    writeFileSync(target, "old");
    const broken = await server(file.subarray(0, 3000), 2, 10, "destroy");
    const flipped = Buffer.from(file);
    flipped[100] = (flipped[100] as number) ^ 1;
    const damaged = await server(flipped, 2, 10);
    const silent = await server(file, 2, 3000);
    for (const [url, want, timeout] of [
      [broken, /broke off|truncated/, "5s"],
      [damaged, /checksum does not match/, "5s"],
      [silent, /silent for 500 ms/, "500ms"],
    ] as const) {
      const r = await run("snapshot", "save", target, "--endpoints", url, "--timeout", timeout);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, want);
      assert.equal(readFileSync(target, "utf8"), "old");
    }
    assert.deepEqual(
      readdirSync(root).filter((f) => f.includes("kept")),
      ["kept.backup"],
    );
    // Another endpoint after a bad one serves the backup.
    const good = await server(file, 1, 0);
    const r = await run("snapshot", "save", target, "--endpoints", `${damaged},${good}`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(target), file);
  });
});
