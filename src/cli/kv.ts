import type { Command } from "commander";
import type { CliIo } from "./io.js";
import { registerKvClientCommands } from "./kv-client.js";
import { registerKvMemberCommands } from "./kv-member.js";
import { registerKvOpsCommands } from "./kv-ops.js";
import { registerKvServerCommands } from "./kv-server.js";

export function registerKv(program: Command, io?: CliIo): void {
  const kv = program.command("kv").description("replicated key-value store: servers and client");
  registerKvServerCommands(kv);
  registerKvClientCommands(kv, io);
  registerKvOpsCommands(kv, io);
  registerKvMemberCommands(kv, io);
}
