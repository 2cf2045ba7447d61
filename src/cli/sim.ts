// `raftwork sim`: deterministic simulation runs and sweeps (README, "Simulator"), and
// `raftwork sim --demo`, a narrated tour of any seed.
//
//   raftwork sim --nodes 5 --seed 42 --time 600s [--faults drop,delay,reorder,dup,partition,crash]
//                [--config random|default] [--trace FILE] [--json]
//   raftwork sim --seeds 1..500 --nodes 5 --time 300s [--json]
//   raftwork sim --demo [--seed N] [--nodes N] [--trace FILE] [--json] [--view]
//   raftwork sim view TRACE.jsonl [--http HOST:PORT]     (sim-view.ts, with `... --view`)
//   raftwork sim summary TRACE.jsonl [--json]

import { closeSync, openSync } from "node:fs";
import type * as CliProgress from "cli-progress";
import { type Command, InvalidArgumentError, Option } from "commander";
import { CONFIG_MODES, type ConfigMode } from "../sim/config.js";
import { runDemo } from "../sim/demo.js";
import { replayCommand as replay } from "../sim/replay.js";
import {
  FAULTS,
  type FaultName,
  PLANNED_FAULTS,
  runSimulation,
  type SimOptions,
  type SimResult,
} from "../sim/runner.js";
import { Trace } from "../sim/trace.js";
import { requireOptional } from "../util/optional.js";
import { parseDuration, parseIntIn } from "./args.js";
import { CliExit, describeExitStatus, EXIT_FAILED, EXIT_USAGE } from "./exit.js";
import { addViewOptions, registerTraceCommands, runWithView, type ViewFlags } from "./sim-view.js";
import { plural } from "./text.js";

export interface SimFlags extends ViewFlags {
  nodes: number;
  seed?: number;
  seeds?: { from: number; to: number };
  time: number;
  faults: FaultName[];
  config: ConfigMode;
  trace?: string;
  json?: boolean;
  demo?: boolean;
}

const MAX_SEED = Number.MAX_SAFE_INTEGER;

export function parseSeedRange(text: string): { from: number; to: number } {
  const m = /^(\d+)\.\.(\d+)$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a seed range (example: 1..500)`);
  const from = Number(m[1]);
  const to = Number(m[2]);
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from > to)
    throw new InvalidArgumentError(`seed range "${text}" must be A..B with A <= B`);
  return { from, to };
}

export function parseFaults(text: string): FaultName[] {
  if (text.trim() === "none") return [];
  const names = text.split(",").map((s) => s.trim());
  for (const n of names) {
    const planned = PLANNED_FAULTS[n];
    if (planned) throw new InvalidArgumentError(`fault "${n}" is not simulated yet: ${planned}`);
    if (!(FAULTS as readonly string[]).includes(n))
      throw new InvalidArgumentError(
        `unknown fault "${n}" (choose from ${FAULTS.join(",")}, or none)`,
      );
  }
  return [...new Set(names)] as FaultName[];
}

export function registerSim(program: Command): void {
  const sim = program
    .command("sim")
    .description("run the Raft core in the deterministic simulator under faults, from a seed")
    .addOption(new Option("--nodes <n>", "cluster size").argParser(parseIntIn(1, 15)).default(5))
    .addOption(
      new Option("--seed <n>", "random seed (default: 1)")
        .argParser(parseIntIn(0, MAX_SEED))
        .conflicts("seeds"),
    )
    .addOption(
      new Option("--seeds <A..B>", "run every seed from A to B (inclusive)").argParser(
        parseSeedRange,
      ),
    )
    .addOption(
      new Option("--time <duration>", "simulated time under faults (then heal and check liveness)")
        .argParser(parseDuration)
        .default(60_000, "60s"),
    )
    .addOption(
      new Option("--faults <list>", `comma-separated faults, or none`)
        .argParser(parseFaults)
        .default([...FAULTS], FAULTS.join(",")),
    )
    .addOption(
      new Option(
        "--config <mode>",
        "core and timing configuration: drawn from each seed (random) or today's defaults",
      )
        .choices(CONFIG_MODES)
        .default("random"),
    )
    .option("--trace <file>", "write the JSON Lines trace to FILE (single seed only)")
    .option("--json", "print one JSON object per seed (with --demo: per narrated event)")
    .addOption(
      new Option(
        "--demo",
        "a narrated run of --seed on --nodes: election, replication, leader crash, recovery",
      ).conflicts(["seeds", "time", "faults", "config"]),
    );
  describeExitStatus(sim, {
    0: "every seed ran without a violation (--demo: the tour completed)",
    1: "a safety or liveness violation (the seeds are named), or the demo failed",
  });
  addViewOptions(sim).action(async (flags: SimFlags, cmd: Command) => {
    const range = flags.seeds ?? { from: flags.seed ?? 1, to: flags.seed ?? 1 };
    if ((flags.trace || flags.view) && range.from !== range.to)
      throw new CliExit(
        EXIT_USAGE,
        `${flags.view ? "--view" : "--trace"} needs a single seed (--seed N or --seeds N..N)`,
      );
    if (flags.trace !== undefined) checkWritable(flags.trace);
    // The tour is easiest to follow on three nodes: the default unless --nodes says otherwise.
    const demoNodes = cmd.getOptionValueSource("nodes") === "default" ? 3 : flags.nodes;
    await runWithView(flags, async (traceFile) => {
      const withTrace = { ...flags, ...(traceFile ? { trace: traceFile } : {}) };
      if (flags.demo) await demo({ ...withTrace, nodes: demoNodes });
      else await sweep(withTrace, range);
    });
  });
  registerTraceCommands(sim);
}

/** A --trace FILE that cannot be written is a usage error, found before anything runs. */
function checkWritable(file: string): void {
  try {
    closeSync(openSync(file, "w"));
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    const why =
      reason === "ENOENT"
        ? "its directory does not exist"
        : reason === "EACCES" || reason === "EPERM" || reason === "EROFS"
          ? "permission denied"
          : reason === "EISDIR"
            ? "it is a directory"
            : String(reason);
    throw new CliExit(EXIT_USAGE, `--trace: cannot write ${file}: ${why}`);
  }
}

/** `sim --demo`: the narrated tour of one seed, as text lines or JSON Lines. */
async function demo(flags: SimFlags): Promise<void> {
  const seed = flags.seed ?? 1;
  const trace = new Trace(flags.trace ? { file: flags.trace } : {});
  const write = flags.json
    ? (atMs: number, text: string) => process.stdout.write(`${JSON.stringify({ atMs, text })}\n`)
    : (atMs: number, text: string) =>
        process.stdout.write(`[${(atMs / 1000).toFixed(3).padStart(7)}s] ${text}\n`);
  const r = await runDemo({ seed, nodes: flags.nodes, trace, write });
  const traceHash = trace.finish();
  if (flags.json) {
    const { commits, leaderChanges, messages } = r;
    const summary = { demo: r.ok ? "ok" : "failed", seed, nodes: flags.nodes, commits };
    process.stdout.write(`${JSON.stringify({ ...summary, leaderChanges, messages, traceHash })}\n`);
  }
  if (!r.ok)
    throw new CliExit(
      EXIT_FAILED,
      `the demo failed (seed ${seed}, ${plural(flags.nodes, "node")})`,
    );
}

/**
 * Runs every seed in `range`, printing one line (or JSON object) per seed; throws CliExit(1)
 * naming the failing seeds if any run had a violation. `run` is replaceable for tests.
 */
export async function sweep(
  flags: SimFlags,
  range: { from: number; to: number },
  run: (opts: SimOptions) => SimResult | Promise<SimResult> = runSimulation,
): Promise<void> {
  const failed: number[] = [];
  // `raftwork sim --seeds 1..1000 | head` closes stdout early: stop quietly, not with a stack.
  process.stdout.once("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(failedSoFar(failed));
    throw err;
  });
  const total = range.to - range.from + 1;
  const started = performance.now();
  const bar =
    total > 1 && !flags.json && process.stderr.isTTY
      ? new (requireOptional<typeof CliProgress>(
          "cli-progress",
          "the sweep's progress bar",
        ).SingleBar)({
          format: "seeds {bar} {value}/{total} ({failed} failed) eta {eta}s",
          stream: process.stderr,
        })
      : null;
  bar?.start(total, 0, { failed: 0 });
  for (let seed = range.from; seed <= range.to; seed++) {
    const result = await run({
      nodes: flags.nodes,
      seed,
      timeMs: flags.time,
      faults: flags.faults,
      config: flags.config,
      ...(flags.trace ? { traceFile: flags.trace } : {}),
    });
    if (result.violations.length > 0) failed.push(seed);
    const line = flags.json ? jsonLine(result) : humanLine(result, flags);
    process.stdout.write(`${line}\n`);
    bar?.update(seed - range.from + 1, { failed: failed.length });
    // Let the progress bar repaint (and Ctrl-C through) between seeds.
    if (bar) await new Promise((r) => setImmediate(r));
  }
  bar?.stop();
  if (!flags.json) {
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `${plural(total, "seed")}, ${failed.length} with violations (${secs}s real time)\n`,
    );
  }
  if (failed.length > 0)
    throw new CliExit(
      EXIT_FAILED,
      `violations with seed${failed.length === 1 ? "" : "s"} ${failed.join(", ")}`,
    );
}

function failedSoFar(failed: number[]): number {
  return failed.length > 0 ? EXIT_FAILED : 0;
}

/** Exactly the contract's keys, in the contract's order (`reads` and `config` come last). */
function jsonLine(r: SimResult): string {
  return JSON.stringify({
    seed: r.seed,
    nodes: r.nodes,
    simulatedMs: r.simulatedMs,
    commits: r.commits,
    leaderChanges: r.leaderChanges,
    messages: r.messages,
    violations: r.violations.map((v) => ({
      invariant: v.invariant,
      event: v.event,
      message: v.message,
    })),
    traceHash: r.traceHash,
    config: r.config,
    reads: r.reads,
  });
}

/**
 * The command that reproduces seed `seed` of this run exactly (the same trace hash): every
 * option that changes the run, with `--time` the fault phase (the heal phase follows by itself).
 */
export function replayCommand(flags: SimFlags, seed: number): string {
  const { nodes, time: timeMs, faults, config } = flags;
  return replay({ seed, nodes, timeMs, faults, config });
}

function humanLine(r: SimResult, flags: SimFlags): string {
  const head =
    `seed ${r.seed}: ${plural(r.nodes, "node")}, ${(r.simulatedMs / 1000).toFixed(1)}s simulated, ` +
    `${plural(r.commits, "commit")}, ${plural(r.reads, "read")}, ` +
    `${plural(r.leaderChanges, "leader change")}, ` +
    `${plural(r.messages, "request")}, ` +
    `trace ${r.traceHash.slice(0, 16)}`;
  if (r.violations.length === 0) return `${head}: ok`;
  const lines = [`${head}: VIOLATION`];
  for (const v of r.violations) lines.push(`  ${v.invariant} at event ${v.event}: ${v.message}`);
  if (r.traceTail.length > 0) lines.push("  trace tail:", ...r.traceTail.map((l) => `    ${l}`));
  lines.push(`  replay: ${replayCommand(flags, r.seed)}`);
  return lines.join("\n");
}
