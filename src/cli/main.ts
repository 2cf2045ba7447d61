#!/usr/bin/env node
// The `raftwork` command: one entry, one subcommand module per part of the toolkit.
import { Command, CommanderError } from "commander";
import { CliExit, EXIT_FAILED, EXIT_USAGE } from "./exit.js";

const program = new Command("raftwork")
  .description("Raft consensus, a replicated KV store, MapReduce and a deterministic simulator")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

// Each part's command module is loaded only when it can be needed: a `raftwork mr worker`
// process then never loads the KV server (pino, prom-client, msgpackr, zod) nor the simulator,
// which saves ~0.15 CPU-s per process. Anything else (--help, `help`, a typo) registers every
// part, in this order, so top-level help and suggestions are unchanged.
const PARTS = {
  sim: async () => (await import("./sim.js")).registerSim,
  kv: async () => (await import("./kv.js")).registerKv,
  mr: async () => (await import("./mr.js")).registerMr,
} as const;
const first = process.argv[2] ?? "";
const parts = Object.hasOwn(PARTS, first)
  ? [first as keyof typeof PARTS]
  : (Object.keys(PARTS) as (keyof typeof PARTS)[]);
for (const part of parts) (await PARTS[part]())(program);

// Every subcommand inherits exitOverride so usage errors surface here and exit 2.
function inherit(cmd: Command): void {
  for (const sub of cmd.commands) {
    sub.exitOverride();
    sub.showHelpAfterError("(run with --help for usage)");
    inherit(sub);
  }
}
inherit(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help / --version print and exit 0; everything else commander reports is a usage error.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof CliExit) {
    if (err.message) process.stderr.write(`raftwork: ${err.message}\n`);
    process.exitCode = err.code;
  } else {
    process.stderr.write(
      `raftwork: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = EXIT_FAILED;
  }
}
