#!/usr/bin/env node
// The `raftwork` command: one entry, one subcommand module per part of the toolkit.
import { Command, CommanderError } from "commander";
import { CliExit, EXIT_FAILED, EXIT_USAGE } from "./exit.js";
import { registerKv } from "./kv.js";
import { registerMr } from "./mr.js";
import { registerSim } from "./sim.js";

const program = new Command("raftwork")
  .description("Raft consensus, a replicated KV store, MapReduce and a deterministic simulator")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

registerSim(program);
registerKv(program);
registerMr(program);

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
