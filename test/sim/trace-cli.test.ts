// `raftwork sim summary`, `sim view` and `sim ... --view` as users run them: the compiled CLI
// in a real process, its output, exit statuses, and the viewer's server over real HTTP.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
// The compiled CLI in a tracked child process, as the MapReduce process tests run it.
import { killAll, removeTempDirs, runCli } from "../mapreduce/helpers.js";
import { knownTraceText } from "./trace-fixture.js";

const root = new URL("../..", import.meta.url).pathname;
const CLI = join(root, "dist/cli/main.js");
const dir = mkdtempSync(join(tmpdir(), "raftwork-trace-cli-"));
const known = join(dir, "known.jsonl");
writeFileSync(known, knownTraceText());
after(() => {
  killAll();
  removeTempDirs();
  rmSync(dir, { recursive: true, force: true });
});

function raftwork(...args: string[]) {
  return spawnSync(process.execPath, [CLI, "sim", ...args], { encoding: "utf8", timeout: 60_000 });
}

interface Serving {
  url: string;
  stdout: () => string;
  /** SIGINT, then the exit status (SIGKILL after 20 s). */
  stop(): Promise<number | null>;
}

/** Starts `raftwork sim ...args` and waits (60 s at most) for it to print the viewer's URL. */
async function serving(...args: string[]): Promise<Serving> {
  const proc = runCli(["sim", ...args]);
  const deadline = Date.now() + 60_000;
  let url: string | undefined;
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  while (!url) {
    url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(proc.stdout() + proc.stderr())?.[1];
    if (!url && (exited || Date.now() > deadline))
      assert.fail(`no URL (${exited ? "it exited" : "60 s"}): ${proc.stdout()} ${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url,
    stdout: proc.stdout,
    stop: async () => {
      proc.child.kill("SIGINT");
      const timer = setTimeout(() => proc.child.kill("SIGKILL"), 20_000);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}

describe("raftwork sim summary", () => {
  it("prints the summary, or one JSON object with --json", () => {
    const text = raftwork("summary", known);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /elections: 1 leader elected/);
    assert.match(text.stdout, /violation: election-safety/);
    const json = raftwork("summary", known, "--json");
    assert.equal(json.status, 0, json.stderr);
    const s = JSON.parse(json.stdout) as { nodes: number[]; messages: { requests: number } };
    assert.deepEqual(s.nodes, [1, 2, 3]);
    assert.equal(s.messages.requests, 7);
  });

  it("refuses a malformed or missing trace with its line or its name (exit 1)", () => {
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, `${knownTraceText()}{"t":1,"ev":"heal"}\n`);
    const r = raftwork("summary", bad);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.jsonl: trace line \d+: time goes backwards/);
    assert.equal(r.stdout, "");
    const missing = raftwork("summary", join(dir, "nope.jsonl"));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /nope\.jsonl: no such file/);
    assert.equal(raftwork("summary").status, 2, "no trace named: usage error");
  });
});

describe("raftwork sim view", () => {
  it("serves the page, its modules and the trace on 127.0.0.1, until Ctrl-C", async () => {
    const s = await serving("view", known, "--http", "127.0.0.1:0");
    assert.match(
      s.stdout(),
      /trace viewer for .*known\.jsonl \(3 nodes, \d+ records, violation: election-safety\)/,
    );
    const page = await fetch(s.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await page.text(), /raftwork trace viewer/);
    for (const path of [
      "ui/viewer/main.js",
      "dist/sim/view/model.js",
      "dist/sim/trace-schema.js",
      "dist/util/errors.js",
    ]) {
      const r = await fetch(new URL(path, s.url));
      assert.equal(r.status, 200, path);
      assert.match(r.headers.get("content-type") ?? "", /^text\/javascript/, path);
    }
    const trace = await fetch(new URL("trace.jsonl", s.url));
    assert.equal(await trace.text(), knownTraceText());
    assert.deepEqual(await (await fetch(new URL("trace-info.json", s.url))).json(), {
      name: "known.jsonl",
      bytes: Buffer.byteLength(knownTraceText()),
    });
    assert.equal((await fetch(new URL("dist/cli/main.js", s.url))).status, 404);
    assert.equal(await s.stop(), 0);
  });

  it("refuses a malformed trace before listening, and a bad --http as a usage error", () => {
    const bad = join(dir, "bad2.jsonl");
    writeFileSync(bad, '{"t":0,"ev":"trace","v":1,"nodes":[1],"seed":1}\nnot json\n');
    const r = raftwork("view", bad, "--http", "127.0.0.1:0");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /trace line 2: not JSON/);
    assert.equal(raftwork("view", known, "--http", "nowhere").status, 2);
  });
});

describe("raftwork sim --view", () => {
  it("runs the simulation, then serves its trace; the temporary trace is removed at exit", async () => {
    const s = await serving(
      "--seed",
      "3",
      "--nodes",
      "3",
      "--time",
      "2s",
      "--view",
      "--http",
      "127.0.0.1:0",
    );
    const hash = /trace ([0-9a-f]{16})/.exec(s.stdout())?.[1];
    assert.ok(hash, s.stdout());
    const text = await (await fetch(new URL("trace.jsonl", s.url))).text();
    assert.equal(createHash("sha256").update(text).digest("hex").slice(0, 16), hash);
    const file = /trace viewer for (\S+)/.exec(s.stdout())?.[1] as string;
    assert.ok(existsSync(file));
    assert.equal(await s.stop(), 0);
    assert.equal(existsSync(file), false, "the temporary trace outlived the process");
  });

  it("keeps --trace's file, serves the demo's run, and needs a single seed", async () => {
    const file = join(dir, "kept.jsonl");
    const s = await serving(
      "--seed",
      "4",
      "--nodes",
      "3",
      "--time",
      "1s",
      "--trace",
      file,
      "--view",
      "--json",
      "--http",
      "127.0.0.1:0",
    );
    assert.equal(
      JSON.parse(s.stdout().trim()).seed,
      4,
      "with --json, stdout is the JSON line only",
    );
    assert.equal(await s.stop(), 0);
    assert.ok(readFileSync(file, "utf8").startsWith('{"t":0,"ev":"trace"'));

    const demo = await serving("--demo", "--view", "--http", "127.0.0.1:0");
    assert.match(demo.stdout(), /won the election/);
    const trace = await (await fetch(new URL("trace.jsonl", demo.url))).text();
    assert.match(trace, /"ev":"crash"/);
    assert.equal(await demo.stop(), 0);

    const r = raftwork("--seeds", "1..2", "--view");
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--view needs a single seed/);
  });
});
