// The client CLI, run in-process against a fake single-node service (the process-level path
// through dist/cli/main.js is covered by test/kv-process).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { runCli } from "../../src/cli/program.js";
import { createKvHttpServer, type KvHttpServer } from "../../src/kv/http-api.js";
import { runKv as run } from "../support/run-kv.js";
import { deadPort, FakeService } from "./fake-service.js";

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

  it('put and get the keys "." and ".."', async () => {
    assert.equal((await run("put", "..", "up", ...ep)).code, 0);
    assert.equal((await run("put", ".", "here", ...ep)).code, 0);
    assert.deepEqual(await run("get", "..", ...ep), { code: 0, stdout: "up", stderr: "" });
    assert.deepEqual(await run("get", ".", ...ep), { code: 0, stdout: "here", stderr: "" });
    assert.equal((await run("del", "..", ...ep)).code, 0);
    assert.equal((await run("get", "..", ...ep)).code, 1);
  });

  it("list: a cut listing says how to continue; --from continues it, --all pages through", async () => {
    for (const k of ["q/1", "q/2", "q/3"]) await run("put", k, k, ...ep);
    const cut = await run("list", "--prefix", "q/", "--limit", "2", ...ep);
    assert.equal(cut.code, 0);
    assert.equal(cut.stdout, "q/1\tq/1\nq/2\tq/2\n");
    assert.match(
      cut.stderr,
      /^raftwork: more keys follow; continue with --from "q\/3", or use --all/,
    );
    const rest = await run("list", "--prefix", "q/", "--from", "q/3", ...ep);
    assert.deepEqual(rest, { code: 0, stdout: "q/3\tq/3\n", stderr: "" });
    const all = await run("list", "--prefix", "q/", "--all", "--json", ...ep);
    assert.deepEqual(
      JSON.parse(all.stdout).map((e: { key: string }) => e.key),
      ["q/1", "q/2", "q/3"],
    );
    assert.equal(all.stderr, "");
    assert.equal((await run("list", "--all", "--limit", "5", ...ep)).code, 2, "--all pages itself");
  });

  it("status exits 3 when no node knows a leader", async () => {
    const leaderless = new FakeService(2, null);
    const srv = await createKvHttpServer("127.0.0.1", 0, {
      service: leaderless,
      sm: leaderless.sm,
      id: 2,
    });
    try {
      const r = await run("status", "--endpoints", srv.url);
      assert.equal(r.code, 3);
      assert.match(r.stdout, /follower/, "the table is still printed");
      assert.match(r.stderr, /^raftwork: no node knows a leader/);
      assert.equal((await run("status", "--endpoints", `${srv.url},${server.url}`)).code, 0);
    } finally {
      await srv.close();
    }
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

  it("help marks required options and states what each exit status means", async () => {
    const cas = await run("cas", "--help");
    assert.equal(cas.code, 0);
    assert.match(cas.stdout, /--value <value>.*\(required\)/);
    assert.match(cas.stdout, /Exit status:\n\s+0 {2}success\n\s+1 {2}mismatch/);
    const serve = await run("serve", "--help");
    assert.doesNotMatch(serve.stdout, /--election-timeout[^\n]*\(required\)/);
    // --peers is needed on an empty --data only (a restart takes the configuration from it).
    assert.doesNotMatch(serve.stdout, /--peers <[^>]+>\s+\(required\)/);
    for (const flag of ["--id", "--http", "--data"]) {
      // The option's description, wrapped over any number of lines, up to the next option.
      const described = new RegExp(`${flag} <[^>]+>(?:(?!\\n {2}-)[\\s\\S])*\\(required\\)`);
      assert.match(serve.stdout, described, flag);
    }
    assert.match(serve.stdout, /Exit status:/);
    assert.match(
      (await run("status", "--help")).stdout,
      /3 {2}no node answered, or none knows a leader/,
    );
  });

  it("every message starts with 'raftwork: ', commander's own included; --version prints it", async () => {
    const bad = await run("get", "k", "--timeout", "soon");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^raftwork: option '--timeout <duration>' argument 'soon' is invalid/);
    assert.doesNotMatch(bad.stderr, /error:/);
    const unknown = await run("frobnicate");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^raftwork: unknown command 'frobnicate'/);
    let out = "";
    const code = await runCli(["node", "raftwork", "--version"], {
      out: (t) => {
        out += t;
      },
      err: () => {},
    });
    assert.equal(code, 0);
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    assert.equal(out.trim(), pkg.version);
  });
});
