// Shared helpers for the MapReduce process tests: run the compiled CLI as users do, track
// every child so after() can kill it, make inputs and compare outputs.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import type { JobStatus } from "../../src/mapreduce/protocol/messages.js";

const root = new URL("../..", import.meta.url).pathname;
/** The compiled CLI (npm test builds it first); RAFTWORK_CLI overrides it. */
export const CLI = process.env.RAFTWORK_CLI ?? join(root, "dist/cli/main.js");
export const APPS = join(root, "test/mapreduce/apps");
export const EXAMPLES = join(root, "examples");

export interface Proc {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null if killed by a signal). */
  exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
const groups = new WeakSet<ChildProcess>();

/**
 * Runs the CLI. `group`: in a process group of its own (its pid is the group's id), so that
 * a test can signal the command and every process it started at once, as Ctrl-C in a
 * terminal does.
 */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
  group = false,
): Proc {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, TMPDIR: sandbox, ...env },
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    detached: group,
  });
  live.add(child);
  if (group) groups.add(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      live.delete(child);
      resolve(code);
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** A job: `mr run --app APP --workers W --reduce R [FLAGS] --out OUT INPUTS`. */
export interface Job {
  app: string;
  workers: number;
  reduce: number;
  out: string;
  inputs: string[];
  /** More flags, as typed: ["--task-timeout", "1s"]. */
  flags?: string[];
}

export function runJob(job: Job, env: Record<string, string> = {}, group = false): Proc {
  const { app, workers, reduce, out, inputs, flags = [] } = job;
  const args = ["--workers", String(workers), "--reduce", String(reduce), ...flags];
  return runCli(
    ["mr", "run", "--app", app, ...args, "--out", out, ...inputs],
    env,
    undefined,
    group,
  );
}

/** Kills every process still running (call from after()). */
export function killAll(): void {
  for (const child of live) {
    try {
      // A process group's leader: its workers go with it.
      if (groups.has(child) && child.pid) process.kill(-child.pid, "SIGKILL");
      else child.kill("SIGKILL");
    } catch {
      // gone already
    }
  }
  live.clear();
}

/** Registers the cleanup every process test file needs: kill what is left, remove temp dirs. */
export function cleanUpAfterAll(): void {
  after(() => {
    killAll();
    removeTempDirs();
  });
}

/** The command lines of running processes that contain `text` (a unique path, say). */
export function processesWith(text: string): string[] {
  return execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.includes(text));
}

const dirs: string[] = [];
// Children get their own TMPDIR inside it: the scratch directories of workers a test kills
// with SIGKILL (which cannot clean up) go away with the test's temp dirs.
const sandbox = tempDir("mr-test-tmp-");

export function tempDir(prefix = "mr-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Deterministic text files (seeded), with repeated words, punctuation and non-ASCII. */
export function makeInputs(dir: string, n: number, lines = 400, seed = 1): string[] {
  const words = [
    "the",
    "whale",
    "Ship",
    "sea",
    "über",
    "café",
    "naïve",
    "𝒳ray",
    "日本",
    "zebra",
    "Ahab",
    "a",
    "I",
    "x-ray",
    "it's",
  ];
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const files: string[] = [];
  for (let f = 0; f < n; f++) {
    const out: string[] = [];
    for (let l = 0; l < lines; l++) {
      const k = 1 + Math.floor(rand() * 12);
      const line: string[] = [];
      for (let w = 0; w < k; w++)
        line.push(words[Math.floor(rand() * words.length)] + (rand() < 0.1 ? String(f) : ""));
      out.push(line.join(rand() < 0.2 ? ", " : " "));
    }
    const path = join(dir, `input-${f}.txt`);
    writeFileSync(path, `${out.join("\n")}\n`);
    files.push(path);
  }
  return files;
}

/** All lines of every mr-out-* in dir, sorted. */
export function outputLines(dir: string): string[] {
  const lines: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!/^mr-out-\d+$/.test(name)) continue;
    const text = readFileSync(join(dir, name), "utf8");
    for (const line of text.split("\n")) if (line) lines.push(line);
  }
  return lines.sort();
}

/** Runs `mr seq` and returns its sorted output lines. */
export async function seqLines(
  app: string,
  files: string[],
  env: Record<string, string> = {},
): Promise<string[]> {
  const out = tempDir("mr-seq-");
  const p = runCli(["mr", "seq", "--app", app, "--out", out, ...files], env);
  const code = await p.exited;
  if (code !== 0) throw new Error(`mr seq failed (${code}): ${p.stderr()}`);
  return outputLines(out);
}

/** Polls `cond` every 50 ms until it holds or the deadline passes. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export { freePort } from "../support/ports.js";

import { freePort } from "../support/ports.js";

/** Starts a coordinator on a free port; returns it with its address. */
export async function startCoordinator(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
) {
  const port = await freePort();
  const statusPort = await freePort();
  const addr = `127.0.0.1:${port}`;
  const proc = runCli(
    ["mr", "coordinator", "--listen", addr, "--http", `127.0.0.1:${statusPort}`, ...args],
    env,
    cwd,
  );
  return { proc, addr, statusUrl: `http://127.0.0.1:${statusPort}/status` };
}

/** The coordinator's GET /status, or undefined while it does not answer. */
export async function status(url: string): Promise<JobStatus | undefined> {
  try {
    const r = await fetch(url);
    return (await r.json()) as JobStatus;
  } catch {
    return undefined;
  }
}

export function startWorker(
  addr: string,
  app: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Proc {
  return runCli(["mr", "worker", "--coordinator", addr, "--app", app, ...extra], env);
}
