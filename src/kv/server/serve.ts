// `raftwork kv serve`: one KV node process. Wires FileStorage, TcpTransport, the Raft core, the
// KV state machine and its HTTP API together, prints one line when ready, and shuts down
// cleanly on SIGINT/SIGTERM, or when the process that started it over an IPC channel (`kv
// cluster`) is gone, even killed with -9.

import { mkdirSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type * as Pino from "pino";
import { MemberOps } from "../../node/member-ops.js";
import { bootstrapEntry, encodeBook, type MemberAddress } from "../../node/membership.js";
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
import {
  type ClusterRecord,
  claimDataDir,
  type Member,
  raftDir,
  writeClusterRecord,
} from "./data-dir.js";
import { forceNewCluster } from "./force-new-cluster.js";

export interface ServeOptions {
  id: NodeId;
  /** --peers: needed on an empty data directory only (and once to migrate format 1). */
  members?: Member[];
  /** --join: the data directory is empty and this member was added with `member add`. */
  join?: boolean;
  http: HostPort;
  /** Where to listen for Raft (default: this member's address in its data or --peers). */
  listen?: HostPort;
  /** What the Raft handshake advertises as this member's HTTP address (default: --http). */
  advertiseHttp?: HostPort;
  /** The same for the gRPC address (default: --grpc). */
  advertiseGrpc?: HostPort;
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

  const httpAddress = formatHostPort(o.advertiseHttp ?? o.http);
  const dir = raftDir(o.data);
  let step = `create ${dir}`;
  try {
    mkdirSync(dir, { recursive: true });
    step = `open the storage in ${dir}`;
    // Opening takes the directory's lock, so the identity check below cannot race another node.
    let storage = await FileStorage.open(dir);
    opened.push(() => storage.close());
    for (const repair of storage.repairs)
      logger.warn({ repair }, "storage recovery repaired a crash");
    const claim = claimDataDir(o.data, {
      node: o.id,
      join: o.join === true,
      ...(o.members ? { peers: o.members } : {}),
    });
    if (!claim.ok) {
      await closeAll();
      return claim;
    }
    for (const warning of claim.value.warnings) logger.warn(warning);
    let record = claim.value.record;
    const mode = claim.value.mode;
    if (o.forceNewCluster && mode !== "restart") {
      await closeAll();
      return err(
        `--force-new-cluster needs the data of an existing member; ${o.data} holds none (start without the flag to bootstrap a cluster)`,
      );
    }
    if (mode === "bootstrap") {
      // The founders' conf entry first, then cluster.json: a crash in between leaves a
      // directory that bootstraps again, with the same entry (membership.ts).
      step = `bootstrap a new cluster in ${dir}`;
      await storage.write({
        entries: [bootstrapEntry(record.members.map(toMemberAddress))],
        hardState: { term: 1, vote: 0, commit: 1 },
      });
      await storage.sync();
      // load() returns what open() found: reopen so the node starts from the bootstrap state.
      await storage.close();
      storage = await FileStorage.open(dir);
    }
    if (mode !== "restart") {
      const written = writeClusterRecord(o.data, record);
      if (!written.ok) {
        await closeAll();
        return written;
      }
    }
    if (o.forceNewCluster) {
      step = `rewrite the configuration in ${dir} (--force-new-cluster)`;
      const self = {
        id: o.id,
        raft: o.listen === undefined ? record.listen : formatHostPort(o.listen),
      };
      // The forced conf entry carries the address book of the new configuration: this member
      // alone, the others removed (so peers that come back are told so).
      const forced = await forceNewCluster(
        storage,
        o.data,
        o.id,
        record.members.map((m) => m.id),
        logger,
        (discarded) =>
          encodeBook({ clusterId: record.clusterId, members: [self], removed: discarded }),
      );
      if (!forced.ok) {
        await closeAll();
        return forced;
      }
      if (forced.value.kind === "rewritten") {
        // load() returns what open() found: reopen so the node starts from the rewritten log.
        await storage.close();
        storage = await FileStorage.open(dir);
      }
    }
    const remember = (change: Partial<ClusterRecord>) => {
      const next = { ...record, ...change };
      if (next.clusterId === record.clusterId && next.listen === record.listen) return;
      record = next;
      const written = writeClusterRecord(o.data, record);
      if (!written.ok) logger.error({ error: written.error }, "cannot record the cluster's state");
    };
    // A joining member reaches the members it was told about until the configuration, which
    // it learns from the leader, includes it.
    const joinPeers = mode === "join" ? (o.members ?? []) : [];
    const initialPeers = new Map(
      [...record.members, ...joinPeers].map((m) => [m.id, memberAddress(m)] as const),
    );
    const memberTls = o.clientTls ? memberClientTls(o.clientTls, o.peerTls) : undefined;
    const members = new MemberLink({
      ...(memberTls ? { tls: memberTls } : {}),
      peerSecret: (id) => transport.peerHello(id)?.secret,
    });

    // --listen: where a member moved by `kv member update` listens from its next start (its
    // data learns the new address only once it applied the change, which needs the leader to
    // reach it there).
    const listening = o.listen === undefined ? record.listen : formatHostPort(o.listen);
    step = `listen for Raft on ${listening}`;
    const grpcAdvertised = o.advertiseGrpc ?? o.grpc;
    const grpcAddress = grpcAdvertised === undefined ? undefined : formatHostPort(grpcAdvertised);
    const transport = await TcpTransport.start({
      id: o.id,
      listen: memberAddress({ id: o.id, address: listening }),
      peers: initialPeers,
      ...(record.clusterId !== null ? { clusterId: record.clusterId } : {}),
      hello: {
        http: httpAddress,
        ...(grpcAddress === undefined ? {} : { grpc: grpcAddress }),
        secret: members.secret,
      },
      logger: logger.child({ part: "transport" }),
      ...(o.peerTls ? { tls: o.peerTls } : {}),
    });
    opened.push(() => transport.close());
    transport.onClusterId((clusterId) => remember({ clusterId }));

    step = `load the Raft state from ${dir}`;
    const sm = new KvStateMachine({ minLeaseTtl: minLeaseTtl(o.electionTimeoutMs, o.heartbeatMs) });
    const history = new NodeHistory();
    const metrics = withHistory(createKvMetrics({ nodeId: o.id }), history);
    let onFatal: (err: Error) => void = () => {};
    const fatal = new Promise<Error>((resolve) => {
      onFatal = resolve;
    });
    let onRemoved: (why: string) => void = () => {};
    const removed = new Promise<string>((resolve) => {
      onRemoved = resolve;
    });
    const node = await RaftNode.start({
      id: o.id,
      peers: record.members.map((m) => m.id),
      baseBook: { clusterId: record.clusterId, members: record.members.map(toMemberAddress) },
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
    const memberOps = new MemberOps({
      node,
      electionTimeoutMs: o.electionTimeoutMs,
      logger: logger.child({ part: "members" }),
    });
    followConfiguration({
      node,
      transport,
      self: o.id,
      listening,
      joinPeers,
      remember,
      removed: onRemoved,
      logger,
    });
    history.setTermSource(() => node.status().term);
    metrics.watchConfiguration(() => node.status());
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

    const etcd =
      o.grpc === undefined
        ? null
        : (await import("../etcd/server.js")).createEtcdApi({
            service: node,
            sm,
            id: o.id,
            name: o.name ?? defaultName(o.id),
            clusterId: () => BigInt(node.membership.current().clusterId ?? record.clusterId ?? 0),
            peerHttp,
            members,
            ...(o.clientTls ? { tls: o.clientTls } : {}),
            addresses: {
              raft: (id) => node.membership.address(id),
              started: (id) => id === o.id || transport.peerHello(id) !== undefined,
              grpc: (id) =>
                id === o.id ? (grpcAddress ?? null) : (transport.peerHello(id)?.grpc ?? null),
            },
            memberOps,
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
        memberOps,
        peerHello: (id) =>
          id === o.id
            ? { http: httpAddress, ...(grpcAddress ? { grpc: grpcAddress } : {}) }
            : (transport.peerHello(id) ?? null),
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
      `raftwork kv serve: node ${o.id} ready: raft ${listening}, http ${http.url}${grpcLine}, data ${o.data}\n`,
    );
    const outcome = await Promise.race([signalled(), parentGone, fatal, removed]);
    // A removed member may be answering the request that removed it: let that answer out.
    if (typeof outcome === "string" && outcome.startsWith("removed")) await drain(http.server);
    await closeAll();
    if (outcome instanceof Error) return err(`node stopped: ${outcome.message}`);
    if (outcome.startsWith("removed")) {
      process.stdout.write(`raftwork kv serve: node ${o.id} stopped: ${outcome}\n`);
      logger.warn(outcome);
      return ok(undefined);
    }
    logger.info({ reason: outcome }, "stopped");
    return ok(undefined);
  } catch (e) {
    await closeAll();
    return err(`cannot ${step}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Stops taking HTTP requests and waits (up to `ms`) for those in flight to be answered. */
function drain(server: import("node:http").Server, ms = 2000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
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

function toMemberAddress(m: Member): MemberAddress {
  return { id: m.id, raft: m.address };
}

/**
 * Keeps the transport's peers and the data directory in step with the configuration the node
 * applies (after each Ready, so a log replayed at start never shrinks the peers on the way),
 * and reports this member's removal: once the configuration it applied no longer has it, or
 * once its leader closes the connection saying it no longer has it as a peer (the leader stops
 * replicating to a removed member when it applies the change, so the member may never learn
 * that the change committed from the log alone).
 */
function followConfiguration(o: {
  node: RaftNode;
  transport: TcpTransport;
  self: NodeId;
  /** Where the transport listens. */
  listening: string;
  joinPeers: readonly Member[];
  remember: (change: Partial<ClusterRecord>) => void;
  removed: (why: string) => void;
  logger: Pino.Logger;
}): void {
  const { node, transport, self } = o;
  let wasMember = false;
  let last = "";
  let cluster: string | null = null;
  let movedTo: string | null = null;
  const sync = () => {
    const book = node.membership.current();
    const member = book.members.some((m) => m.id === self);
    if (member) wasMember = true;
    else if (wasMember) {
      o.removed("removed from the cluster: the configuration no longer has this member");
      return;
    }
    const peers = new Map<NodeId, HostPort>();
    if (!member) for (const m of o.joinPeers) peers.set(m.id, memberAddress(m));
    for (const m of book.members) peers.set(m.id, memberAddress({ id: m.id, address: m.raft }));
    const key = JSON.stringify([[...peers].sort((a, b) => a[0] - b[0]), book.removed]);
    if (key !== last) {
      last = key;
      transport.setPeers(peers);
      transport.setRemoved(new Set(book.removed ?? []));
    }
    const own = book.members.find((m) => m.id === self)?.raft;
    if (own !== undefined) {
      o.remember({ listen: own });
      if (own !== o.listening && own !== movedTo) {
        movedTo = own;
        o.logger.warn(
          { listening: o.listening, address: own },
          "this member's Raft address changed: it listens at the old one until restarted",
        );
      }
    }
    if (book.clusterId !== null && book.clusterId !== cluster) {
      cluster = book.clusterId;
      o.remember({ clusterId: cluster });
      transport.adoptClusterId(cluster);
    }
  };
  sync();
  node.membership.onAdvanced(sync);
  // A peer refuses us as removed only once it applied our removal; a closed connection is
  // trusted from the leader only (another peer may be replaying an older configuration).
  transport.onRemovedBy((peer, how) => {
    if (how === "refused")
      o.removed(`removed from the cluster: node ${peer} refused it as a removed member`);
    else if (peer === node.status().leader)
      o.removed(`removed from the cluster: its leader, node ${peer}, no longer has it as a peer`);
  });
}

/** A member's Raft address, already validated by the CLI (parsePeers). */
function memberAddress(m: Member): HostPort {
  const hp = parseHostPort(m.address);
  if (!hp.ok) throw new Error(`member ${m.id}: ${hp.error}`);
  return hp.value;
}
