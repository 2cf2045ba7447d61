// `raftwork mr coordinator|worker|run|seq`: the MapReduce commands (design.md, "The MapReduce
// contract"). Flags are validated here, at the boundary; the engine lives in src/mapreduce.
// Each action imports only the engine modules it runs (and pino, cli-progress) when it starts:
// a worker process never loads the coordinator, and --help loads none of them.

import { existsSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import type { SingleBar } from "cli-progress";
import { type Command, Option } from "commander";
import type { Logger } from "pino";
import { AppError } from "../mapreduce/app.js";
import type { Coordinator, JobResult } from "../mapreduce/coordinator.js";
import type { EarlyServer } from "../mapreduce/http.js";
import { checkInputs, type InputInfo, prepareOutDir, UsageError } from "../mapreduce/output.js";
import { type HostPort, parseDuration, parseHostPort, parseIntIn, parseSize } from "./args.js";
import { CliExit, EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE } from "./exit.js";

const SPLIT_SIZE = "64MiB";
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const hostPort = (t: string) => parseHostPort(t);
const hostPortOrZero = (t: string) => parseHostPort(t, true);
const fmt = (hp: HostPort) =>
  hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;

interface JobFlags {
  reduce: number;
  out: string;
  taskTimeout: number;
  splitSize: number;
  memory: number;
  http?: HostPort;
  overwrite?: boolean;
  logLevel: string;
}

export function registerMr(program: Command): void {
  const mr = program
    .command("mr")
    .description("MapReduce: coordinator, workers, local runs, sequential reference");

  jobFlags(
    mr
      .command("coordinator")
      .description("run a job's coordinator: serves inputs, hands out tasks, writes DIR/mr-out-*")
      .argument("<files...>", "input files")
      .addOption(
        defaulted(
          "--listen <host:port>",
          "address workers connect to",
          hostPortOrZero,
          "127.0.0.1:7070",
        ),
      ),
  ).action(async (files: string[], o: JobFlags & { listen: HostPort }) => {
    const tty = process.stderr.isTTY === true;
    // On a terminal the progress bar shows what info-level logs would: keep them quiet there.
    const log = await logger(tty && o.logLevel === "info" ? "warn" : o.logLevel);
    const c = await startJob(checkJob(files, o), o, o.listen, log);
    log.info({ listen: c.address, status: c.statusAddress }, "coordinator listening");
    await finishJob(c, o, tty);
  });

  mr.command("worker")
    .description("run a worker: asks the coordinator for tasks until the job is done")
    .requiredOption("--coordinator <host:port>", "the coordinator's --listen address", hostPort)
    .requiredOption("--app <file>", "application module (.js, .mjs or .ts)")
    .option("--scratch <dir>", "where map output is kept (a fresh subdirectory, removed on exit)")
    .addOption(
      defaulted(
        "--listen <host:port>",
        "where map output is served to reducers (port 0: any free port)",
        hostPortOrZero,
        "127.0.0.1:0",
      ),
    )
    .option(
      "--advertise <host:port>",
      "address announced to reducers (default: the listen address)",
      hostPort,
    )
    .addOption(
      defaulted(
        "--memory <size>",
        "memory budget for map output before it spills (the smaller of this and the job's --memory)",
        parseSize,
        "512MiB",
      ),
    )
    .addOption(
      new Option("--connect-timeout <duration>", "how long to look for a coordinator at start")
        .argParser(parseDuration)
        .default(30_000)
        .hideHelp(),
    )
    .addOption(new Option("--log-level <level>").choices(LOG_LEVELS).default("info"))
    .action(
      async (o: {
        coordinator: HostPort;
        app: string;
        scratch?: string;
        listen: HostPort;
        advertise?: HostPort;
        memory: number;
        connectTimeout: number;
        logLevel: string;
      }) => {
        checkApp(o.app);
        const { runWorker } = await import("../mapreduce/worker.js");
        const exit = await runWorker({
          coordinator: fmt(o.coordinator),
          appPath: resolve(o.app),
          scratch: o.scratch,
          listen: o.listen,
          advertise: o.advertise ? fmt(o.advertise) : undefined,
          memoryBytes: o.memory,
          connectTimeoutMs: o.connectTimeout,
          log: await logger(o.logLevel),
        });
        if (exit.code !== 0)
          throw new CliExit(exit.code === 3 ? EXIT_UNAVAILABLE : EXIT_FAILED, exit.message);
      },
    );

  jobFlags(
    mr
      .command("run")
      .description("run a job locally: a coordinator and N worker processes, with a progress bar")
      .argument("<files...>", "input files")
      .requiredOption("--app <file>", "application module (.js, .mjs or .ts)")
      .requiredOption("--workers <n>", "number of worker processes", parseIntIn(1, 256)),
  ).action(async (files: string[], o: JobFlags & { app: string; workers: number }) => {
    checkApp(o.app);
    const inputs = checkJob(files, o);
    // Listen first and start the workers at once: they boot while the coordinator loads and
    // plans the job (their requests wait for it), instead of after.
    const { listenEarly } = await import("../mapreduce/http.js");
    const early = await listenEarly("127.0.0.1", 0).catch((err: Error) => {
      throw new CliExit(EXIT_UNAVAILABLE, `cannot listen: ${err.message}`);
    });
    const log = await logger(o.logLevel === "info" ? "warn" : o.logLevel);
    let c: Coordinator | undefined;
    let gaveUp: string | undefined;
    const { LocalWorkers } = await import("../mapreduce/local-workers.js");
    const workerLog = o.logLevel === "info" ? "warn" : o.logLevel;
    const workers = new LocalWorkers({
      count: o.workers,
      args: [
        ...process.execArgv,
        // As many workers as cores keep every core busy with app code; V8's helper threads
        // (concurrent GC, background compilation) then only take turns with it. Without
        // them, 2 workers on 2 cores ran word count 8% faster (bench/RESULTS.md); with a
        // core to spare, the helpers win.
        ...(o.workers >= availableParallelism() ? ["--single-threaded"] : []),
        // The entry point running this command (dist/cli/main.js, or src through tsx).
        process.argv[1] as string,
        "mr",
        "worker",
        "--coordinator",
        early.address,
        "--app",
        resolve(o.app),
        "--log-level",
        workerLog,
        "--connect-timeout",
        `${Math.max(o.taskTimeout, 5000)}ms`,
      ],
      maxRestarts: Math.max(10, 5 * o.workers),
      onRestart: (why) => log.warn(`${why}: starting another`),
      onGiveUp: (why) => {
        if (c) c.scheduler.abort(why);
        else gaveUp = why;
      },
    });
    process.once("SIGINT", () => {
      workers.kill();
      process.exit(130);
    });
    try {
      c = await startJob(inputs, o, early, log).catch((err: unknown) => {
        // No coordinator will ever answer the workers' held requests: stop them now.
        workers.kill();
        if (early.server.listening) early.server.close();
        early.server.closeAllConnections();
        throw err;
      });
      if (gaveUp) c.scheduler.abort(gaveUp);
      await finishJob(c, o, process.stderr.isTTY === true);
    } finally {
      await workers.stop(5000);
    }
  });

  mr.command("seq")
    .description("sequential reference run: one process, one pass, writes DIR/mr-out-0")
    .argument("<files...>", "input files")
    .requiredOption("--app <file>", "application module (.js, .mjs or .ts)")
    .requiredOption("--out <dir>", "output directory")
    .addOption(
      defaulted("--memory <size>", "memory budget before pairs spill to disk", parseSize, "512MiB"),
    )
    .option("--overwrite", "replace existing mr-out-* files in --out")
    .action(
      async (
        files: string[],
        o: { app: string; out: string; memory: number; overwrite?: boolean },
      ) => {
        checkApp(o.app);
        usage(() => {
          checkInputs(files);
          prepareOutDir(o.out, o.overwrite === true);
        });
        const started = Date.now();
        const { runSequential } = await import("../mapreduce/seq.js");
        try {
          const r = await runSequential({
            appPath: resolve(o.app),
            files,
            outDir: o.out,
            memoryBytes: o.memory,
            splitSize: parseSize(SPLIT_SIZE),
          });
          process.stdout.write(
            `mr seq: done in ${seconds(Date.now() - started)}: ${files.length} files, ${r.inputBytes} input bytes, ${r.mapOutputPairs} map pairs, ${r.outputPairs} output lines in ${o.out}/mr-out-0; peak RSS ${mib(process.resourceUsage().maxRSS)} MiB\n`,
          );
        } catch (err) {
          if (err instanceof AppError) throw new CliExit(EXIT_FAILED, err.message);
          throw err;
        }
      },
    );
}

/** An option whose default is written in --help as a user would type it ("512MiB", not bytes). */
function defaulted<T>(flags: string, description: string, parse: (v: string) => T, text: string) {
  return new Option(flags, description).argParser(parse).default(parse(text), text);
}

/** Flags shared by `coordinator` and `run`. */
function jobFlags(cmd: Command): Command {
  return cmd
    .requiredOption("--reduce <n>", "number of reduce tasks (output files)", parseIntIn(1, 100_000))
    .requiredOption("--out <dir>", "output directory")
    .addOption(
      defaulted(
        "--task-timeout <duration>",
        "reissue a task after this long without heartbeat or progress",
        parseDuration,
        "10s",
      ),
    )
    .addOption(
      defaulted(
        "--split-size <size>",
        "split input files larger than this at line boundaries",
        parseSize,
        SPLIT_SIZE,
      ),
    )
    .addOption(
      defaulted(
        "--memory <size>",
        "memory budget of each worker before spilling to disk",
        parseSize,
        "512MiB",
      ),
    )
    .option("--http <host:port>", "serve GET /status (JSON) here", hostPortOrZero)
    .option("--overwrite", "replace existing mr-out-* files in --out")
    .addOption(new Option("--log-level <level>").choices(LOG_LEVELS).default("info"));
}

/** The job's inputs, checked, and its output directory, ready (exit 2 if not). */
function checkJob(files: string[], o: JobFlags): InputInfo[] {
  return usage(() => {
    const inputs = checkInputs(files);
    prepareOutDir(o.out, o.overwrite === true);
    return inputs;
  });
}

async function startJob(
  inputs: InputInfo[],
  o: JobFlags,
  listen: HostPort | EarlyServer,
  log: Logger,
): Promise<Coordinator> {
  const { startCoordinator } = await import("../mapreduce/coordinator.js");
  try {
    return await startCoordinator({
      listen,
      inputs,
      nReduce: o.reduce,
      outDir: o.out,
      taskTimeoutMs: o.taskTimeout,
      splitSize: o.splitSize,
      memoryBytes: o.memory,
      status: o.http,
      log,
    });
  } catch (err) {
    throw new CliExit(EXIT_UNAVAILABLE, `cannot listen: ${(err as Error).message}`);
  }
}

/** Waits for the job, showing a progress bar on a TTY; prints a summary; fails with exit 1. */
async function finishJob(c: Coordinator, o: JobFlags, tty: boolean): Promise<void> {
  let bar: SingleBar | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (tty) {
    const cliProgress = (await import("cli-progress")).default;
    bar = new cliProgress.SingleBar(
      {
        format: "{phase} [{bar}] {value}/{total} tasks | {workers} workers | {duration_formatted}",
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const s = c.scheduler.status(Date.now());
    bar.start(s.map.total + s.reduce.total, 0, { phase: "map", workers: 0 });
    timer = setInterval(() => {
      const st = c.scheduler.status(Date.now());
      bar?.update(st.map.done + st.reduce.done, { phase: st.phase, workers: st.workers });
    }, 200);
  }
  let result: JobResult;
  try {
    result = await c.done;
  } finally {
    if (timer) clearInterval(timer);
    await c.close();
  }
  if (bar) {
    bar.update(result.status.map.done + result.status.reduce.done, {
      phase: result.status.phase,
      workers: result.status.workers,
    });
    bar.stop();
  }
  process.stdout.write(summary(result, o.out));
  if (!result.ok) throw new CliExit(EXIT_FAILED, `job failed: ${result.error}`);
}

function summary(r: JobResult, out: string): string {
  const s = r.status;
  const k = s.counters;
  return [
    `mr: job ${r.ok ? "done" : "FAILED"} in ${seconds(r.elapsedMs)}: ${s.map.total} map tasks, ${s.reduce.total} reduce tasks`,
    `  input ${k.inputBytes} bytes, ${k.inputRecords} lines; map output ${k.mapOutputPairs} pairs; ${k.outputPairs} output lines in ${out}`,
    `  attempts ${k.attempts}, retries ${k.retries}, backups ${k.backups}, app failures ${k.failures}, spills ${k.spills}, workers lost ${s.lostWorkers}`,
    `  peak RSS: coordinator ${mib(process.resourceUsage().maxRSS)} MiB, workers ${s.workerList.map((w) => (w.maxRssKiB === null ? "?" : mib(w.maxRssKiB))).join(" ")} MiB`,
    "",
  ].join("\n");
}

function checkApp(app: string): void {
  if (!existsSync(app) || !statSync(app).isFile())
    throw new CliExit(EXIT_USAGE, `--app ${app}: no such file`);
}

function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof UsageError) throw new CliExit(EXIT_USAGE, err.message);
    throw err;
  }
}

async function logger(level: string): Promise<Logger> {
  const pino = (await import("pino")).default;
  return pino({ level, base: undefined }, pino.destination(2));
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(0);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
