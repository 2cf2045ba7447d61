// The client CLI, run in-process against a fake single-node service (the process-level path
// through dist/cli/main.js is covered by test/kv-process).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runCli } from "../../src/cli/program.js";
import { createKvHttpServer, type KvHttpServer } from "../../src/kv/http-api.js";
import { deadPort, FakeService } from "./fake-service.js";

/** Run `raftwork kv ARGS...` in-process; returns the exit status, stdout and stderr. */
async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io = {
    out: (text: string) => {
      stdout += text;
    },
    err: (text: string) => {
      stderr += text;
    },
  };
  const code = await runCli(["node", "raftwork", "kv", ...args], io);
  return { code, stdout, stderr };
}

describe("raftwork kv client commands", () => {
  let svc: FakeService;
  let server: KvHttpServer;
  let ep: string[];

  before(async () => {
    svc = new FakeService(1, 1);
    server = await createKvHttpServer("127.0.0.1", 0, { service: svc, sm: svc.sm, id: 1 });
    ep = ["--endpoints", `http://127.0.0.1:${await deadPort()},${server.url}`];
  });
  after(() => server.close());

  it("put, get, append, del with exit codes 0 and 1", async () => {
    assert.equal((await run("put", "dir/k", "v1", ...ep)).code, 0);
    assert.deepEqual(await run("get", "dir/k", ...ep), { code: 0, stdout: "v1", stderr: "" });
    assert.equal((await run("append", "dir/k", "+2", ...ep)).code, 0);
    assert.equal((await run("get", "dir/k", ...ep)).stdout, "v1+2");
    assert.equal((await run("del", "dir/k", ...ep)).code, 0);
    const miss = await run("get", "dir/k", ...ep);
    assert.equal(miss.code, 1);
    assert.match(miss.stderr, /not found/);
  });

  it("cas: exit 0 on swap, 1 on mismatch, 2 without exactly one expectation", async () => {
    assert.equal((await run("cas", "c", "--expect-absent", "--value", "1", ...ep)).code, 0);
    const miss = await run("cas", "c", "--expect", "0", "--value", "2", ...ep);
    assert.equal(miss.code, 1);
    assert.match(miss.stderr, /"1"/);
    assert.equal((await run("cas", "c", "--expect", "1", "--value", "2", ...ep)).code, 0);
    assert.equal((await run("cas", "c", "--value", "3", ...ep)).code, 2);
    assert.equal(
      (await run("cas", "c", "--expect", "2", "--expect-absent", "--value", "3", ...ep)).code,
      2,
    );
    assert.equal(Buffer.from(svc.sm.get("c") ?? []).toString(), "2");
  });

  it("list prints sorted key/value lines or JSON", async () => {
    await run("put", "p/b", "2", ...ep);
    await run("put", "p/a", "line\none", ...ep);
    const r = await run("list", "--prefix", "p/", ...ep);
    assert.equal(r.stdout, "p/a\tline\\none\np/b\t2\n");
    const j = await run("list", "--prefix", "p/", "--limit", "1", "--json", ...ep);
    assert.deepEqual(JSON.parse(j.stdout), [{ key: "p/a", value: "line\none" }]);
  });

  it("status prints a table with unreachable nodes; exit 3 when none answers", async () => {
    const r = await run("status", ...ep);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^ENDPOINT\s+ID\s+ROLE/);
    assert.match(r.stdout, /unreachable/);
    assert.match(r.stdout, /leader/);
    const dead = `http://127.0.0.1:${await deadPort()}`;
    assert.equal((await run("status", "--endpoints", dead, "--timeout", "1s")).code, 3);
  });

  it("exit 3 when the cluster is unavailable, 2 for usage errors", async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    assert.equal((await run("put", "k", "v", "--endpoints", dead, "--retries", "0")).code, 3);
    assert.equal((await run("get", "k", "--endpoints", "ftp://x:1")).code, 2);
    assert.equal((await run("get", "k", ...ep, "--timeout", "soon")).code, 2);
    assert.equal((await run("get", "k".repeat(1025), ...ep)).code, 2);
    assert.equal((await run("list", "--limit", "0", ...ep)).code, 2);
    assert.equal((await run("put", "k", ...ep)).code, 2);
    assert.equal((await run("get", "--help")).code, 0);
  });
});
