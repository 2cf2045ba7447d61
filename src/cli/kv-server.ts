// `raftwork kv serve` (one replicated KV node) and `raftwork kv cluster` (a local cluster of
// them). Flags are validated here, at the boundary; the KV server (src/kv/server) and the
// launcher (local-cluster.ts) are imported by the action that runs them, so other commands
// (and --help) never load them.

import { join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { Member } from "../kv/server/data-dir.js";
import type { HostPort } from "../util/host-port.js";
import { formatHostPort } from "../util/host-port.js";
import { parseDuration, parseHostPort, parseIntIn } from "./args.js";
import { CliExit, describeExitStatus, EXIT_FAILED, EXIT_USAGE } from "./exit.js";
import type { LocalClusterOptions } from "./local-cluster.js";
import { plural } from "./text.js";
import { P12_PASSWORD, type ThrowawayPki } from "./tls-certs.js";
import { type ClientTlsFlags, type PeerTlsFlags, readClientTls, readPeerTls } from "./tls-flags.js";

const MAX_NODE_ID = 2 ** 31 - 1;
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** "1=127.0.0.1:7001,2=127.0.0.1:7002": distinct ids, distinct addresses. */
export function parsePeers(text: string): Member[] {
  const members: Member[] = [];
  for (const item of text.split(",").map((s) => s.trim())) {
    const m = /^(\d+)=(.+)$/.exec(item);
    if (!m)
      throw new InvalidArgumentError(`"${item}" is not ID=HOST:PORT (example: 1=127.0.0.1:7001)`);
    const id = Number(m[1]);
    if (!Number.isSafeInteger(id) || id < 1 || id > MAX_NODE_ID) {
      throw new InvalidArgumentError(`node id ${m[1]} is out of range 1..${MAX_NODE_ID}`);
    }
    const address = formatHostPort(parseHostPort(m[2] as string));
    if (members.some((p) => p.id === id))
      throw new InvalidArgumentError(`node id ${id} is listed twice`);
    if (members.some((p) => p.address === address)) {
      throw new InvalidArgumentError(`address ${address} is listed twice`);
    }
    members.push({ id, address });
  }
  return members;
}

/** An etcd member name: printable, 1..64 characters (etcdctl prints it in tables). */
function parseName(text: string): string {
  if (!/^[\x21-\x7e]{1,64}$/.test(text)) {
    throw new InvalidArgumentError(
      `"${text}" is not 1..64 printable ASCII characters without spaces`,
    );
  }
  return text;
}

function parseLogLevel(text: string): string {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`"${text}" is not one of ${LOG_LEVELS.join(", ")}`);
  }
  return text;
}

async function checkTiming(electionTimeout: number, heartbeat: number): Promise<void> {
  const { timingFor } = await import("../node/timing.js");
  const t = timingFor(electionTimeout, heartbeat);
  if (!t.ok) throw new CliExit(EXIT_USAGE, `--heartbeat: ${t.error}`);
}

interface TimingFlags {
  electionTimeout: number;
  heartbeat: number;
  snapshotEntries: number;
  logLevel: string;
}

function timingOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        "--election-timeout <duration>",
        "election timeout T; each node draws its timeout from [T, 2T)",
      )
        .argParser(parseDuration)
        .default(1000, "1000ms"),
    )
    .addOption(
      new Option("--heartbeat <duration>", "leader heartbeat interval")
        .argParser(parseDuration)
        .default(100, "100ms"),
    )
    .option(
      "--snapshot-entries <n>",
      "snapshot the state and compact the log every N applied entries",
      parseIntIn(1, 1_000_000_000),
      10_000,
    )
    .option("--log-level <level>", `log level (${LOG_LEVELS.join(", ")})`, parseLogLevel, "info");
}

export function registerKvServerCommands(kv: Command): void {
  const serve = timingOptions(
    kv
      .command("serve")
      .description("run one node of a replicated KV cluster")
      .requiredOption(
        "--id <n>",
        "this node's id (must appear in --peers, and match the data directory's)",
        parseIntIn(1, MAX_NODE_ID),
      )
      .option(
        "--peers <list>",
        "every member's Raft address, this node's included: 1=HOST:PORT,2=HOST:PORT,... (needed on an empty --data only: a restart takes the configuration from its data)",
        parsePeers,
      )
      .option(
        "--join",
        "the empty --data is a member added with `kv member add`: --peers lists the current members and this one",
      )
      .requiredOption("--http <host:port>", "where to serve the HTTP API", (t) => parseHostPort(t))
      .option(
        "--listen <host:port>",
        "where to listen for Raft (default: this member's address in its data, or in --peers); after `kv member update`, the new address",
        (t) => parseHostPort(t),
      )
      .option(
        "--advertise-http <host:port>",
        "the HTTP address other members forward to (default --http; for a node listening on 0.0.0.0)",
        (t) => parseHostPort(t),
      )
      .option(
        "--advertise-grpc <host:port>",
        "the gRPC address the etcd API's MemberList shows (default --grpc)",
        (t) => parseHostPort(t),
      )
      .requiredOption("--data <dir>", "data directory (created if missing)")
      .option(
        "--grpc <host:port>",
        "also serve the etcd v3 gRPC API there (etcdctl 3.4 and etcd clients work against it)",
        (t) => parseHostPort(t),
      )
      .option("--name <name>", "the member name the etcd API shows (default node-ID)", parseName)
      .option(
        "--auto-compaction-retention <revisions>",
        "keep this many store revisions readable (Range --rev, watch from a past revision); 0 keeps all",
        parseIntIn(0, 1_000_000_000),
        10_000,
      )
      .addOption(
        new Option(
          "--auth-token-ttl <duration>",
          "how long an auth token this node issues stays valid (etcd's flag; a duration here)",
        )
          .argParser(parseDuration)
          .default(300_000, "300s"),
      )
      .option(
        "--peer-cert-file <file>",
        "this member's certificate for mutual TLS with peers (PEM)",
      )
      .option("--peer-key-file <file>", "its private key (PEM)")
      .option("--peer-trusted-ca-file <file>", "the CA that signs every member's certificate (PEM)")
      .option(
        "--cert-file <file>",
        "serve clients over TLS (HTTPS, gRPC over TLS) with this certificate (PEM)",
      )
      .option("--key-file <file>", "the private key of --cert-file (PEM)")
      .option(
        "--trusted-ca-file <file>",
        "require client certificates signed by this CA (PEM; as etcd 3.4, even without --client-cert-auth)",
      )
      .option("--client-cert-auth", "require client certificates (needs --trusted-ca-file)")
      .option(
        "--force-new-cluster",
        "disaster recovery: make this member (existing --data) the only voter, discarding the others; acts once",
      ),
  );
  describeExitStatus(serve, {
    0: "stopped by SIGINT or SIGTERM (or the exit of the `kv cluster` that started it), or removed from the cluster",
    1: "refused to start (a data directory of another node or cluster, a port in use) or stopped by an error",
  });
  serve.action(
    async (
      o: TimingFlags & {
        id: number;
        peers?: Member[];
        join?: boolean;
        http: HostPort;
        listen?: HostPort;
        advertiseHttp?: HostPort;
        advertiseGrpc?: HostPort;
        data: string;
        grpc?: HostPort;
        name?: string;
        autoCompactionRetention: number;
        forceNewCluster?: boolean;
        authTokenTtl: number;
      } & PeerTlsFlags &
        ClientTlsFlags,
    ) => {
      if (o.peers !== undefined && !o.peers.some((p) => p.id === o.id)) {
        throw new CliExit(EXIT_USAGE, `--id: node ${o.id} is not listed in --peers`);
      }
      if (o.join && o.peers === undefined) {
        throw new CliExit(
          EXIT_USAGE,
          "--join needs --peers: the current members and this one, as `kv member add` printed them",
        );
      }
      await checkTiming(o.electionTimeout, o.heartbeat);
      const peerTls = readPeerTls(o);
      const clientTls = readClientTls(o);
      const { serveNode } = await import("../kv/server/serve.js");
      const result = await serveNode({
        id: o.id,
        ...(o.peers ? { members: o.peers } : {}),
        join: o.join === true,
        http: o.http,
        ...(o.listen ? { listen: o.listen } : {}),
        ...(o.advertiseHttp ? { advertiseHttp: o.advertiseHttp } : {}),
        ...(o.advertiseGrpc ? { advertiseGrpc: o.advertiseGrpc } : {}),
        data: o.data,
        electionTimeoutMs: o.electionTimeout,
        heartbeatMs: o.heartbeat,
        snapshotEntries: o.snapshotEntries,
        logLevel: o.logLevel,
        autoCompactRevisions: o.autoCompactionRetention,
        authTokenTtlMs: o.authTokenTtl,
        ...(o.grpc ? { grpc: o.grpc } : {}),
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(peerTls ? { peerTls } : {}),
        ...(clientTls ? { clientTls } : {}),
        // SIGHUP reads the same files again.
        reloadTls: () => {
          const peer = readPeerTls(o);
          const client = readClientTls(o);
          return { ...(peer ? { peerTls: peer } : {}), ...(client ? { clientTls: client } : {}) };
        },
        ...(o.forceNewCluster ? { forceNewCluster: true } : {}),
      });
      if (!result.ok) throw new CliExit(EXIT_FAILED, result.error);
    },
  );

  const cluster = timingOptions(
    kv
      .command("cluster")
      .description("run a local cluster of `kv serve` processes (Ctrl-C stops them all)")
      .option("--nodes <n>", "number of nodes", parseIntIn(1, 9), 3)
      .option("--data <dir>", "parent of the nodes' data directories (DIR/node-i)", "./data")
      .option(
        "--raft-port-base <port>",
        "node i listens for Raft on BASE+i",
        parseIntIn(1, 65525),
        7000,
      )
      .option("--http-port-base <port>", "node i serves HTTP on BASE+i", parseIntIn(1, 65525), 8000)
      .option(
        "--grpc-port-base <port>",
        "node i serves the etcd v3 gRPC API on BASE+i (node 1 on etcd's default 2379)",
        parseIntIn(1, 65525),
        2378,
      )
      .option("--no-grpc", "do not serve the etcd v3 gRPC API")
      .option(
        "--tls",
        "mutual TLS between members and for clients, with a throwaway CA made in DIR/tls",
      )
      .option("--walkthrough", "print example commands once the cluster is up"),
  );
  describeExitStatus(cluster, {
    0: "stopped with Ctrl-C (SIGINT) or SIGTERM",
    1: "could not start: a port in use, --data of another cluster, or no leader elected",
  });
  cluster.action(
    async (
      o: TimingFlags & {
        nodes: number;
        data: string;
        raftPortBase: number;
        httpPortBase: number;
        grpcPortBase: number;
        grpc: boolean;
        tls?: boolean;
        walkthrough?: boolean;
      },
    ) => {
      await checkTiming(o.electionTimeout, o.heartbeat);
      const bases: [string, number][] = [
        ["--raft-port-base", o.raftPortBase],
        ["--http-port-base", o.httpPortBase],
      ];
      if (o.grpc) bases.push(["--grpc-port-base", o.grpcPortBase]);
      for (const [i, [flagA, a]] of bases.entries()) {
        for (const [flagB, b] of bases.slice(i + 1)) {
          if (a < b + o.nodes && b < a + o.nodes) {
            throw new CliExit(EXIT_USAGE, `${flagA}: its port range overlaps the one of ${flagB}`);
          }
        }
      }
      const script = process.argv[1];
      if (script === undefined)
        throw new CliExit(EXIT_FAILED, "cannot tell how this CLI was started");
      const opts: LocalClusterOptions = {
        nodes: o.nodes,
        data: o.data,
        raftPortBase: o.raftPortBase,
        httpPortBase: o.httpPortBase,
        ...(o.grpc ? { grpcPortBase: o.grpcPortBase } : {}),
        host: "127.0.0.1",
        serveArgs: [
          "--election-timeout",
          `${o.electionTimeout}ms`,
          "--heartbeat",
          `${o.heartbeat}ms`,
          "--snapshot-entries",
          String(o.snapshotEntries),
          "--log-level",
          o.logLevel,
        ],
        command: [process.execPath, ...process.execArgv, script],
        startTimeoutMs: 30_000,
        ...(o.tls ? { tlsDir: join(o.data, "tls") } : {}),
      };
      const { checkDataDir, startLocalCluster } = await import("./local-cluster.js");
      const data = checkDataDir(opts); // startLocalCluster checks too; this says it before "starting"
      if (!data.ok) throw new CliExit(EXIT_FAILED, data.error);
      process.stderr.write(`starting ${plural(o.nodes, "node")} (data in ${o.data}) ...\n`);
      const started = await startLocalCluster(opts);
      if (!started.ok) throw new CliExit(EXIT_FAILED, started.error);
      const cluster = started.value;
      const lines = cluster.nodes.map(
        (n) =>
          `  node ${n.id}  ${n.url}${n.grpc ? `  grpc ${n.grpc}` : ""}  pid ${n.child.pid}  log ${n.logFile}${n.id === cluster.leader ? "  (leader)" : ""}`,
      );
      process.stdout.write(`cluster ready:\n${lines.join("\n")}\n`);
      const pki = cluster.tls?.pki;
      if (pki !== undefined) {
        const made = cluster.tls?.created ? "made" : "kept";
        process.stdout.write(
          `TLS everywhere; certificates (${made}) in ${dirOf(pki.caFile)}. Clients need:\n` +
            `  ${clientFlags(pki)}\n`,
        );
      }
      if (o.walkthrough) {
        const grpc = cluster.nodes.flatMap((n) => (n.grpc === undefined ? [] : [n.grpc]));
        process.stdout.write(
          walkthrough(
            cluster.nodes.map((n) => n.url),
            grpc,
            pki,
          ),
        );
      }
      process.stdout.write(`press Ctrl-C to stop ${o.nodes === 1 ? "the node" : "all nodes"}\n`);

      await new Promise<void>((done) => {
        let stopping = false;
        const stop = (): void => {
          if (stopping) return;
          stopping = true;
          process.stderr.write(`stopping ${o.nodes === 1 ? "the node" : "all nodes"} ...\n`);
          void cluster.stop().then(done);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        for (const n of cluster.nodes) {
          n.child.once("exit", (code, signal) => {
            if (!stopping) {
              process.stderr.write(
                `node ${n.id} exited unexpectedly (${signal ?? `status ${code}`}); see ${n.logFile}\n`,
              );
            }
          });
        }
      });
      process.stdout.write(`${o.nodes === 1 ? "the node" : "all nodes"} stopped\n`);
    },
  );
}

/**
 * The flags a client passes to reach a `kv cluster --tls`: the same three for the raftwork
 * CLI, curl and etcdctl (the names are etcdctl's, and curl's too).
 */
export function clientFlags(pki: ThrowawayPki): string {
  const { caFile, client } = pki;
  return `--cacert ${q(caFile)} --cert ${q(client.certFile)} --key ${q(client.keyFile)}`;
}

/** A path as one shell word. */
function q(path: string): string {
  return /^[\w./:@%+=,-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}

function dirOf(file: string): string {
  return file.slice(0, Math.max(0, file.lastIndexOf("/"))) || ".";
}

function walkthrough(
  urls: readonly string[],
  grpc: readonly string[],
  pki: ThrowawayPki | undefined,
): string {
  const [a, b] = [urls[0], urls[1] ?? urls[0]];
  const flags = pki === undefined ? undefined : clientFlags(pki);
  const curl = flags === undefined ? "curl" : `curl ${flags}`;
  const etcdctl = flags === undefined ? "etcdctl" : `etcdctl ${flags}`;
  const client = flags === undefined ? "" : ` ${flags}`;
  const etcd =
    grpc.length === 0
      ? []
      : [
          "the etcd v3 API (etcdctl 3.4, etcd client libraries) on every node:",
          `  ${etcdctl} --endpoints ${grpc.join(",")} put greeting hi`,
          `  ${etcdctl} --endpoints ${grpc.join(",")} watch greeting`,
          `  ${etcdctl} --endpoints ${grpc.join(",")} endpoint status -w table`,
        ];
  const browser =
    pki === undefined
      ? []
      : [
          `  (the nodes want a client certificate: import ${pki.clientP12}, password "${P12_PASSWORD}",`,
          `   into the browser, and trust ${pki.caFile} or accept the warning)`,
        ];
  return [
    "",
    `watch it: open ${a}/ui in a browser (the cluster dashboard; every node serves one)`,
    ...browser,
    "try it (any node answers; followers forward to the leader):",
    `  ${curl} -X PUT --data 'hello' ${a}/v1/kv/greeting`,
    `  ${curl} ${b}/v1/kv/greeting`,
    `  ${curl} -X POST --data ', world' '${a}/v1/kv/greeting?op=append'`,
    `  ${curl} -X POST --data '{"expect":"hello, world","value":"bye"}' '${b}/v1/kv/greeting?op=cas'`,
    `  ${curl} '${a}/v1/kv?prefix=gr'`,
    `  ${curl} ${a}/v1/status`,
    `  ${curl} ${a}/metrics`,
    `or with the client: node dist/cli/main.js kv get greeting --endpoints ${urls.join(",")}${client}`,
    "operations (the same --endpoints): kv health, kv member list, kv move-leader ID,",
    "  kv snapshot save FILE; kv member add ID HOST:PORT --learner prints how to start a new member",
    ...etcd,
    "kill -9 the leader's pid: the others elect a new leader and writes continue;",
    "run the same command again to restart the cluster with its data.",
    "",
  ].join("\n");
}
