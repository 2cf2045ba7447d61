import type { Command } from "commander";

// Owned by the KV work stream: replaced by get|put|del|append|cas|list|status.
export function registerKvClientCommands(_kv: Command): void {}
