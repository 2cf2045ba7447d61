import type { Command } from "commander";

// Owned by the kv work stream: replaced by the real subcommands.
export function registerKv(program: Command): void {
  program.command("kv").description("(not built yet)");
}
