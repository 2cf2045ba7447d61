// `raftwork kv ARGS...` run in-process (the CLI's own entry, runCli), its output captured: for
// tests of the client commands against in-process servers.
import { runCli } from "../../src/cli/program.js";

/** Runs `raftwork kv ARGS...`; returns the exit status, stdout and stderr. */
export async function runKv(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io = {
    out: (text: string) => {
      stdout += text;
    },
    err: (text: string) => {
      stderr += text;
    },
  };
  const code = await runCli(["node", "raftwork", "kv", ...args], io);
  return { code, stdout, stderr };
}
