import type { Command } from "commander";

// Owned by the node-runtime work stream: replaced by serve and cluster.
export function registerKvServerCommands(_kv: Command): void {}
