// The `raftwork` program: one entry, one subcommand module per part of the toolkit, and the
// conventions every command shares (README, "Conventions"): usage errors exit 2, every message
// starts with "raftwork: ", help marks required options and states the exit statuses.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { isMissingPackage, MissingDependencyError } from "../util/optional.js";
import { CliExit, describeExitStatus, EXIT_FAILED, EXIT_USAGE } from "./exit.js";
import { type CliIo, PROCESS_IO } from "./io.js";

const PACKAGE = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
) as {
  version: string;
  peerDependencies?: Record<string, string>;
};

// Each part's command module is loaded only when it can be needed: a `raftwork mr worker`
// process then never loads the KV server (pino, prom-client, msgpackr, zod) nor the simulator,
// which saves ~0.15 CPU-s per process. Anything else (--help, `help`, a typo) registers every
// part, in this order, so top-level help and suggestions are unchanged.
const PARTS = {
  sim: async (p: Command, _io: CliIo) => (await import("./sim.js")).registerSim(p),
  kv: async (p: Command, io: CliIo) => (await import("./kv.js")).registerKv(p, io),
  mr: async (p: Command, _io: CliIo) => (await import("./mr.js")).registerMr(p),
} as const;

/** Builds the program for `argv` (process.argv's shape: node, script, args...). */
export async function buildProgram(argv: readonly string[], io: CliIo = PROCESS_IO) {
  const program = new Command("raftwork")
    .description("Raft consensus, a replicated KV store, MapReduce and a deterministic simulator")
    .version(PACKAGE.version, "-V, --version", "print the version")
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      // commander starts its messages with "error: "; every raftwork message starts alike.
      outputError: (text, write) => write(text.replace(/^error: /, "raftwork: ")),
    })
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  const first = argv[2] ?? "";
  const parts = Object.hasOwn(PARTS, first)
    ? [first as keyof typeof PARTS]
    : (Object.keys(PARTS) as (keyof typeof PARTS)[]);
  for (const part of parts) await PARTS[part](program, io);
  conventions(program);
  return program;
}

/** Every subcommand: usage errors surface here (exit 2), required options say so. */
function conventions(cmd: Command): void {
  describeExitStatus(cmd);
  for (const opt of cmd.options) {
    // First, so that it stays on the option's own line however the description wraps.
    if (opt.mandatory && !opt.description.startsWith("(required)")) {
      opt.description = `(required) ${opt.description}`;
    }
  }
  for (const sub of cmd.commands) {
    sub.exitOverride();
    sub.showHelpAfterError("(run with --help for usage)");
    conventions(sub);
  }
}

/** Runs the program and returns its exit status. */
export async function runCli(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  try {
    const program = await buildProgram(argv, io);
    await program.parseAsync(argv as string[]);
    return 0;
  } catch (err) {
    // --help / --version print and exit 0; everything else commander reports is a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    if (err instanceof CliExit) {
      if (err.message) io.err(`raftwork: ${err.message}\n`);
      return err.status;
    }
    const missing = missingPeer(err);
    if (missing !== null) {
      io.err(`raftwork: ${missing.message}\n`);
      return EXIT_FAILED;
    }
    io.err(`raftwork: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT_FAILED;
  }
}

/** The error as a MissingDependencyError if it says an optional peer is not installed. */
function missingPeer(err: unknown): MissingDependencyError | null {
  if (err instanceof MissingDependencyError) return err;
  for (const name of Object.keys(PACKAGE.peerDependencies ?? {})) {
    if (isMissingPackage(err, name)) return new MissingDependencyError(name, "this command");
  }
  return null;
}
