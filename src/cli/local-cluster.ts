// `raftwork kv cluster`: a local cluster of `kv serve` child processes for trying raftwork out.
// Node i listens for Raft on raftPortBase+i, for HTTP on httpPortBase+i and (unless disabled)
// for the etcd v3 gRPC API on grpcPortBase+i (2378+i: node 1 on etcd's 2379), keeps its data in
// DATA/node-i and its log in DATA/node-i.log. Running the same command on the same DATA
// restarts the cluster with its data (each node's cluster.json records where it listens; a node
// with data takes its configuration from it).
//
// Each child gets an IPC channel it never uses for messages: when this process dies, even by
// kill -9, the kernel closes the channel and the child stops itself (kv/server/serve.ts).
//
// With `tls` every node runs with mutual TLS between members and TLS for clients that
// requires a client certificate, all from a throwaway CA under DATA/tls (tls-certs.ts).

import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from "node:fs";
import http from "node:http";
import https from "node:https";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  clusterFingerprint,
  type Member,
  readClusterRecord,
  readIdentity,
} from "../kv/server/data-dir.js";
import { SERVE_V8_FLAGS } from "../kv/server/v8-flags.js";
import { formatHostPort } from "../util/host-port.js";
import { err, ok, type Result } from "../util/result.js";
import { plural } from "./text.js";
import { ensureThrowawayPki, type ThrowawayPki } from "./tls-certs.js";

export interface LocalClusterOptions {
  nodes: number;
  data: string;
  raftPortBase: number;
  httpPortBase: number;
  /** Node i serves the etcd v3 gRPC API on grpcPortBase+i; absent: no gRPC. */
  grpcPortBase?: number;
  host: string;
  /** Extra `kv serve` flags passed to every node (timeouts, snapshot policy). */
  serveArgs: string[];
  /** How the children run the CLI: [execPath, ...execArgv, script]; SERVE_V8_FLAGS are added. */
  command: string[];
  startTimeoutMs: number;
  /** Run everything over TLS with a throwaway CA and certificates in this directory. */
  tlsDir?: string;
}

export interface LocalNode {
  id: number;
  url: string;
  raft: string;
  http: string;
  /** HOST:PORT of its etcd gRPC API, if served. */
  grpc?: string;
  dataDir: string;
  logFile: string;
  child: ChildProcess;
}

export interface LocalCluster {
  nodes: LocalNode[];
  leader: number;
  /** The certificates, when started with tlsDir (`created`: made by this start). */
  tls?: { pki: ThrowawayPki; created: boolean };
  /** SIGTERM every child, SIGKILL the ones still alive after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export function clusterLayout(opts: LocalClusterOptions): Omit<LocalNode, "child">[] {
  const data = resolve(opts.data);
  return Array.from({ length: opts.nodes }, (_, k) => {
    const id = k + 1;
    const http = formatHostPort({ host: opts.host, port: opts.httpPortBase + id });
    const grpc =
      opts.grpcPortBase === undefined
        ? {}
        : { grpc: formatHostPort({ host: opts.host, port: opts.grpcPortBase + id }) };
    return {
      id,
      url: `${opts.tlsDir === undefined ? "http" : "https"}://${http}`,
      raft: formatHostPort({ host: opts.host, port: opts.raftPortBase + id }),
      http,
      ...grpc,
      dataDir: join(data, `node-${id}`),
      logFile: join(data, `node-${id}.log`),
    };
  });
}

/**
 * Refuses a DATA that holds another cluster than these flags describe, in the flags' terms:
 * another number of nodes (--nodes), or nodes created with other Raft ports (--raft-port-base).
 * A missing or empty DATA is fine. Reads only; creates nothing.
 */
export function checkDataDir(opts: LocalClusterOptions): Result<void> {
  const data = resolve(opts.data);
  if (!existsSync(data)) return ok(undefined);
  if (!statSync(data).isDirectory()) return err(`--data ${opts.data} is not a directory`);
  const found = readdirSync(data)
    .map((name) => /^node-([1-9]\d*)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && statSync(join(data, m[0])).isDirectory())
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (found.length === 0) return ok(undefined);
  const wanted = opts.nodes;
  const contiguous = found.every((id, i) => id === i + 1);
  if (!contiguous || found.length !== wanted) {
    const held = contiguous
      ? `a ${found.length}-node cluster (node-1 to node-${found.length})`
      : `the data of nodes ${found.join(", ")}`;
    const fix = contiguous
      ? `start it with --nodes ${found.length}, or`
      : "remove the directories that do not belong, or";
    return err(
      `--nodes ${wanted}: ${opts.data} holds ${held}, not ${plural(wanted, "node")}; ${fix} give another --data for a new cluster`,
    );
  }
  const layout = clusterLayout(opts);
  const fingerprint = clusterFingerprint(
    layout.map((n): Member => ({ id: n.id, address: n.raft })),
  );
  for (const n of layout) {
    // Format 2 records where the member listens; format 1 (before migration) a fingerprint.
    const record = readClusterRecord(n.dataDir);
    if (!record.ok) return record;
    const identity = record.value === null ? readIdentity(n.dataDir) : ok(null);
    if (!identity.ok) return identity;
    const owner = record.value ?? identity.value;
    if (owner === null) continue; // created but never started: the node claims it
    if (owner.node !== n.id) {
      return err(`${n.dataDir} belongs to node ${owner.node}, not node ${n.id}`);
    }
    const same =
      record.value !== null
        ? record.value.listen === n.raft
        : identity.value?.cluster === fingerprint;
    if (!same) {
      return err(
        `${opts.data} was created with other Raft ports than --raft-port-base ${opts.raftPortBase} gives; ` +
          "use the --raft-port-base it was created with, or give another --data for a new cluster",
      );
    }
  }
  return ok(undefined);
}

/** Fails with a clear message naming the first port that is already in use. */
export async function checkPortsFree(opts: LocalClusterOptions): Promise<Result<void>> {
  for (const n of clusterLayout(opts)) {
    const ports: [string, number, string][] = [
      ["Raft", opts.raftPortBase + n.id, "--raft-port-base"],
      ["HTTP", opts.httpPortBase + n.id, "--http-port-base"],
    ];
    if (opts.grpcPortBase !== undefined) {
      ports.push(["gRPC", opts.grpcPortBase + n.id, "--grpc-port-base (or --no-grpc)"]);
    }
    for (const [what, port, flag] of ports) {
      const problem = await tryListen(opts.host, port);
      if (problem !== null) {
        return err(
          `${formatHostPort({ host: opts.host, port })} (node ${n.id} ${what} port) is not available: ${problem}; stop whatever uses it or move the ports with ${flag}`,
        );
      }
    }
  }
  return ok(undefined);
}

function tryListen(host: string, port: number): Promise<string | null> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", (e: NodeJS.ErrnoException) =>
      done(e.code === "EADDRINUSE" ? "already in use" : e.message),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => done(null)));
  });
}

export async function startLocalCluster(opts: LocalClusterOptions): Promise<Result<LocalCluster>> {
  const data = checkDataDir(opts);
  if (!data.ok) return data;
  const free = await checkPortsFree(opts);
  if (!free.ok) return free;
  const layout = clusterLayout(opts);
  const [exe, ...prefix] = opts.command;
  if (exe === undefined) return err("no command to start nodes with");
  mkdirSync(resolve(opts.data), { recursive: true });
  const peers = layout.map((n) => `${n.id}=${n.raft}`).join(",");
  const tls =
    opts.tlsDir === undefined
      ? undefined
      : ensureThrowawayPki(
          opts.tlsDir,
          layout.map((n) => `node-${n.id}`),
        );
  const tlsArgs = (id: number): string[] => {
    const own = tls?.pki.members.get(`node-${id}`);
    if (tls === undefined || own === undefined) return [];
    const ca = tls.pki.caFile;
    return [
      ...["--peer-cert-file", own.certFile, "--peer-key-file", own.keyFile],
      ...["--peer-trusted-ca-file", ca],
      ...["--cert-file", own.certFile, "--key-file", own.keyFile, "--trusted-ca-file", ca],
    ];
  };
  const statusAgent = tls
    ? new https.Agent({
        ca: readFileSync(tls.pki.caFile),
        cert: readFileSync(tls.pki.client.certFile),
        key: readFileSync(tls.pki.client.keyFile),
      })
    : undefined;

  const nodes: LocalNode[] = layout.map((n) => {
    const log = openSync(n.logFile, "a");
    const args = ["kv", "serve", "--id", String(n.id), "--peers", peers, "--http", n.http];
    if (n.grpc !== undefined) args.push("--grpc", n.grpc);
    args.push(...tlsArgs(n.id));
    const child = spawn(
      exe,
      [...SERVE_V8_FLAGS, ...prefix, ...args, "--data", n.dataDir, ...opts.serveArgs],
      { stdio: ["ignore", log, log, "ipc"] },
    );
    closeSync(log); // the child holds its own copy
    return { ...n, child };
  });
  const cluster: LocalCluster = {
    nodes,
    leader: 0,
    stop: (grace) => stopAll(nodes, grace),
    ...(tls ? { tls } : {}),
  };

  try {
    const deadline = Date.now() + opts.startTimeoutMs;
    let majoritySince: number | undefined;
    while (Date.now() < deadline) {
      const dead = nodes.find((n) => n.child.exitCode !== null || n.child.signalCode !== null);
      if (dead) {
        await cluster.stop();
        const why = lastLine(dead.logFile);
        return err(
          `node ${dead.id} exited during start (status ${dead.child.exitCode ?? dead.child.signalCode})${why ? `: ${why}` : ""}; see ${dead.logFile}`,
        );
      }
      // Ready once every node knows the leader, so that a client's first request to any of
      // them finds it (a follower that has not heard a heartbeat yet answers "no leader").
      // A node slow to learn it delays "ready" by ALL_KNOW_GRACE_MS at most: the majority's
      // leader is then reported.
      const found = await findLeader(nodes, statusAgent);
      if (found !== null) {
        majoritySince ??= Date.now();
        if (found.all || Date.now() - majoritySince >= ALL_KNOW_GRACE_MS) {
          cluster.leader = found.leader;
          return ok(cluster);
        }
      } else {
        majoritySince = undefined;
      }
      await sleep(100);
    }
  } finally {
    statusAgent?.destroy();
  }
  await cluster.stop();
  return err(
    `no leader elected within ${opts.startTimeoutMs} ms; see the logs in ${resolve(opts.data)}`,
  );
}

/** The last non-empty line of a log file (its last 4 KiB), or "" if there is none. */
function lastLine(file: string): string {
  try {
    const fd = openSync(file, "r");
    try {
      const size = statSync(file).size;
      const buf = Buffer.alloc(Math.min(size, 4096));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      const lines = buf
        .toString()
        .split("\n")
        .map((l) => l.trim());
      return lines.filter((l) => l.length > 0).at(-1) ?? "";
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}

/** How long "ready" waits, after a majority knows the leader, for the other nodes to know it. */
const ALL_KNOW_GRACE_MS = 3000;

/** The leader id that a majority of the nodes reports (and whether all do), or null. */
async function findLeader(
  nodes: readonly LocalNode[],
  agent: https.Agent | undefined,
): Promise<{ leader: number; all: boolean } | null> {
  const seen = await Promise.all(nodes.map((n) => statusLeader(n.url, agent)));
  for (const candidate of seen) {
    if (candidate === null) continue;
    const votes = seen.filter((l) => l === candidate).length;
    if (votes * 2 > nodes.length) return { leader: candidate, all: votes === nodes.length };
  }
  return null;
}

/**
 * The leader node `url` reports, or null. Over node:http(s) rather than fetch, which takes no
 * CA or client certificate (`agent` carries them for a TLS cluster).
 */
function statusLeader(url: string, agent: http.Agent | undefined): Promise<number | null> {
  return new Promise((resolve) => {
    const get = url.startsWith("https:") ? https.get : http.get;
    const req = get(`${url}/v1/status`, { ...(agent ? { agent } : {}), timeout: 1000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", () => resolve(null));
      res.on("end", () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { leader?: unknown };
          resolve(res.statusCode === 200 && typeof body.leader === "number" ? body.leader : null);
        } catch {
          resolve(null);
        }
      });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(null));
  });
}

async function stopAll(nodes: readonly LocalNode[], graceMs = 10_000): Promise<void> {
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
