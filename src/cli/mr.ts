// `raftwork mr coordinator|worker|run|seq`: the MapReduce commands (README,
// "MapReduce"). Flags are validated here, at the boundary; the engine lives in src/mapreduce and
// reports problems as data (errors with stable codes, Results), which this file words in terms
// of the flags that caused them. Each action imports only the engine modules it runs (and
// pino, cli-progress) when it starts: a worker process never loads the coordinator, and --help
// loads none of them.

import { readFileSync, statSync } from "node:fs";
import { availableParallelism, constants } from "node:os";
import { resolve } from "node:path";
import type { SingleBar } from "cli-progress";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { AppError } from "../mapreduce/app/app.js";
import type { Coordinator, JobResult } from "../mapreduce/coordinator/coordinator.js";
// Small and free of dependencies: the usage checks run before anything else loads.
import { checkInputs, checkOutDir, type InputInfo } from "../mapreduce/coordinator/job-files.js";
import type { EarlyServer, ListenError, ServerRole } from "../mapreduce/protocol/http-server.js";
import type { LocalWorkers } from "../mapreduce/worker/local-workers.js";
import { RaftworkError } from "../util/errors.js";
import { formatHostPort, type HostPort, parseHostPort } from "../util/host-port.js";
import type { Logger } from "../util/logger.js";
import { parseDuration, parseIntIn, parseSize } from "./args.js";
import {
  CliExit,
  describeExitStatus,
  EXIT_FAILED,
  EXIT_UNAVAILABLE,
  EXIT_USAGE,
  type ExitMeanings,
} from "./exit.js";
import { readPemFlag, usable } from "./tls-flags.js";

const SPLIT_SIZE = "64MiB";
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** A commander parser for HOST:PORT (port 0, "any free port", only if allowZero). */
function hostPortFlag(allowZero: boolean): (text: string) => HostPort {
  return (text) => {
    const r = parseHostPort(text, allowZero);
    if (!r.ok) throw new InvalidArgumentError(r.error);
    return r.value;
  };
}

/** An advertised address: HOST:PORT, or HOST alone (the port is the one listened on). */
interface Advertise {
  host: string;
  port?: number | undefined;
}

function parseAdvertise(text: string): Advertise {
  const full = parseHostPort(text);
  if (full.ok) return full.value;
  // A bare host is valid where HOST:0 is (the same rules for names and [IPv6] hosts).
  const bare = parseHostPort(`${text}:0`, true);
  if (bare.ok) return { host: bare.value.host };
  throw new InvalidArgumentError(
    `"${text}" is not HOST or HOST:PORT (examples: this-host, this-host:7100)`,
  );
}

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

const EXIT_STATUS: Record<"coordinator" | "worker" | "run" | "seq", ExitMeanings> = {
  coordinator: {
    "0": "the job is done and every output is in place",
    "1": "the job failed (an app failed one task 4 times)",
    "2": "usage error: a bad flag or value, a missing input, an --out holding outputs",
    "3": "cannot listen on --listen or --http",
    "130, 143": "interrupted by SIGINT (Ctrl-C) or SIGTERM; complete outputs stay, nothing partial",
  },
  worker: {
    "0": "the job is done, or its coordinator is gone after this worker worked for it",
    "1": "refused by the coordinator: the app failed to load, or differs from the job's",
    "2": "usage error: a bad flag or value, a missing --app",
    "3": "no coordinator answered within 30s, or cannot listen on --listen",
    "130, 143": "interrupted by SIGINT (Ctrl-C) or SIGTERM; the scratch directory is removed",
  },
  run: {
    "0": "the job is done and every output is in place",
    "1": "the job failed (an app failed one task 4 times, or workers kept dying)",
    "2": "usage error: a bad flag or value, a missing input, an --out holding outputs, or an --app that cannot be loaded (checked once, before any worker starts)",
    "3": "cannot listen on --http",
    "130, 143": "interrupted by SIGINT (Ctrl-C) or SIGTERM; workers stop and remove their scratch",
  },
  seq: {
    "0": "done: DIR/mr-out-0 is in place",
    "1": "the app failed (threw, returned a bad shape, called process.exit)",
    "2": "usage error: a bad flag or value, a missing input, an --out holding outputs, or an --app that cannot be loaded",
  },
};

export function registerMr(program: Command): void {
  const mr = program
    .command("mr")
    .description("MapReduce: coordinator, workers, local runs, sequential reference");

  jobFlags(
    describeExitStatus(mr.command("coordinator"), EXIT_STATUS.coordinator)
      .description("run a job's coordinator: serves inputs, hands out tasks, writes DIR/mr-out-*")
      .argument("<files...>", "input files")
      .addOption(
        defaulted(
          "--listen <host:port>",
          "address workers connect to",
          hostPortFlag(true),
          "127.0.0.1:7070",
        ),
      ),
  ).action(async (files: string[], o: JobFlags & { listen: HostPort } & SecurityFlags) => {
    const inputs = checkJob(files, o.out, o.overwrite === true);
    await applySecurity(o);
    const tty = process.stderr.isTTY === true;
    const interrupt = onInterrupt();
    // On a terminal the progress bar shows what info-level logs would: keep them quiet there.
    const log = await logger(tty && o.logLevel === "info" ? "warn" : o.logLevel);
    const c = await startJob(inputs, o, o.listen, log);
    log.info({ listen: c.address, status: c.statusAddress }, "coordinator listening");
    await finishJob(c, o, tty, interrupt);
  });

  securityFlags(describeExitStatus(mr.command("worker"), EXIT_STATUS.worker))
    .description("run a worker: asks the coordinator for tasks until the job is done")
    .requiredOption(
      "--coordinator <host:port>",
      "the coordinator's --listen address",
      hostPortFlag(false),
    )
    .requiredOption("--app <file>", "application module (.js, .mjs or .ts)")
    .option("--scratch <dir>", "where map output is kept (a fresh subdirectory, removed on exit)")
    .addOption(
      defaulted(
        "--listen <host:port>",
        "where map output is served to reducers (port 0: any free port)",
        hostPortFlag(true),
        "127.0.0.1:0",
      ),
    )
    .option(
      "--advertise <host[:port]>",
      "address announced to reducers; HOST alone announces the port actually listened on (default: the listen address)",
      parseAdvertise,
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
      async (
        o: {
          coordinator: HostPort;
          app: string;
          scratch?: string;
          listen: HostPort;
          advertise?: Advertise;
          memory: number;
          connectTimeout: number;
          logLevel: string;
        } & SecurityFlags,
      ) => {
        const advertiseProblem = checkAdvertise(o.listen, o.advertise);
        await applySecurity(o);
        if (advertiseProblem?.refuse) throw new CliExit(EXIT_USAGE, advertiseProblem.message);
        checkAppFile(o.app);
        const interrupt = onInterrupt();
        const log = await logger(o.logLevel);
        if (advertiseProblem) log.warn(advertiseProblem.message);
        const { runWorker } = await import("../mapreduce/worker/worker.js");
        const exit = await runWorker({
          coordinator: o.coordinator,
          appPath: resolve(o.app),
          scratch: o.scratch,
          listen: o.listen,
          advertise: o.advertise,
          memoryBytes: o.memory,
          connectTimeoutMs: o.connectTimeout,
          log,
          signal: interrupt.signal,
        }).catch((err: unknown) => {
          throw engineExit(err, { "map-output": "--listen" }) ?? err;
        });
        switch (exit.outcome) {
          case "done":
            return;
          case "refused":
            throw new CliExit(EXIT_FAILED, `refused by the coordinator: ${exit.reason}`);
          case "no-coordinator":
            throw new CliExit(EXIT_UNAVAILABLE, exit.reason);
          case "interrupted":
            throw new CliExit(interrupt.exitStatus(), "");
        }
      },
    );

  jobFlags(
    describeExitStatus(mr.command("run"), EXIT_STATUS.run)
      .description("run a job locally: a coordinator and N worker processes, with a progress bar")
      .argument("<files...>", "input files")
      .requiredOption("--app <file>", "application module (.js, .mjs or .ts)")
      .requiredOption("--workers <n>", "number of worker processes", parseIntIn(1, 256)),
  ).action(
    async (files: string[], o: JobFlags & { app: string; workers: number } & SecurityFlags) => {
      const inputs = checkJob(files, o.out, o.overwrite === true);
      await applySecurity(o);
      let workers: LocalWorkers | undefined;
      const interrupt = onInterrupt(() => void workers?.stop(5000, "SIGTERM"));
      // The app is loaded once here, before anything starts: a bad one is refused now, in the
      // user's terms, instead of failing in every worker, task after task. The logger and
      // the engine load meanwhile.
      const workerLog = o.logLevel === "info" ? "warn" : o.logLevel;
      const [log, localWorkers, { listenEarly }] = await Promise.all([
        logger(workerLog),
        import("../mapreduce/worker/local-workers.js"),
        import("../mapreduce/protocol/http-server.js"),
        checkAppLoads(o.app),
      ]);
      if (interrupt.signal.aborted) throw new CliExit(interrupt.exitStatus(), "interrupted");
      // Listen first and start the workers at once: they boot while the coordinator loads and
      // plans the job (their requests wait for it), instead of after.
      const early = await listenEarly({ host: "127.0.0.1", port: 0 }, "control").catch(
        (err: unknown) => {
          throw engineExit(err, {}) ?? err;
        },
      );
      let c: Coordinator | undefined;
      let gaveUp: string | undefined;
      workers = new localWorkers.LocalWorkers({
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
          ...securityArgs(o),
        ],
        maxRestarts: Math.max(10, 5 * o.workers),
        onRestart: (why) => log.warn(`${why}: starting another`),
        onGiveUp: (why) => {
          if (c) c.abort(why);
          else gaveUp = why;
        },
      });
      try {
        // A coordinator that cannot start closes `early`: the workers' held requests then
        // fail, and the finally below stops them.
        c = await startJob(inputs, o, early, log);
        if (gaveUp) c.abort(gaveUp);
        await finishJob(c, o, process.stderr.isTTY === true, interrupt);
      } finally {
        // Workers exit by themselves once the job is over; on an interrupt or a failed
        // start they are told to (SIGTERM: each removes its scratch directory).
        const failed = c === undefined || interrupt.signal.aborted;
        await workers.stop(5000, failed ? "SIGTERM" : undefined);
      }
    },
  );

  describeExitStatus(mr.command("seq"), EXIT_STATUS.seq)
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
        checkAppFile(o.app);
        const overwrite = o.overwrite === true;
        checkJob(files, o.out, overwrite);
        const started = Date.now();
        const { runSequential } = await import("../mapreduce/seq.js");
        const r = await runSequential({
          appPath: resolve(o.app),
          files,
          outDir: o.out,
          overwrite,
          memoryBytes: o.memory,
          splitSize: parseSize(SPLIT_SIZE),
        }).catch((err: unknown) => {
          throw engineExit(err, { app: o.app }) ?? err;
        });
        process.stdout.write(
          `mr seq: done in ${seconds(Date.now() - started)}: ${count(files.length, "file")}, ${count(r.inputBytes, "input byte")}, ${count(r.mapOutputPairs, "map pair")}, ${count(r.outputPairs, "output line")} in ${o.out}/mr-out-0; peak RSS ${mib(process.resourceUsage().maxRSS)} MiB\n`,
        );
      },
    );
}

/** An option whose default is written in --help as a user would type it ("512MiB", not bytes). */
function defaulted<T>(flags: string, description: string, parse: (v: string) => T, text: string) {
  return new Option(flags, description).argParser(parse).default(parse(text), text);
}

/** Flags shared by `coordinator` and `run`. */
interface SecurityFlags {
  certFile?: string;
  keyFile?: string;
  trustedCaFile?: string;
  tokenFile?: string;
}

/** The flags that secure a job's traffic (src/mapreduce/protocol/security.ts). */
function securityFlags(cmd: Command): Command {
  return cmd
    .option(
      "--cert-file <file>",
      "mutual TLS for the job's traffic: this process's certificate (PEM)",
    )
    .option("--key-file <file>", "its private key (PEM)")
    .option("--trusted-ca-file <file>", "the CA that signs every certificate of the job (PEM)")
    .option("--token-file <file>", "a shared secret every request of the job must carry");
}

/** The security flags as given, for the workers `mr run` starts. */
function securityArgs(o: SecurityFlags): string[] {
  const flags: [string, string | undefined][] = [
    ["--cert-file", o.certFile],
    ["--key-file", o.keyFile],
    ["--trusted-ca-file", o.trustedCaFile],
    ["--token-file", o.tokenFile],
  ];
  return flags.flatMap(([flag, v]) => (v === undefined ? [] : [flag, resolve(v)]));
}

/** Reads the security flags (usage errors name the flag) and sets them for this process. */
async function applySecurity(o: SecurityFlags): Promise<void> {
  const given = [o.certFile, o.keyFile, o.trustedCaFile].filter((v) => v !== undefined).length;
  if (given !== 0 && given !== 3) {
    throw new CliExit(
      EXIT_USAGE,
      "--cert-file, --key-file and --trusted-ca-file go together (all three or none)",
    );
  }
  let token: string | undefined;
  if (o.tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(o.tokenFile, "utf8").trim();
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new CliExit(EXIT_USAGE, `--token-file: cannot read ${o.tokenFile} (${reason})`);
    }
    if (!/^[\x21-\x7e]{16,4096}$/.test(text)) {
      throw new CliExit(
        EXIT_USAGE,
        `--token-file: ${o.tokenFile} must hold 16..4096 printable characters without spaces`,
      );
    }
    token = text;
  }
  const { configureSecurity } = await import("../mapreduce/protocol/security.js");
  configureSecurity({
    ...(o.certFile && o.keyFile && o.trustedCaFile
      ? {
          tls: usable(["--cert-file", "--key-file", "--trusted-ca-file"], {
            cert: readPemFlag("--cert-file", o.certFile),
            key: readPemFlag("--key-file", o.keyFile),
            ca: readPemFlag("--trusted-ca-file", o.trustedCaFile),
          }),
        }
      : {}),
    ...(token !== undefined ? { token } : {}),
  });
}

function jobFlags(cmd: Command): Command {
  return securityFlags(cmd)
    .requiredOption("--reduce <n>", "number of reduce tasks (output files)", parseIntIn(1, 100_000))
    .requiredOption("--out <dir>", "output directory (created once the job starts)")
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
    .option(
      "--http <host:port>",
      "serve GET /status (JSON) and GET /metrics here",
      hostPortFlag(true),
    )
    .option("--overwrite", "replace existing mr-out-* files in --out")
    .addOption(new Option("--log-level <level>").choices(LOG_LEVELS).default("info"));
}

/**
 * The mistake the README once made: a worker on a free port (--listen HOST:0) announcing a
 * fixed one serves where nobody fetches. That is refused; a fixed port announced as another
 * may be a port forward, so it is only warned about, as is a wildcard address announced as is.
 */
function checkAdvertise(
  listen: HostPort,
  advertise: Advertise | undefined,
): { refuse: boolean; message: string } | undefined {
  const at = formatHostPort(listen);
  if (advertise?.port !== undefined && listen.port === 0)
    return {
      refuse: true,
      message: `--advertise ${formatHostPort(advertise as HostPort)} announces port ${advertise.port}, but --listen ${at} serves on a free port chosen at start, so reducers would fetch from a port nobody serves: give --advertise ${advertise.host} alone (it then announces the port listened on) or a fixed --listen port`,
    };
  if (advertise?.port !== undefined && advertise.port !== listen.port)
    return {
      refuse: false,
      message: `--advertise port ${advertise.port} differs from --listen port ${listen.port}: reducers will connect to ${advertise.port}, which works only if it is forwarded to ${listen.port}`,
    };
  if (!advertise && (listen.host === "0.0.0.0" || listen.host === "::"))
    return {
      refuse: false,
      message: `--listen ${at} without --advertise announces ${listen.host}, which reducers on other machines cannot reach: give --advertise THIS-HOST`,
    };
  return undefined;
}

/** The job's inputs, and its output directory, checked without creating anything (exit 2). */
function checkJob(files: string[], out: string, overwrite: boolean): InputInfo[] {
  const inputs = checkInputs(files);
  if (!inputs.ok) throw engineExit(inputs.error, {});
  const dir = checkOutDir(out, overwrite);
  if (!dir.ok) throw engineExit(dir.error, {});
  return inputs.value;
}

async function startJob(
  inputs: InputInfo[],
  o: JobFlags,
  listen: HostPort | EarlyServer,
  log: Logger,
): Promise<Coordinator> {
  const { startCoordinator } = await import("../mapreduce/coordinator/coordinator.js");
  return startCoordinator({
    listen,
    inputs,
    nReduce: o.reduce,
    outDir: o.out,
    overwrite: o.overwrite === true,
    taskTimeoutMs: o.taskTimeout,
    splitSize: o.splitSize,
    memoryBytes: o.memory,
    status: o.http,
    log,
  }).catch((err: unknown) => {
    throw engineExit(err, { control: "--listen", status: "--http" }) ?? err;
  });
}

/**
 * Waits for the job, showing a progress bar on a TTY; prints a summary; fails with exit 1.
 * An interrupt ends the wait: the coordinator closes (removing partial outputs) and the
 * command exits 128+signal.
 */
async function finishJob(
  c: Coordinator,
  o: JobFlags,
  tty: boolean,
  interrupt: Interrupt,
): Promise<void> {
  let bar: SingleBar | undefined;
  let timer: NodeJS.Timeout | undefined;
  const show = (s: JobResult["status"]) => ({
    phase: s.phase,
    workers: count(s.workers, "worker"),
  });
  if (tty) {
    const cliProgress = (await import("cli-progress")).default;
    bar = new cliProgress.SingleBar(
      {
        format: "{phase} [{bar}] {value}/{total} tasks | {workers} | {duration_formatted}",
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const s = c.status();
    bar.start(s.map.total + s.reduce.total, 0, show(s));
    timer = setInterval(() => {
      const st = c.status();
      bar?.update(st.map.done + st.reduce.done, show(st));
    }, 200);
  }
  let result: JobResult | undefined;
  try {
    result = await Promise.race([c.done, interrupt.happened]);
  } finally {
    if (timer) clearInterval(timer);
    await c.close();
  }
  if (bar) {
    const s = result?.status ?? c.status();
    bar.update(s.map.done + s.reduce.done, show(s));
    bar.stop();
  }
  if (!result) throw new CliExit(interrupt.exitStatus(), "interrupted: the job did not finish");
  process.stdout.write(summary(result, o.out));
  if (!result.ok) throw new CliExit(EXIT_FAILED, `job failed: ${result.error}`);
}

function summary(r: JobResult, out: string): string {
  const s = r.status;
  const k = s.counters;
  return [
    `mr: job ${r.ok ? "done" : "FAILED"} in ${seconds(r.elapsedMs)}: ${count(s.map.total, "map task")}, ${count(s.reduce.total, "reduce task")}`,
    `  input ${count(k.inputBytes, "byte")}, ${count(k.inputRecords, "line")}; map output ${count(k.mapOutputPairs, "pair")}; ${count(k.outputPairs, "output line")} in ${out}`,
    `  attempts ${k.attempts}, retries ${k.retries}, backups ${k.backups}, app failures ${k.failures}, spills ${k.spills}, workers lost ${s.lostWorkers}, workers refused ${s.refusedWorkers}`,
    `  peak RSS: coordinator ${mib(process.resourceUsage().maxRSS)} MiB, workers ${s.workerList.map((w) => (w.maxRssKiB === null ? "?" : mib(w.maxRssKiB))).join(" ")} MiB`,
    "",
  ].join("\n");
}

/** --app must name a file (exit 2); whether it is a usable app is up to the engine. */
function checkAppFile(app: string): void {
  if (!statSync(app, { throwIfNoEntry: false })?.isFile())
    throw new CliExit(EXIT_USAGE, `--app ${app}: no such file`);
}

/** Loads the app once, as a worker would, and refuses one that cannot be used (exit 2). */
async function checkAppLoads(app: string): Promise<void> {
  checkAppFile(app);
  const { forbidProcessExit, loadApp } = await import("../mapreduce/app/app.js");
  const allowExit = forbidProcessExit();
  try {
    await loadApp(resolve(app));
  } catch (err) {
    throw engineExit(err, { app }) ?? err;
  } finally {
    allowExit();
  }
}

/** Flag names to word an engine error in: which flag set the app, and each server's address. */
interface FlagNames extends Partial<Record<ServerRole, string>> {
  app?: string;
}

/**
 * The CliExit for an error the engine reports by code, worded in terms of the flags; undefined
 * for anything else (a bug: it surfaces with its stack).
 */
function engineExit(err: unknown, flags: FlagNames): CliExit | undefined;
function engineExit(err: RaftworkError, flags: FlagNames): CliExit;
function engineExit(err: unknown, flags: FlagNames): CliExit | undefined {
  if (!(err instanceof RaftworkError)) return undefined;
  switch (err.code) {
    case "MR_NO_INPUTS":
    case "MR_INPUT_MISSING":
    case "MR_INPUT_NOT_FILE":
    case "MR_INPUT_UNREADABLE":
      return new CliExit(EXIT_USAGE, err.message);
    case "MR_OUT_HAS_OUTPUTS":
      return new CliExit(EXIT_USAGE, `--out ${err.message} (use --overwrite to replace)`);
    case "MR_OUT_NOT_DIRECTORY":
    case "MR_OUT_NOT_WRITABLE":
      return new CliExit(EXIT_USAGE, `--out ${err.message}`);
    case "MR_APP_NOT_MODULE":
    case "MR_APP_LOAD_FAILED":
    case "MR_APP_BAD_EXPORT":
      return new CliExit(EXIT_USAGE, `--app ${flags.app}: ${(err as AppError).detail}`);
    case "MR_APP_FAILED":
      return new CliExit(EXIT_FAILED, err.message);
    case "MR_LISTEN_FAILED": {
      const e = err as ListenError;
      const flag = flags[e.role];
      const where = `${flag ? `${flag} ` : ""}${formatHostPort(e.address)}`;
      return new CliExit(
        EXIT_UNAVAILABLE,
        `cannot listen on ${where}: ${(e.cause as Error).message}`,
      );
    }
    default:
      return undefined;
  }
}

/** SIGINT and SIGTERM, caught so that the command can clean up before it exits. */
interface Interrupt {
  /** Aborted by the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** Resolves (with undefined) when that happens. */
  happened: Promise<undefined>;
  /** 128 + the signal's number, the shell's convention: 130 for SIGINT, 143 for SIGTERM. */
  exitStatus(): number;
}

/**
 * From now on SIGINT and SIGTERM abort `signal` (and call `then`) instead of ending the
 * process at once. The command cleans up and exits; should cleaning up hang, the process
 * exits anyway after 10 s. Later signals are ignored: cleanup is already under way.
 */
function onInterrupt(then?: () => void): Interrupt {
  const ac = new AbortController();
  let got: NodeJS.Signals | undefined;
  let resolveHappened: (v: undefined) => void = () => {};
  const happened = new Promise<undefined>((r) => {
    resolveHappened = r;
  });
  const exitStatus = () => 128 + (got ? constants.signals[got] : 0);
  const handler = (sig: NodeJS.Signals) => {
    if (got) return;
    got = sig;
    ac.abort();
    resolveHappened(undefined);
    then?.();
    setTimeout(() => process.exit(exitStatus()), 10_000).unref();
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return { signal: ac.signal, happened, exitStatus };
}

async function logger(level: string): Promise<Logger> {
  const pino = (await import("pino")).default;
  const log: Logger = pino({ level, base: undefined }, pino.destination(2));
  return log;
}

/** "1 worker", "2 workers". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(0);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
