import type { Command } from "commander";

// Owned by the mr work stream: replaced by the real subcommands.
export function registerMr(program: Command): void {
  program.command("mr").description("(not built yet)");
}
