// Process-level test harness: real `raftwork kv serve` processes (the compiled CLI, as users run
// it) on loopback ports, real files, kill -9 / SIGSTOP / restart. Every process started here
// is tracked and killed by killAll() (call it from after()).

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const CLI = join(ROOT, "dist/cli/main.js");

if (!existsSync(CLI)) {
  throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does it)`);
}

const live = new Set<ChildProcess>();

export { freePorts, freeRange } from "../support/ports.js";

import { freePorts } from "../support/ports.js";

const tempDirs = new Set<string>();

/** A fresh directory under the OS temp dir, removed by removeTempDirs(). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `raftwork-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

export interface NodeSpec {
  id: number;
  raftPort: number;
  httpPort: number;
  data: string;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (for usage errors and refusals). */
export function runCli(args: string[], timeoutMs = 20_000): ProcessResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs `cmd` to completion without blocking the event loop (the cluster under test keeps
 * being served by its own processes either way), feeding `input` on stdin; killed after 60 s.
 */
export function runProcess(cmd: string, args: string[], input = ""): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ETCDCTL_API: "3" } });
    live.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** Runs the CLI to completion without blocking the event loop (other processes' pipes drain). */
export function runCliAsync(args: string[], timeoutMs = 20_000): Promise<ProcessResult> {
  const child = spawnCli(args);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) =>
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** Starts the CLI in the background; it is killed by killAll(). */
export function spawnCli(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/**
 * Starts `raftwork kv cluster ARGS` and resolves, once it says the cluster is ready (or exits,
 * or `timeoutMs` passes), with the child and what it printed so far.
 */
export async function launchCluster(
  args: string[],
  timeoutMs = 60_000,
): Promise<{ child: ChildProcess; out: string }> {
  const child = spawnCli(["kv", "cluster", ...args]);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + timeoutMs;
  while (!out.includes("press Ctrl-C") && Date.now() < deadline && child.exitCode === null) {
    await sleep(50);
  }
  return { child, out };
}

export function killAll(): void {
  for (const c of live) {
    try {
      c.kill("SIGCONT");
      c.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

export class TestCluster {
  readonly nodes: NodeSpec[];
  readonly procs = new Map<number, ChildProcess>();
  readonly logs = new Map<number, string>();

  constructor(
    readonly dir: string,
    ports: number[],
    readonly extraArgs: string[] = [],
  ) {
    const n = ports.length / 2;
    this.nodes = Array.from({ length: n }, (_, k) => ({
      id: k + 1,
      raftPort: ports[2 * k] as number,
      httpPort: ports[2 * k + 1] as number,
      data: join(dir, `node-${k + 1}`),
    }));
  }

  static async create(n: number, extraArgs: string[] = []): Promise<TestCluster> {
    const dir = tempDir("kv");
    return new TestCluster(dir, await freePorts(2 * n), [
      "--election-timeout",
      "300ms",
      "--heartbeat",
      "50ms",
      ...extraArgs,
    ]);
  }

  get peers(): string {
    return this.nodes.map((n) => `${n.id}=127.0.0.1:${n.raftPort}`).join(",");
  }

  url(id: number): string {
    return `http://127.0.0.1:${this.spec(id).httpPort}`;
  }

  get urls(): string[] {
    return this.nodes.map((n) => this.url(n.id));
  }

  spec(id: number): NodeSpec {
    const s = this.nodes.find((n) => n.id === id);
    if (!s) throw new Error(`no node ${id}`);
    return s;
  }

  serveArgs(id: number): string[] {
    const s = this.spec(id);
    return [
      "kv",
      "serve",
      "--id",
      String(id),
      "--peers",
      this.peers,
      "--http",
      `127.0.0.1:${s.httpPort}`,
      "--data",
      s.data,
      ...this.extraArgs,
    ];
  }

  /** Starts node `id` (with `extra` flags) and resolves once it printed its ready line. */
  async start(id: number, extra: string[] = []): Promise<void> {
    const child = spawnCli([...this.serveArgs(id), ...extra]);
    this.procs.set(id, child);
    let out = "";
    child.stderr?.on("data", (b: Buffer) => {
      this.logs.set(id, (this.logs.get(id) ?? "") + b.toString());
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node ${id} not ready in 20 s: ${out}`)),
        20_000,
      );
      child.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`node ${id} exited (${code}) before ready: ${this.logs.get(id) ?? ""}`));
      });
    });
  }

  async startAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.start(n.id)));
  }

  /** kill -9 and wait for the process to be gone. */
  async kill9(id: number): Promise<void> {
    const child = this.procs.get(id);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await gone;
    this.procs.delete(id);
  }

  pause(id: number): void {
    this.procs.get(id)?.kill("SIGSTOP");
  }

  resume(id: number): void {
    this.procs.get(id)?.kill("SIGCONT");
  }

  running(id: number): boolean {
    const c = this.procs.get(id);
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  async status(id: number): Promise<Status | null> {
    try {
      const res = await fetch(`${this.url(id)}/v1/status`, { signal: AbortSignal.timeout(1000) });
      return res.ok ? ((await res.json()) as Status) : null;
    } catch {
      return null;
    }
  }

  /** Waits until the running nodes agree on one leader; returns its id. */
  async leader(timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const up = this.nodes.filter((n) => this.running(n.id));
      const seen = await Promise.all(up.map((n) => this.status(n.id)));
      const leaders = seen.filter((s) => s?.role === "leader");
      if (leaders.length === 1 && seen.every((s) => s?.leader === leaders[0]?.id)) {
        return leaders[0]?.id as number;
      }
      await sleep(50);
    }
    throw new Error("no leader agreed on in time");
  }

  async stopAll(): Promise<void> {
    for (const n of this.nodes) await this.kill9(n.id);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Status {
  id: number;
  role: string;
  term: number;
  leader: number | null;
  commitIndex: number;
  appliedIndex: number;
  members: number[];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Answer {
  status: number;
  body: string;
}

/** One HTTP request; null when the connection failed or timed out. */
export async function request(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
  timeoutMs = 3000,
): Promise<Answer | null> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch {
    return null;
  }
}

/**
 * A client with exactly-once writes: one client id, increasing request ids, and a write retried
 * with the same id (on 503/504/connection errors) on the next endpoint until it gets an answer
 * or the deadline passes.
 */
export class Client {
  private nextRequest = 1;
  private turn = 0;

  constructor(
    readonly id: string,
    private readonly endpoints: () => string[],
  ) {}

  private pick(): string {
    const eps = this.endpoints();
    const ep = eps[this.turn % eps.length] as string;
    this.turn++;
    return ep;
  }

  /** Returns the final answer, or null if none came before the deadline (outcome unknown). */
  async write(
    method: string,
    path: string,
    body: string,
    deadlineMs = 10_000,
  ): Promise<Answer | null> {
    const headers = { "x-client-id": this.id, "x-request-id": String(this.nextRequest++) };
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      const a = await request(`${this.pick()}${path}`, { method, body, headers }, 2000);
      if (a && a.status !== 503 && a.status !== 504) return a;
      await sleep(20);
    }
    return null;
  }

  /** A read retried on 503/504/connection errors; null if none succeeded in time. */
  async read(path: string, deadlineMs = 10_000): Promise<Answer | null> {
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      const a = await request(`${this.pick()}${path}`, {}, 2000);
      if (a && a.status !== 503 && a.status !== 504) return a;
      await sleep(20);
    }
    return null;
  }
}
