import type { Command } from "commander";

// Owned by the sim work stream: replaced by the real subcommands.
export function registerSim(program: Command): void {
  program.command("sim").description("(not built yet)");
}
