// `raftwork kv serve`: one KV node process. Wires FileStorage, TcpTransport, the Raft core, the
// KV state machine and its HTTP API together, prints one line when ready, and shuts down
// cleanly on SIGINT/SIGTERM, or when the process that started it over an IPC channel (`kv
// cluster`) is gone, even killed with -9.

import { mkdirSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type * as Pino from "pino";
import { RaftNode } from "../../node/raft-node.js";
import { RawNode } from "../../raft/raw-node.js";
import type { NodeId } from "../../raft/types.js";
import { FileStorage } from "../../storage/file-storage.js";
import { TcpTransport } from "../../transport/tcp-transport.js";
import type { PeerTls } from "../../transport/tls.js";
import { formatHostPort, type HostPort, parseHostPort } from "../../util/host-port.js";
import { requireOptional } from "../../util/optional.js";
import { err, ok, type Result } from "../../util/result.js";
import type { ClientTls, ServerTls } from "../../util/tls.js";
import { guardDashboard } from "../auth/dashboard-login.js";
import { AuthGate } from "../auth/index.js";
import { NodeHistory, withHistory } from "../dashboard/history.js";
import { createDashboard } from "../dashboard/routes.js";
import { defaultName } from "../etcd/cluster-service.js";
import { createKvHttpServer } from "../http-api.js";
import { minLeaseTtl } from "../lease/index.js";
import { LeaseKeeper } from "../lease-keeper.js";
import { MemberLink } from "../member-link.js";
import { createKvMetrics } from "../metrics.js";
import { createOpsRoutes } from "../ops-routes.js";
import { KvStateMachine } from "../state-machine.js";
import { claimDataDir, clusterFingerprint, type Member, raftDir } from "./data-dir.js";
import { forceNewCluster } from "./force-new-cluster.js";

/**
 * etcd's cluster id, the same on every member: drawn from the fingerprint of the member list
 * (data-dir.ts) into [2^60, 2^64) as etcd clients expect (etcdctl prints it with %16x).
 */
export function etcdClusterId(fingerprint: string): bigint {
  const low = 2n ** 60n;
  return low + (BigInt(`0x${fingerprint.slice(0, 16)}`) % (2n ** 64n - low));
}

export interface ServeOptions {
  id: NodeId;
  members: Member[];
  http: HostPort;
  data: string;
  electionTimeoutMs: number;
  heartbeatMs: number;
  snapshotEntries: number;
  logLevel: string;
  /** Revisions auto-compaction keeps; 0 turns it off. */
  autoCompactRevisions?: number;
  /** Where to serve the etcd v3 gRPC API; absent: not served. */
  grpc?: HostPort;
  /** The member name the etcd API shows. Default `node-ID`. */
  name?: string;
  /** How long the auth tokens this node issues stay valid. Default 5 minutes (etcd's). */
  authTokenTtlMs?: number;
  /** Mutual TLS between members (etcd's --peer-* flags); absent: plaintext Raft port. */
  peerTls?: PeerTls;
  /**
   * TLS for clients (etcd's --cert-file, --key-file, --trusted-ca-file): HTTPS and gRPC over
   * TLS; absent: plaintext. Members call each other's API the same way (member-link.ts).
   */
  clientTls?: ServerTls;
  /**
   * Reads the certificates again (the files they came from), for a reload on SIGHUP; throws
   * if they cannot be read. Absent: SIGHUP keeps its default meaning.
   */
  reloadTls?: () => { peerTls?: PeerTls; clientTls?: ServerTls };
  /** Disaster recovery: make this member the only voter first (force-new-cluster.ts). */
  forceNewCluster?: boolean;
}

/** Auto-compaction's default: the last 10,000 revisions stay readable. */
export const DEFAULT_AUTO_COMPACT_REVISIONS = 10_000;

/**
 * Runs the node until SIGINT/SIGTERM or its parent's exit (ok) or a fatal error (error). Needs
 * the optional peer dependencies pino, prom-client and zod (throws MissingDependencyError).
 */
export async function serveNode(o: ServeOptions): Promise<Result<void>> {
  // Watched from the start: a parent that dies while the node starts must stop it too.
  const parentGone = parentExit();
  const pino = requireOptional<typeof Pino.pino>("pino", "raftwork kv serve");
  const logger = pino(
    { level: o.logLevel, base: { node: o.id } },
    pino.destination({ dest: 2, sync: true }),
  );
  // Everything opened so far, closed in reverse order on the way out.
  const opened: (() => unknown)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of opened.reverse()) {
      try {
        await close();
      } catch (error) {
        // Keep closing the rest: a failed close must not leave sockets or the lock behind.
        logger.error({ err: error }, "error while shutting down");
      }
    }
    opened.length = 0;
  };

  const self = o.members.find((m) => m.id === o.id) as Member;
  const httpAddress = formatHostPort(o.http);
  const dir = raftDir(o.data);
  let step = `create ${dir}`;
  try {
    mkdirSync(dir, { recursive: true });
    step = `open the storage in ${dir}`;
    // Opening takes the directory's lock, so the identity check below cannot race another node.
    const storage = await FileStorage.open(dir);
    opened.push(() => storage.close());
    for (const repair of storage.repairs)
      logger.warn({ repair }, "storage recovery repaired a crash");
    const claim = claimDataDir(o.data, o.id, o.members);
    if (!claim.ok) {
      await closeAll();
      return claim;
    }
    if (o.forceNewCluster) {
      step = `rewrite the configuration in ${dir} (--force-new-cluster)`;
      const ids = o.members.map((m) => m.id);
      const forced = await forceNewCluster(storage, o.data, o.id, ids, logger);
      if (!forced.ok) {
        await closeAll();
        return forced;
      }
    }
    const peers = new Map(o.members.map((m) => [m.id, memberAddress(m)]));
    const memberTls = o.clientTls ? memberClientTls(o.clientTls, o.peerTls) : undefined;
    const members = new MemberLink({
      ...(memberTls ? { tls: memberTls } : {}),
      peerSecret: (id) => transport.peerHello(id)?.secret,
    });

    step = `listen for Raft on ${self.address}`;
    const grpcAddress = o.grpc === undefined ? undefined : formatHostPort(o.grpc);
    const transport = await TcpTransport.start({
      id: o.id,
      listen: memberAddress(self),
      peers,
      hello: {
        http: httpAddress,
        ...(grpcAddress === undefined ? {} : { grpc: grpcAddress }),
        secret: members.secret,
      },
      logger: logger.child({ part: "transport" }),
      ...(o.peerTls ? { tls: o.peerTls } : {}),
    });
    opened.push(() => transport.close());

    step = `load the Raft state from ${dir}`;
    const sm = new KvStateMachine({ minLeaseTtl: minLeaseTtl(o.electionTimeoutMs, o.heartbeatMs) });
    const history = new NodeHistory();
    const metrics = withHistory(createKvMetrics({ nodeId: o.id }), history);
    let onFatal: (err: Error) => void = () => {};
    const fatal = new Promise<Error>((resolve) => {
      onFatal = resolve;
    });
    const node = await RaftNode.start({
      id: o.id,
      peers: o.members.map((m) => m.id),
      storage,
      transport,
      stateMachine: sm,
      createRawNode: (c) => new RawNode(c),
      electionTimeoutMs: o.electionTimeoutMs,
      heartbeatMs: o.heartbeatMs,
      snapshotEntries: o.snapshotEntries,
      dataDir: dir,
      logger,
      metrics,
      onFatal: (err) => onFatal(err),
    });
    opened.push(() => node.stop());
    history.setTermSource(() => node.status().term);
    // A leader dials us to replicate; its handshake tells where its HTTP API listens.
    const peerHttp = (id: NodeId) => transport.peerHello(id)?.http ?? null;
    // One gate for every API: a token issued over HTTP works over gRPC and the other way round.
    const gate = new AuthGate({
      store: sm.auth,
      ...(o.authTokenTtlMs !== undefined ? { tokenTtlMs: o.authTokenTtlMs } : {}),
    });
    const dashboard = createDashboard({
      status: () => node.status(),
      history,
      peerHttp,
      members,
      selfHttp: httpAddress,
      listenHost: o.http.host,
      logger: logger.child({ part: "dashboard" }),
    });
    opened.push(() => dashboard.close());
    const guardedDashboard = guardDashboard(dashboard.handle, gate);
    const ops = createOpsRoutes({
      service: node,
      sm,
      id: o.id,
      peerHttp,
      members,
      electionTimeoutMs: o.electionTimeoutMs,
      gate,
      logger: logger.child({ part: "ops" }),
    });
    opened.push(() => ops.close());
    const keeper = new LeaseKeeper({
      service: node,
      sm,
      electionTimeoutMs: o.electionTimeoutMs,
      autoCompactRevisions: o.autoCompactRevisions ?? DEFAULT_AUTO_COMPACT_REVISIONS,
      logger: logger.child({ part: "leases" }),
    });
    opened.push(() => keeper.stop());

    const etcdCluster = etcdClusterId(clusterFingerprint(o.members));
    const etcd =
      o.grpc === undefined
        ? null
        : (await import("../etcd/server.js")).createEtcdApi({
            service: node,
            sm,
            id: o.id,
            name: o.name ?? defaultName(o.id),
            clusterId: () => etcdCluster,
            peerHttp,
            members,
            ...(o.clientTls ? { tls: o.clientTls } : {}),
            addresses: {
              raft: (id) => o.members.find((m) => m.id === id)?.address ?? null,
              grpc: (id) =>
                id === o.id ? (grpcAddress ?? null) : (transport.peerHello(id)?.grpc ?? null),
            },
            electionTimeoutMs: o.electionTimeoutMs,
            logger: logger.child({ part: "etcd" }),
            gate,
          });

    step = `listen for HTTP on ${httpAddress}`;
    const http = await createKvHttpServer(
      o.http.host,
      o.http.port,
      {
        service: node,
        sm,
        id: o.id,
        peerHttp,
        members,
        metrics,
        ui: (req, res) => ops.handle(req, res) || guardedDashboard(req, res),
        gate,
        logger: logger.child({ part: "http" }),
        ...(etcd ? { internalRoutes: etcd.link.routes() } : {}),
      },
      o.clientTls,
    );
    opened.push(() => http.close());

    let grpcLine = "";
    let grpcApi: Awaited<ReturnType<NonNullable<typeof etcd>["listen"]>> | undefined;
    if (etcd !== null && o.grpc !== undefined) {
      step = `listen for gRPC on ${grpcAddress}`;
      const api = await etcd.listen(o.grpc);
      opened.push(() => api.close());
      grpcLine = `, grpc ${api.address}`;
      grpcApi = api;
    }

    const reload = o.reloadTls;
    if (reload !== undefined && (o.peerTls || o.clientTls)) {
      // Everything is read and checked before anything is replaced: a bad file leaves the
      // node on its old certificates, and says so.
      const onHup = () => {
        try {
          const fresh = reload();
          for (const t of [fresh.peerTls, fresh.clientTls]) {
            if (t) createSecureContext({ cert: t.cert, key: t.key, ca: t.ca });
          }
          if (fresh.peerTls) transport.reloadTls(fresh.peerTls);
          if (fresh.clientTls) {
            http.reloadTls(fresh.clientTls);
            grpcApi?.reloadTls(fresh.clientTls);
            members.reloadTls(memberClientTls(fresh.clientTls, fresh.peerTls));
          }
          logger.info("SIGHUP: reloaded the TLS certificates; new connections use them");
        } catch (e) {
          logger.error(
            { error: e instanceof Error ? e.message : String(e) },
            "SIGHUP: cannot reload the TLS certificates; keeping the ones in use",
          );
        }
      };
      process.on("SIGHUP", onHup);
      opened.push(() => process.off("SIGHUP", onHup));
    }

    process.stdout.write(
      `raftwork kv serve: node ${o.id} ready: raft ${self.address}, http ${http.url}${grpcLine}, data ${o.data}\n`,
    );
    const outcome = await Promise.race([signalled(), parentGone, fatal]);
    await closeAll();
    if (outcome instanceof Error) return err(`node stopped: ${outcome.message}`);
    logger.info({ reason: outcome }, "stopped");
    return ok(undefined);
  } catch (e) {
    await closeAll();
    return err(`cannot ${step}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

/**
 * Resolves with "parent-gone" when the IPC channel of the parent that started this process
 * with one closes (`kv cluster` does, so that its nodes stop when it is killed, even with -9:
 * the kernel closes its end of the channel). Never resolves for a node started by hand, which
 * has no channel.
 */
function parentExit(): Promise<string> {
  return new Promise((resolve) => {
    const channel = process.channel;
    if (channel === undefined) return;
    // The channel alone must not keep the process alive once the node has stopped.
    channel.unref();
    process.once("disconnect", () => resolve("parent-gone"));
  });
}

/**
 * How this member calls the others' APIs when they serve TLS: like a client, checking their
 * certificate against the client CA (else the peer CA, else the system's) and presenting its
 * own.
 */
function memberClientTls(client: ServerTls, peer: PeerTls | undefined): ClientTls {
  const ca = client.ca ?? peer?.ca;
  return { cert: client.cert, key: client.key, ...(ca !== undefined ? { ca } : {}) };
}

/** A member's Raft address, already validated by the CLI (parsePeers). */
function memberAddress(m: Member): HostPort {
  const hp = parseHostPort(m.address);
  if (!hp.ok) throw new Error(`member ${m.id}: ${hp.error}`);
  return hp.value;
}
