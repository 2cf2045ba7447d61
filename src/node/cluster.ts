// `raftwork kv cluster`: a local cluster of `kv serve` child processes for trying raftwork out.
// Node i listens for Raft on raftPortBase+i and for HTTP on httpPortBase+i, keeps its data in
// DATA/node-i and its log in DATA/node-i.log. Running the same command on the same DATA
// restarts the cluster with its data (each node's identity file matches the same --peers).

import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SERVE_V8_FLAGS } from "./v8-flags.js";

export interface ClusterOptions {
  nodes: number;
  data: string;
  raftPortBase: number;
  httpPortBase: number;
  host: string;
  /** Extra `kv serve` flags passed to every node (timeouts, snapshot policy). */
  serveArgs: string[];
  /** How the children run the CLI: [execPath, ...execArgv, script]; SERVE_V8_FLAGS are added. */
  command: string[];
  startTimeoutMs: number;
}

export interface ClusterNode {
  id: number;
  url: string;
  raft: string;
  dataDir: string;
  logFile: string;
  child: ChildProcess;
}

export interface RunningCluster {
  nodes: ClusterNode[];
  leader: number;
  /** SIGTERM every child, SIGKILL the ones still alive after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export type ClusterResult<T> = { ok: true; value: T } | { ok: false; error: string };

export function clusterLayout(opts: ClusterOptions): Omit<ClusterNode, "child">[] {
  const data = resolve(opts.data);
  return Array.from({ length: opts.nodes }, (_, k) => {
    const id = k + 1;
    return {
      id,
      url: `http://${opts.host}:${opts.httpPortBase + id}`,
      raft: `${opts.host}:${opts.raftPortBase + id}`,
      dataDir: join(data, `node-${id}`),
      logFile: join(data, `node-${id}.log`),
    };
  });
}

/** Fails with a clear message naming the first port that is already in use. */
export async function checkPortsFree(opts: ClusterOptions): Promise<ClusterResult<void>> {
  for (const n of clusterLayout(opts)) {
    for (const [what, port, flag] of [
      ["Raft", opts.raftPortBase + n.id, "--raft-port-base"],
      ["HTTP", opts.httpPortBase + n.id, "--http-port-base"],
    ] as const) {
      const err = await tryListen(opts.host, port);
      if (err !== null) {
        return {
          ok: false,
          error: `${opts.host}:${port} (node ${n.id} ${what} port) is not available: ${err}; stop whatever uses it or move the ports with ${flag}`,
        };
      }
    }
  }
  return { ok: true, value: undefined };
}

function tryListen(host: string, port: number): Promise<string | null> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) =>
      done(err.code === "EADDRINUSE" ? "already in use" : err.message),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => done(null)));
  });
}

export async function startCluster(opts: ClusterOptions): Promise<ClusterResult<RunningCluster>> {
  const free = await checkPortsFree(opts);
  if (!free.ok) return free;
  const layout = clusterLayout(opts);
  mkdirSync(resolve(opts.data), { recursive: true });
  const peers = layout.map((n) => `${n.id}=${n.raft}`).join(",");
  const [exe, ...prefix] = opts.command;
  if (exe === undefined) return { ok: false, error: "no command to start nodes with" };

  const nodes: ClusterNode[] = layout.map((n) => {
    const log = openSync(n.logFile, "a");
    const child = spawn(
      exe,
      [
        ...SERVE_V8_FLAGS,
        ...prefix,
        "kv",
        "serve",
        "--id",
        String(n.id),
        "--peers",
        peers,
        "--http",
        n.url.slice("http://".length),
        "--data",
        n.dataDir,
        ...opts.serveArgs,
      ],
      { stdio: ["ignore", log, log] },
    );
    return { ...n, child };
  });
  const cluster: RunningCluster = { nodes, leader: 0, stop: (grace) => stopAll(nodes, grace) };

  const deadline = Date.now() + opts.startTimeoutMs;
  while (Date.now() < deadline) {
    const dead = nodes.find((n) => n.child.exitCode !== null || n.child.signalCode !== null);
    if (dead) {
      await cluster.stop();
      return {
        ok: false,
        error: `node ${dead.id} exited during start (status ${dead.child.exitCode ?? dead.child.signalCode}); see ${dead.logFile}`,
      };
    }
    const leader = await findLeader(nodes);
    if (leader !== null) {
      cluster.leader = leader;
      return { ok: true, value: cluster };
    }
    await sleep(100);
  }
  await cluster.stop();
  return {
    ok: false,
    error: `no leader elected within ${opts.startTimeoutMs} ms; see the logs in ${resolve(opts.data)}`,
  };
}

/** The leader id that a majority of the nodes reports, or null. */
async function findLeader(nodes: readonly ClusterNode[]): Promise<number | null> {
  const seen = await Promise.all(nodes.map((n) => statusLeader(n.url)));
  for (const candidate of seen) {
    if (candidate === null) continue;
    const votes = seen.filter((l) => l === candidate).length;
    if (votes * 2 > nodes.length) return candidate;
  }
  return null;
}

async function statusLeader(url: string): Promise<number | null> {
  try {
    const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return null;
    const body = (await res.json()) as { leader?: unknown };
    return typeof body.leader === "number" ? body.leader : null;
  } catch {
    return null;
  }
}

async function stopAll(nodes: readonly ClusterNode[], graceMs = 10_000): Promise<void> {
  await Promise.all(nodes.map((n) => stopChild(n.child, graceMs)));
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
