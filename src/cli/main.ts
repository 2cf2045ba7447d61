#!/usr/bin/env node
// The `raftwork` command's entry point. It only loads the program (program.ts), so that a
// missing `commander`, an optional peer dependency like every package the CLI needs, is
// reported in one sentence instead of a resolver stack trace.
import { isMissingPackage, MissingDependencyError } from "../util/optional.js";

try {
  const { runCli } = await import("./program.js");
  process.exitCode = await runCli(process.argv);
} catch (err) {
  if (!isMissingPackage(err, "commander")) throw err;
  const missing = new MissingDependencyError("commander", "the raftwork command");
  process.stderr.write(`raftwork: ${missing.message}\n`);
  process.exitCode = 1;
}
