// `raftwork sim` as users run it: a real process, exit statuses, the --json contract.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CliExit, EXIT_FAILED } from "../../src/cli/exit.js";
import { replayCommand, type SimFlags, sweep } from "../../src/cli/sim.js";
import { DEFAULT_CONFIG } from "../../src/sim/config.js";
import { runDemo } from "../../src/sim/demo.js";
import { runSimulation, type SimResult } from "../../src/sim/runner.js";

const root = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "raftwork-sim-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function sim(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sim", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking: usage-error cases run side by side. */
function simAsync(...args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sim", ...args], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 60_000,
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("close", (status) => resolve({ status, stderr }));
  });
}

const KEYS = [
  "seed",
  "nodes",
  "simulatedMs",
  "commits",
  "leaderChanges",
  "messages",
  "violations",
  "traceHash",
  "config",
  "reads",
];

describe("raftwork sim", () => {
  it("--json prints exactly the contract's keys, one object per seed, exit 0", async () => {
    const r = sim("--seeds", "1..3", "--nodes", "3", "--time", "5s", "--json");
    assert.equal(r.status, 0, r.stderr);
    const objs = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      objs.map((o) => o.seed),
      [1, 2, 3],
    );
    for (const o of objs) {
      assert.deepEqual(Object.keys(o), KEYS);
      assert.equal(o.nodes, 3);
      assert.deepEqual(o.violations, []);
      assert.match(o.traceHash as string, /^[0-9a-f]{64}$/);
      assert.ok((o.simulatedMs as number) >= 5000);
    }
    // Each seed draws its own configuration; --config default pins today's.
    assert.notDeepEqual(objs[0]?.config, objs[1]?.config);
    const pinned = sim(
      "--seed",
      "2",
      "--nodes",
      "3",
      "--time",
      "5s",
      "--config",
      "default",
      "--json",
    );
    assert.deepEqual(JSON.parse(pinned.stdout).config, DEFAULT_CONFIG);
    // A sweep's seed 2 is the same run as --seed 2 alone.
    const single = sim("--seed", "2", "--nodes", "3", "--time", "5s", "--json");
    assert.equal(JSON.parse(single.stdout).traceHash, objs[1]?.traceHash);
  });

  it("--trace writes the JSONL trace whose sha256 is the hash; human output by default", async () => {
    const file = join(dir, "t.jsonl");
    const r = sim("--seed", "5", "--time", "3s", "--faults", "drop,crash", "--trace", file);
    assert.equal(r.status, 0, r.stderr);
    const hash = createHash("sha256").update(readFileSync(file)).digest("hex");
    assert.match(r.stdout, new RegExp(`seed 5: 5 nodes, .* trace ${hash.slice(0, 16)}: ok`));
    assert.match(r.stdout, /1 seed, 0 with violations/);
  });

  it("the printed replay command reproduces the run exactly (faults, config, fault time)", async () => {
    const flags: SimFlags = {
      nodes: 3,
      time: 4_000,
      faults: ["drop", "pause", "crash", "corrupt"],
      config: "random",
    };
    const original = await runSimulation({
      nodes: 3,
      seed: 11,
      timeMs: 4_000,
      faults: flags.faults,
    });
    const cmd = replayCommand(flags, 11);
    assert.match(cmd, /--time 4000ms --faults drop,pause,crash,corrupt --config random/);
    const args = cmd
      .replace(/^raftwork sim /, "")
      .replace(/ --trace trace\.jsonl$/, "")
      .split(" ");
    const replayed = JSON.parse(sim(...args, "--json").stdout) as Record<string, unknown>;
    assert.equal(replayed.traceHash, original.traceHash);
    assert.equal(replayed.simulatedMs, original.simulatedMs);
    const pinned = replayCommand({ ...flags, faults: [], config: "default" }, 11);
    assert.match(pinned, /--faults none --config default/);
  });

  it("sim summary prints the replay command of a traced run, and it reproduces the trace", () => {
    const file = join(dir, "replayed-from.jsonl");
    const args = ["--seed", "3", "--nodes", "3", "--time", "3s", "--faults", "drop,dup,crash"];
    const first = sim(...args, "--config", "default", "--trace", file, "--json");
    assert.equal(first.status, 0, first.stderr);
    const original = JSON.parse(first.stdout) as { traceHash: string; simulatedMs: number };
    assert.ok(original.simulatedMs > 3_000, "the run goes on past the fault phase");
    const summary = sim("summary", file, "--json");
    assert.equal(summary.status, 0, summary.stderr);
    const replay = (JSON.parse(summary.stdout) as { replay: string }).replay;
    assert.equal(
      replay,
      "raftwork sim --seed 3 --nodes 3 --time 3000ms --faults drop,dup,crash --config default " +
        "--trace trace.jsonl",
    );
    const again = join(dir, "replayed.jsonl");
    const replayArgs = replay
      .replace(/^raftwork sim /, "")
      .replace(/trace\.jsonl$/, again)
      .split(" ");
    const second = sim(...replayArgs, "--json");
    assert.equal(second.status, 0, second.stderr);
    assert.equal(
      (JSON.parse(second.stdout) as { traceHash: string }).traceHash,
      original.traceHash,
    );
    assert.deepEqual(readFileSync(again), readFileSync(file));
    assert.match(sim("summary", file).stdout, /^replay: raftwork sim --seed 3 /m);
  });

  it("usage errors exit 2 with a message naming the flag", async () => {
    const cases: [string[], RegExp][] = [
      [["--faults", "drop,bogus"], /--faults/],
      [["--config", "bogus"], /--config/],
      [["--faults", "drop,member"], /--faults.*member.*not simulated yet/],
      [["--seeds", "5..1"], /--seeds/],
      [["--nodes", "0"], /--nodes/],
      [["--time", "10d"], /--time/],
      [["--seed", "1", "--seeds", "1..2"], /--seed/],
      [["--seeds", "1..2", "--trace", join(dir, "x")], /--trace/],
    ];
    const results = await Promise.all(cases.map(([args]) => simAsync(...args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i] as [string[], RegExp];
      assert.equal(r.status, 2, `${args.join(" ")}: status ${r.status}, ${r.stderr}`);
      assert.match(r.stderr, message);
    });
  });

  it("counts in words that agree with the number: 1 node, 1 seed", async () => {
    const r = sim("--seed", "1", "--nodes", "1", "--time", "1s");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^seed 1: 1 node, /);
    assert.match(r.stdout, /\n1 seed, 0 with violations/);
    assert.doesNotMatch(r.stdout, /\b1 (nodes|seeds|commits|requests)\b/);
  });

  it("--demo narrates an election, a leader crash and recovery", async () => {
    const r = sim("--demo");
    assert.equal(r.status, 0, r.stderr);
    for (const want of [/won the election/, /crash/, /restarted/, /caught up/, /invariant held/])
      assert.match(r.stdout, want);
    assert.match(r.stdout, /^\[\s+\d+\.\d{3}s\] /m);
  });

  it("--demo narrates any seed on any cluster size, as text or JSON Lines, with --trace", async () => {
    const file = join(dir, "demo.jsonl");
    const r = sim("--demo", "--seed", "7", "--nodes", "5", "--json", "--trace", file);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.at(-1) as Record<string, unknown>;
    assert.equal(summary.demo, "ok");
    assert.equal(summary.seed, 7);
    assert.equal(summary.nodes, 5);
    const hash = createHash("sha256").update(readFileSync(file)).digest("hex");
    assert.equal(summary.traceHash, hash, "the trace file is the run's trace");
    assert.ok(
      lines.slice(0, -1).every((l) => typeof l.atMs === "number" && typeof l.text === "string"),
    );
    assert.ok(lines.some((l) => /won the election/.test(String(l.text))));
    const other = sim("--demo", "--seed", "8", "--nodes", "5", "--json");
    assert.notEqual(other.stdout, r.stdout, "another seed, another run");
    assert.equal(
      sim("--demo", "--seed", "7", "--nodes", "5", "--json", "--trace", file).stdout,
      r.stdout,
    );
  });

  it("--demo on every size and many seeds completes its tour (one or two nodes say they wait)", async () => {
    for (let nodes = 1; nodes <= 7; nodes++) {
      for (let seed = 1; seed <= 30; seed++) {
        const text: string[] = [];
        const r = await runDemo({ seed, nodes, write: (_at, t) => text.push(t) });
        assert.ok(r.ok, `seed ${seed}, ${nodes} nodes:\n${text.join("\n")}`);
        if (nodes <= 2) assert.ok(text.some((t) => /no leader until node \d+ returns/.test(t)));
      }
    }
  });

  it("--trace to a path that cannot be written is a usage error, before anything runs", async () => {
    for (const path of [join(dir, "missing", "t.jsonl"), dir]) {
      const r = await simAsync("--seed", "1", "--time", "1s", "--trace", path);
      assert.equal(r.status, 2, r.stderr);
      assert.match(
        r.stderr,
        /^raftwork: --trace: cannot write .*: (its directory does not exist|it is a directory)\n$/,
      );
    }
    const demo = await simAsync("--demo", "--trace", join(dir, "missing", "t.jsonl"));
    assert.equal(demo.status, 2);
    assert.equal((await simAsync("--demo", "--seeds", "1..2")).status, 2);
  });

  it("a violation in any seed makes the sweep fail with exit status 1, naming the seed", async () => {
    const flags: SimFlags = { nodes: 3, time: 1000, faults: [], config: "random", json: true };
    const fake = (o: { seed: number }): SimResult => ({
      seed: o.seed,
      nodes: 3,
      config: DEFAULT_CONFIG,
      simulatedMs: 1000,
      commits: 0,
      reads: 0,
      leaderChanges: 0,
      messages: 0,
      violations:
        o.seed === 8 ? [{ invariant: "election-safety", event: 3, message: "two leaders" }] : [],
      traceHash: "0".repeat(64),
      traceTail: [],
    });
    const write = process.stdout.write;
    const lines: string[] = [];
    process.stdout.write = ((s: string) => lines.push(s) > 0) as typeof process.stdout.write;
    try {
      await assert.rejects(sweep(flags, { from: 7, to: 9 }, fake), (err: unknown) => {
        assert.ok(err instanceof CliExit);
        assert.equal(err.status, EXIT_FAILED);
        assert.match(err.message, /seed 8/);
        return true;
      });
    } finally {
      process.stdout.write = write;
    }
    assert.equal(lines.length, 3);
    assert.deepEqual(JSON.parse(lines[1] as string).violations, [
      { invariant: "election-safety", event: 3, message: "two leaders" },
    ]);
  });
});
