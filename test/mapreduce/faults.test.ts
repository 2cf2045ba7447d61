// Process-level fault and usage tests: bad apps, bad flags, missing inputs, a coordinator
// that dies, a worker that finds none, a worker with another app, backup tasks, per-worker
// scratch directories, and map output lost with its worker before reducers fetched it.

import assert from "node:assert/strict";
import { copyFileSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { appHash } from "../../src/mapreduce/app/app.js";
import {
  APPS,
  cleanUpAfterAll,
  EXAMPLES,
  freePort,
  makeInputs,
  outputLines,
  processesWith,
  runCli,
  runJob,
  seqLines,
  startCoordinator,
  startWorker,
  status,
  tempDir,
  waitFor,
} from "./helpers.js";

cleanUpAfterAll();

const wc = join(EXAMPLES, "wc.ts");

describe("mr usage errors", { timeout: 240_000 }, () => {
  const inputs = makeInputs(tempDir(), 1, 5);
  const cases: [string, string[], RegExp][] = [
    [
      "bad duration",
      [
        "mr",
        "coordinator",
        "--reduce",
        "2",
        "--out",
        tempDir(),
        "--task-timeout",
        "soon",
        ...inputs,
      ],
      /--task-timeout/,
    ],
    ["missing --reduce", ["mr", "coordinator", "--out", tempDir(), ...inputs], /--reduce/],
    [
      "bad size",
      ["mr", "coordinator", "--reduce", "2", "--out", tempDir(), "--split-size", "12", ...inputs],
      /--split-size/,
    ],
    [
      "zero workers",
      ["mr", "run", "--app", wc, "--workers", "0", "--reduce", "1", "--out", tempDir(), ...inputs],
      /--workers/,
    ],
    [
      "bad --coordinator",
      ["mr", "worker", "--coordinator", "nowhere", "--app", wc],
      /--coordinator/,
    ],
    [
      "missing app",
      ["mr", "seq", "--app", join(APPS, "no-such-app.mjs"), "--out", tempDir(), ...inputs],
      /--app .*no such file/,
    ],
    [
      "missing input file",
      [
        "mr",
        "run",
        "--app",
        wc,
        "--workers",
        "1",
        "--reduce",
        "1",
        "--out",
        tempDir(),
        "/nonexistent/input.txt",
      ],
      /input file \/nonexistent\/input.txt does not exist/,
    ],
    [
      "missing input (seq)",
      ["mr", "seq", "--app", wc, "--out", tempDir(), "/nonexistent/input.txt"],
      /does not exist/,
    ],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: exit 2 with a message naming it`, async () => {
      const p = runCli(args);
      assert.equal(await p.exited, 2, p.stderr());
      assert.match(p.stderr(), message);
    });
  }

  it("an --out holding mr-out-* is refused unless --overwrite", async () => {
    const out = tempDir();
    writeFileSync(join(out, "mr-out-7"), "stale 1\n");
    const refused = runCli(["mr", "seq", "--app", wc, "--out", out, ...inputs]);
    assert.equal(await refused.exited, 2);
    assert.match(refused.stderr(), /mr-out-7.*--overwrite/);
    const ok = runCli(["mr", "seq", "--app", wc, "--out", out, "--overwrite", ...inputs]);
    assert.equal(await ok.exited, 0, ok.stderr());
    assert.deepEqual(readdirSync(out), ["mr-out-0"]);
  });

  it("every mr subcommand has --help, marking required options and stating exit statuses", async () => {
    const required: Record<string, string[]> = {
      coordinator: ["--reduce", "--out"],
      worker: ["--coordinator", "--app"],
      run: ["--app", "--workers", "--reduce", "--out"],
      seq: ["--app", "--out"],
    };
    for (const [sub, flags] of Object.entries(required)) {
      const p = runCli(["mr", sub, "--help"]);
      assert.equal(await p.exited, 0);
      const help = p.stdout();
      assert.match(help, /Usage:/);
      const marked = help
        .split("\n")
        .filter((l) => l.includes("(required)"))
        .map((l) => l.trim().split(/[ ,]/)[0]);
      assert.deepEqual(marked.sort(), [...flags].sort(), `${sub}: options marked (required)`);
      assert.match(help, /Exit status:\n {2}0 /);
      for (const code of ["1", "2"]) assert.match(help, new RegExp(`\n {2}${code} {2}\\S`));
    }
  });

  it("summaries count in words that agree: 1 map task, 1 reduce task", async () => {
    const out = tempDir();
    const p = runJob({ app: wc, workers: 1, reduce: 1, out, inputs });
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout(), /: 1 map task, 1 reduce task\n/);
    const s = runCli(["mr", "seq", "--app", wc, "--out", tempDir(), ...inputs]);
    assert.equal(await s.exited, 0, s.stderr());
    assert.match(s.stdout(), /: 1 file, /);
  });
});

describe("mr bad apps fail the job (exit 1) with an error naming app, task and input", {
  timeout: 240_000,
}, () => {
  const dir = tempDir();
  const inputs = makeInputs(dir, 1, 5);
  const cases: [string, RegExp][] = [
    ["map-throws.mjs", /map threw: boom in map/],
    ["bad-shape.mjs", /map item 1 is an object .*not \{key: string, value: string\}/],
    ["exits.mjs", /called process.exit\(7\)/],
  ];
  for (const [app, message] of cases) {
    it(app, async () => {
      const p = runJob({
        app: join(APPS, app),
        workers: 2,
        reduce: 1,
        flags: ["--task-timeout", "2s"],
        out: tempDir(),
        inputs,
      });
      assert.equal(await p.exited, 1, p.stderr());
      assert.match(
        p.stderr(),
        new RegExp(
          `job failed: app ${app.replace(".", "\\.")}: map task 0 \\(input ${inputs[0]}\\)`,
        ),
      );
      assert.match(p.stderr(), message);
      assert.match(p.stderr(), /failed 4 times/);
      const s = runCli(["mr", "seq", "--app", join(APPS, app), "--out", tempDir(), ...inputs]);
      assert.equal(await s.exited, 1);
      assert.match(s.stderr(), message);
    });
  }
});

describe("mr apps that cannot be loaded are refused before anything starts (exit 2)", {
  timeout: 240_000,
}, () => {
  const inputs = makeInputs(tempDir(), 1, 5);
  const app = (name: string, text: string) => {
    const path = join(tempDir(), name);
    writeFileSync(path, text);
    return path;
  };
  const cases: [string, string, RegExp][] = [
    [
      "not a module",
      app("package.json", '{"name": "not-an-app"}\n'),
      /not a module: expected a \.js, \.mjs, \.ts or \.mts file/,
    ],
    [
      "a missing export",
      join(APPS, "missing-reduce.mjs"),
      /missing export "reduce" is not a function/,
    ],
    [
      "a syntax error",
      app("broken.mjs", "export function map( {\n"),
      /cannot load module: .*(SyntaxError|Unexpected)/,
    ],
    [
      // Loaded in the command's own process, it must not end that process (with status 0!).
      "process.exit while loading",
      app("exits-on-load.mjs", "process.exit(0);\n"),
      /cannot load module: called process\.exit\(0\)/,
    ],
  ];
  for (const [name, app, message] of cases) {
    it(`mr run and mr seq: ${name}`, async () => {
      const tmp = tempDir("mr-refused-tmp-");
      const out = join(tempDir(), "out");
      const started = Date.now();
      const p = runJob({ app, workers: 2, reduce: 1, out, inputs }, { TMPDIR: tmp });
      assert.equal(await p.exited, 2, p.stderr());
      assert.match(p.stderr(), new RegExp(`raftwork: --app ${app.replace(/[.]/g, "\\.")}: `));
      assert.match(p.stderr(), message);
      assert.doesNotMatch(p.stderr(), /failed 4 times/, "found once, not by four task attempts");
      assert.ok(Date.now() - started < 30_000);
      assert.ok(!existsSync(out), "--out is not created");
      assert.deepEqual(readdirSync(tmp), [], "no worker started (none made a scratch directory)");
      const s = runCli(["mr", "seq", "--app", app, "--out", out, ...inputs]);
      assert.equal(await s.exited, 2, s.stderr());
      assert.match(s.stderr(), message);
      assert.ok(!existsSync(out), "--out is not created");
    });
  }
});

describe("mr coordinator and worker lifecycles", { timeout: 240_000 }, () => {
  it("a worker that finds no coordinator gives up with exit 3", async () => {
    const port = await freePort();
    const w = startWorker(`127.0.0.1:${port}`, wc, ["--connect-timeout", "1s"]);
    assert.equal(await w.exited, 3);
    assert.match(w.stderr(), /no coordinator at 127\.0\.0\.1/);
  });

  it("a coordinator that cannot start exits 3 and creates nothing; under mr run, it leaves no worker behind", async () => {
    // The workers start before the coordinator (they boot while it plans): when it then
    // fails (here: the --http port is taken), they must go too.
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    const app = join(tempDir(), "lonely-wc.ts");
    copyFileSync(wc, app);
    try {
      const inputs = makeInputs(tempDir(), 1, 5);
      const tmp = tempDir("mr-nostart-tmp-");
      const out = join(tempDir(), "out");
      const args = ["--workers", "2", "--reduce", "1", "--http", `127.0.0.1:${port}`];
      const p = runCli(["mr", "run", "--app", app, ...args, "--out", out, ...inputs], {
        TMPDIR: tmp,
      });
      assert.equal(await p.exited, 3, p.stderr());
      assert.match(p.stderr(), /cannot listen on --http 127\.0\.0\.1:\d+: .*EADDRINUSE/);
      await waitFor(() => processesWith(app).length === 0, 10_000, "workers still running");
      assert.ok(!existsSync(out), "--out is not created");
      await waitFor(() => readdirSync(tmp).length === 0, 10_000, "workers' scratch removed");
      // A coordinator alone must not hang on to its workers' port either, and must change
      // nothing: not create --out, not remove old outputs it was told to overwrite.
      const c = runCli(
        ["mr", "coordinator", "--listen", "127.0.0.1:0", ...args.slice(2)].concat([
          "--out",
          out,
          ...inputs,
        ]),
      );
      assert.equal(await c.exited, 3, c.stderr());
      assert.match(c.stderr(), /cannot listen on --http/);
      assert.ok(!existsSync(out), "--out is not created");
      const old = tempDir();
      writeFileSync(join(old, "mr-out-0"), "old 1\n");
      const listen = `127.0.0.1:${port}`;
      const o = runCli([
        "mr",
        "coordinator",
        "--listen",
        listen,
        "--reduce",
        "1",
        "--out",
        old,
        "--overwrite",
        ...inputs,
      ]);
      assert.equal(await o.exited, 3, o.stderr());
      assert.match(o.stderr(), new RegExp(`cannot listen on --listen ${listen}: .*EADDRINUSE`));
      assert.deepEqual(readdirSync(old), ["mr-out-0"], "the old output is still there");
    } finally {
      taken.close();
    }
  });

  it("a worker whose app differs from the job's is refused; workers exit 0 when the coordinator dies", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 2, 5);
    const c = await startCoordinator([
      "--reduce",
      "2",
      "--out",
      tempDir(),
      "--task-timeout",
      "2s",
      ...inputs,
    ]);
    const first = startWorker(c.addr, join(APPS, "gated.mjs"), [], { MR_TEST_DIR: dir });
    await waitFor(
      async () => (await status(c.statusUrl))?.workers === 1,
      20_000,
      "the first worker",
    );
    const other = startWorker(c.addr, wc);
    assert.equal(await other.exited, 1);
    assert.match(other.stderr(), /app wc\.ts differs from the job's app/);
    // Reduce tasks wait for a release that never comes: the job is mid-flight.
    await waitFor(
      async () => (await status(c.statusUrl))?.phase === "reduce",
      20_000,
      "the reduce phase",
    );
    const metrics = await (await fetch(c.statusUrl.replace("/status", "/metrics"))).text();
    assert.match(metrics, /mr_tasks\{kind="map",state="done"\} 2/);
    assert.match(metrics, /mr_workers\{state="live"\} 1/);
    // Bad requests get 4xx answers and never crash the coordinator.
    const base = `http://${c.addr}`;
    const bad: [string, RequestInit, number][] = [
      ["/v1/task", { method: "POST", body: "{not json" }, 400],
      ["/v1/task", { method: "POST", body: JSON.stringify({ workerId: -1 }) }, 400],
      [
        "/v1/register",
        { method: "POST", body: JSON.stringify({ appHash: "x", advertise: 3 }) },
        400,
      ],
      ["/v1/heartbeat", { method: "POST", body: JSON.stringify({ workerId: 999 }) }, 410],
      [
        "/v1/fail",
        { method: "POST", body: JSON.stringify({ workerId: 1, attempt: 1, kind: "?" }) },
        400,
      ],
      ["/v1/output/abc", { method: "PUT", body: "x" }, 400],
      ["/v1/input/99", { method: "GET" }, 404],
      ["/v1/nope", { method: "GET" }, 404],
    ];
    for (const [path, init, code] of bad) {
      const r = await fetch(base + path, init);
      assert.equal(r.status, code, `${init.method} ${path}`);
      assert.equal(typeof ((await r.json()) as { error?: unknown }).error, "string");
    }
    // Long poll: a worker asking when nothing is ready is held, and answered with the task
    // that frees up while it waits (a polling reply would have been "wait").
    const post = async (path: string, body: object) =>
      (await (await fetch(base + path, { method: "POST", body: JSON.stringify(body) })).json()) as {
        workerId: number;
        type: string;
        attempt: number;
      };
    const fake = { appHash: appHash(join(APPS, "gated.mjs")), appName: "gated.mjs" };
    const a = await post("/v1/register", { ...fake, advertise: "http://127.0.0.1:9" });
    const b = await post("/v1/register", { ...fake, advertise: "http://127.0.0.1:9" });
    const taken = await post("/v1/task", { workerId: a.workerId });
    assert.equal(taken.type, "reduce", "the reduce task the first worker is not running");
    const waiting = post("/v1/task", { workerId: b.workerId });
    await post("/v1/fail", {
      workerId: a.workerId,
      attempt: taken.attempt,
      kind: "fetch",
      error: "x",
    });
    assert.equal((await waiting).type, "reduce", "the parked worker gets the freed task");
    assert.equal((await status(c.statusUrl))?.phase, "reduce", "the coordinator is still serving");
    c.proc.child.kill("SIGKILL");
    assert.equal(await first.exited, 0, first.stderr());
  });

  it("SIGTERM to a worker removes its scratch directory (exit 143); SIGINT to a coordinator (exit 130)", async () => {
    const dir = tempDir();
    const scratch = tempDir("mr-interrupt-scratch-");
    const out = tempDir();
    const c = await startCoordinator(["--reduce", "2", "--out", out, ...makeInputs(dir, 2, 20)]);
    const w = startWorker(c.addr, join(APPS, "gated.mjs"), ["--scratch", scratch], {
      MR_TEST_DIR: dir,
    });
    await waitFor(
      async () => (await status(c.statusUrl))?.phase === "reduce",
      30_000,
      "the reduce phase",
    );
    const [own] = readdirSync(scratch);
    assert.ok(own && readdirSync(join(scratch, own)).some((f) => f.endsWith(".out")));
    w.child.kill("SIGTERM");
    assert.equal(await w.exited, 143, w.stderr());
    assert.deepEqual(readdirSync(scratch), [], "the worker's scratch directory is gone");
    c.proc.child.kill("SIGINT");
    assert.equal(await c.proc.exited, 130, c.proc.stderr());
    assert.ok(!existsSync(join(out, "mr-out-0")));
    assert.deepEqual(readdirSync(out), [], "no temporary output left");
  });
});

describe("mr workers that cannot take part", { timeout: 240_000 }, () => {
  it("a worker whose app fails to load is refused at registration with the reason (exit 1), and no task failure counts", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 2, 10);
    const out = tempDir();
    const c = await startCoordinator(["--reduce", "2", "--out", out, ...inputs]);
    const badApp = join(tempDir(), "package.json");
    writeFileSync(badApp, "{}\n");
    const bad = startWorker(c.addr, badApp);
    assert.equal(await bad.exited, 1, bad.stderr());
    assert.match(
      bad.stderr(),
      /raftwork: refused by the coordinator: app package\.json: not a module: expected a \.js/,
    );
    const s = await status(c.statusUrl);
    assert.ok(s);
    assert.equal(s.refusedWorkers, 1);
    assert.match(String(s.lastRefusal), /app package\.json: not a module/);
    assert.deepEqual(
      [s.workers, s.counters.attempts, s.counters.failures],
      [0, 0, 0],
      "the refused worker never joined, nor ran a task",
    );
    // It fixed nothing either: the next worker's app becomes the job's, and the job completes.
    const good = startWorker(c.addr, wc);
    assert.equal(await c.proc.exited, 0, c.proc.stderr());
    assert.equal(await good.exited, 0, good.stderr());
    assert.match(c.proc.stdout(), /app failures 0, .*workers refused 1/);
    assert.deepEqual(outputLines(out), await seqLines(wc, inputs));
  });

  it("--advertise HOST alone announces the port the worker really listens on", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 4, 20);
    const out = tempDir();
    const app = join(APPS, "gated.mjs");
    const env = { MR_TEST_DIR: dir, MR_WAIT_PEERS: "1" };
    const c = await startCoordinator(["--reduce", "2", "--out", out, ...inputs]);
    // The README's layout: a wildcard listen address on a free port, announced by name.
    const flags = ["--listen", "0.0.0.0:0", "--advertise", "localhost"];
    const workers = [startWorker(c.addr, app, flags, env), startWorker(c.addr, app, flags, env)];
    await waitFor(
      async () => (await status(c.statusUrl))?.phase === "reduce",
      30_000,
      "every map task done, on both workers",
    );
    const list = (await status(c.statusUrl))?.workerList ?? [];
    assert.equal(list.length, 2);
    for (const { url } of list) {
      assert.match(url, /^http:\/\/localhost:[1-9]\d*$/);
      const r = await fetch(`${url}/v1/map-output/0/99`);
      assert.equal(r.status, 404, `${url} is where that worker serves map output`);
    }
    writeFileSync(join(dir, "release"), "");
    assert.equal(await c.proc.exited, 0, c.proc.stderr());
    for (const w of workers) assert.equal(await w.exited, 0, w.stderr());
    assert.match(c.proc.stdout(), /retries 0/, "no reducer failed to fetch");
    assert.deepEqual(outputLines(out), await seqLines(app, inputs, env));
  });

  it("an --advertise port with a free --listen port is refused; a port that differs from a fixed one is warned about", async () => {
    const refused = startWorker("127.0.0.1:9", wc, [
      "--listen",
      "0.0.0.0:0",
      "--advertise",
      "this-host:7100",
    ]);
    assert.equal(await refused.exited, 2, refused.stderr());
    assert.match(
      refused.stderr(),
      /--advertise this-host:7100 announces port 7100, but --listen 0\.0\.0\.0:0 serves on a free port.*give --advertise this-host alone/,
    );
    const bad = startWorker("127.0.0.1:9", wc, ["--advertise", "a:b:c"]);
    assert.equal(await bad.exited, 2, bad.stderr());
    assert.match(bad.stderr(), /--advertise.*is not HOST or HOST:PORT/);
    // Warnings only: each worker starts, finds no coordinator at `nobody` and gives up (exit 3).
    const port = await freePort();
    const nobody = `127.0.0.1:${await freePort()}`;
    const warned: [string[], RegExp][] = [
      [
        ["--listen", `127.0.0.1:${port}`, "--advertise", `127.0.0.1:${port + 1}`],
        new RegExp(`--advertise port ${port + 1} differs from --listen port ${port}`),
      ],
      [["--listen", "0.0.0.0:0"], /--listen 0\.0\.0\.0:0 without --advertise announces 0\.0\.0\.0/],
    ];
    for (const [flags, warning] of warned) {
      const w = startWorker(nobody, wc, [...flags, "--connect-timeout", "300ms"]);
      assert.equal(await w.exited, 3, w.stderr());
      assert.match(w.stderr(), warning);
    }
  });
});

describe("mr without a shared filesystem", { timeout: 240_000 }, () => {
  it("a worker that cannot read the input paths gets the inputs from the coordinator", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 3, 50).map((f) => f.slice(dir.length + 1)); // relative to dir
    const out = tempDir();
    const c = await startCoordinator(
      ["--reduce", "2", "--out", out, "--split-size", "2KiB", ...inputs],
      {},
      dir,
    );
    const elsewhere = tempDir(); // the worker's cwd: the relative paths do not resolve here
    const w = runCli(["mr", "worker", "--coordinator", c.addr, "--app", wc], {}, elsewhere);
    assert.equal(await c.proc.exited, 0, c.proc.stderr());
    assert.equal(await w.exited, 0, w.stderr());
    assert.deepEqual(
      outputLines(out),
      await seqLines(
        wc,
        inputs.map((f) => join(dir, f)),
      ),
    );
  });
});

describe("mr fault tolerance", { timeout: 240_000 }, () => {
  it("a backup copy takes over from a straggler", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 4, 40);
    const out = tempDir();
    const app = join(APPS, "slow-first.mjs");
    const p = runJob(
      { app, workers: 2, reduce: 2, flags: ["--task-timeout", "2s"], out, inputs },
      { MR_TEST_DIR: dir },
    );
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout(), /backups 1/);
    const seqDir = tempDir();
    writeFileSync(join(seqDir, "slow-claimed"), "");
    assert.deepEqual(outputLines(out), await seqLines(app, inputs, { MR_TEST_DIR: seqDir }));
  });

  it("workers keep map output in their own scratch directories and remove it on exit", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 4, 20);
    const out = tempDir();
    const scratch = [tempDir("mr-scratch-a-"), tempDir("mr-scratch-b-")];
    const app = join(APPS, "gated.mjs");
    const env = { MR_TEST_DIR: dir, MR_WAIT_PEERS: "1" };
    const c = await startCoordinator([
      "--reduce",
      "2",
      "--out",
      out,
      "--task-timeout",
      "3s",
      ...inputs,
    ]);
    const workers = scratch.map((s) => startWorker(c.addr, app, ["--scratch", s], env));
    const mapOutputs = (s: string) =>
      readdirSync(s).flatMap((d) =>
        readdirSync(join(s, d))
          .filter((f) => f.endsWith(".out"))
          .map((f) => join(s, d, f)),
      );
    await waitFor(
      () => scratch.every((s) => mapOutputs(s).length > 0),
      30_000,
      "map output in both scratch dirs",
    );
    const [a, b] = scratch.map((s) => new Set(mapOutputs(s).map((f) => f.split("/").pop())));
    for (const f of a ?? []) assert.ok(!b?.has(f), `${f} is in both scratch dirs`);
    writeFileSync(join(dir, "release"), "");
    assert.equal(await c.proc.exited, 0, c.proc.stderr());
    for (const w of workers) assert.equal(await w.exited, 0, w.stderr());
    for (const s of scratch) assert.deepEqual(readdirSync(s), [], `${s} is left empty`);
    assert.deepEqual(outputLines(out), await seqLines(app, inputs, { MR_TEST_DIR: dir }));
  });

  it("map tasks rerun when their worker dies before reducers fetched the output", async () => {
    const dir = tempDir();
    const inputs = makeInputs(dir, 3, 30);
    const out = tempDir();
    const app = join(APPS, "gated.mjs");
    const c = await startCoordinator([
      "--reduce",
      "2",
      "--out",
      out,
      "--task-timeout",
      "2s",
      ...inputs,
    ]);
    const w1 = startWorker(c.addr, app, [], { MR_TEST_DIR: dir });
    await waitFor(
      async () => (await status(c.statusUrl))?.phase === "reduce",
      20_000,
      "every map task done",
    );
    w1.child.kill("SIGKILL");
    await w1.exited;
    writeFileSync(join(dir, "release"), "");
    const w2 = startWorker(c.addr, app, [], { MR_TEST_DIR: dir });
    assert.equal(await c.proc.exited, 0, c.proc.stderr());
    assert.equal(await w2.exited, 0, w2.stderr());
    assert.match(c.proc.stdout(), /workers lost 1/);
    const retries = Number(/retries (\d+)/.exec(c.proc.stdout())?.[1]);
    assert.ok(retries >= inputs.length, `every map task ran again (retries ${retries})`);
    assert.ok(!existsSync(join(out, ".mr-out-0.tmp")));
    assert.deepEqual(outputLines(out), await seqLines(app, inputs, { MR_TEST_DIR: dir }));
  });
});
