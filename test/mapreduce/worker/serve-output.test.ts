import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SMALL_BODY } from "../../../src/mapreduce/protocol/http-client.js";
import { listen } from "../../../src/mapreduce/protocol/http-server.js";
import { serveOutput } from "../../../src/mapreduce/worker/worker.js";
import { formatHostPort } from "../../../src/util/host-port.js";

const dir = mkdtempSync(join(tmpdir(), "mr-serve-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("a worker serving map output", () => {
  it("serves each section, small or large, and survives a file that is gone", async () => {
    const small = join(dir, "small.out");
    writeFileSync(small, "aaabbbbcc");
    const large = join(dir, "large.out");
    const big = Buffer.alloc(SMALL_BODY + 10, 7);
    writeFileSync(large, Buffer.concat([Buffer.from("x"), big]));
    const outputs = new Map([
      [1, { file: small, offsets: [0, 3, 7, 9] }],
      [2, { file: large, offsets: [0, 1, 1 + big.length] }],
      [3, { file: join(dir, "removed.out"), offsets: [0, 5] }],
    ]);
    const server = http.createServer((req, res) => serveOutput(outputs, req, res));
    const address = formatHostPort(
      await listen(server, { host: "127.0.0.1", port: 0 }, "map-output"),
    );
    const get = async (path: string) => {
      const r = await fetch(`http://${address}${path}`);
      return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
    };
    try {
      assert.equal((await get("/v1/map-output/1/1")).body.toString(), "bbbb");
      assert.equal((await get("/v1/map-output/1/2")).body.toString(), "cc");
      assert.ok((await get("/v1/map-output/2/1")).body.equals(big));
      assert.equal((await get("/v1/map-output/9/0")).status, 404);
      await assert.rejects(get("/v1/map-output/3/0"), "a missing file ends the connection");
      assert.equal((await get("/v1/map-output/1/0")).body.toString(), "aaa", "still serving");
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
