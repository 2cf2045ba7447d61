// Transport over TCP: one outbound connection per peer (peer-link.ts) and a listener for the
// peers' connections to us (inbound.ts); wire.ts has the protocol, connection.ts what both ends
// share (keepalive, liveness, closing on purpose). Raft messages travel one way on each
// connection, so each pair of nodes uses two sockets, one per direction; that keeps ordering
// per direction trivially and makes the dialer's handshake the single source of "who is on the
// other end".
//
// Membership at run time (issue 12): setPeers() replaces the set of peers. A removed peer's
// links are closed (with a CLOSE, so it does not take them for this node's death) and its
// connections are refused from then on; a re-addressed peer's outbound connection is closed and
// redialed at the new address. Only known peers may connect: a learner that dials a member
// before that member has applied the configuration change adding it is refused ("unknown-peer"),
// and redials at the capped backoff, so it connects within backoffMaxMs of being added. Nothing
// is lost by the wait: the leader dials the learner itself once it has added it, and that
// connection is accepted as soon as the learner knows the leader (it starts with `--peers`
// listing the members).
//
// Cluster id: a handshake from a node of another cluster is refused on both sides (CLOSE
// "cluster", logged at error level by the refuser and the refused). A node started without a
// cluster id (a `--join` member before it has heard from the cluster, or a node whose data
// predates cluster ids) accepts a known peer's id and adopts the first one a handshake presents,
// reporting it through onClusterId so the node can store it; from then on it checks like any
// other. A peer without an id is accepted by one with an id: it is such a node.

import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import type { Message, NodeId } from "../raft/types.js";
import type { HostPort } from "../util/host-port.js";
import { type Logger, silentLogger } from "../util/logger.js";
import { err, ok, type Result } from "../util/result.js";
import { onRefusedHandshake } from "../util/tls.js";
import { isClusterId } from "./cluster-id.js";
import { MAX_FRAME_LIMIT } from "./framing.js";
import { acceptInbound, type Inbound } from "./inbound.js";
import {
  emptyStats,
  type RejectReason,
  RepeatFilter,
  type TransportStats,
} from "./instrumentation.js";
import { linkTimingFor } from "./link-timing.js";
import { PeerLink } from "./peer-link.js";
import { type PeerTls, tlsServerOptions } from "./tls.js";
import type { PeerUpdates, Transport } from "./transport.js";
import {
  type Advertised,
  CHUNK_OVERHEAD,
  checkOwnHandshake,
  type Handshake,
  REMOVED,
} from "./wire.js";

export type { HostPort } from "../util/host-port.js";

export interface TcpTransportOptions {
  id: NodeId;
  /** Where to accept peers' connections; port 0 picks a free port (see address()). */
  listen: HostPort;
  /**
   * Every member's Raft address; this node's own entry, if present, is ignored. Addresses are
   * read from this map at each dial, so a caller may update them in place (e.g. once peers
   * started with port 0 have bound); adding or removing peers goes through setPeers().
   */
  peers: ReadonlyMap<NodeId, HostPort>;
  /**
   * This cluster's id (cluster-id.ts), checked in every handshake. Absent: not known yet; the
   * first id a peer's handshake carries is adopted (see the header and onClusterId).
   */
  clusterId?: string;
  /** What this node advertises in its handshake: its HTTP and gRPC addresses (HOST:PORT). */
  hello?: Advertised;
  /** Largest frame accepted or sent. Must match across the cluster. Default 16 MiB. */
  maxFrameBytes?: number;
  /** Messages waiting per peer before send() drops. Default 4096. */
  queueLimit?: number;
  logger?: Logger;
  /** Data bytes per snapshot chunk on the wire. Default 1 MiB (capped to fit a frame). */
  snapshotChunkBytes?: number;
  /** Largest snapshot accepted from a peer. Default 4 GiB. */
  maxSnapshotBytes?: number;
  /** An inbound connection must shake hands within this time. Default 10 s. */
  handshakeTimeoutMs?: number;
  /**
   * Link liveness and redial timing (link-timing.ts; the node passes linkTimingFor(heartbeat)).
   * Defaults: linkTimingFor(100), i.e. ping 100 ms, liveness 500 ms, connect 500 ms, backoff
   * 100 ms doubling to 400 ms. livenessTimeoutMs must be at least twice pingIntervalMs.
   */
  pingIntervalMs?: number;
  livenessTimeoutMs?: number;
  connectTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Jitter source for the backoff. Default Math.random. */
  random?: () => number;
  /**
   * Mutual TLS between members (tls.ts): every connection, both ways, is TLS with a
   * certificate signed by `ca`. Every member must agree. Default: plaintext.
   */
  tls?: PeerTls;
}

const MIB = 1 << 20;

type Settings = Required<Omit<TcpTransportOptions, "clusterId" | "tls">> & {
  clusterId?: string;
  tls?: PeerTls;
};

/** Fills in defaults and rejects impossible settings (a configuration bug: fail at start). */
function withDefaults(opts: TcpTransportOptions): Settings {
  const o: Settings = {
    maxFrameBytes: 16 * MIB,
    queueLimit: 4096,
    hello: {},
    logger: silentLogger,
    snapshotChunkBytes: MIB,
    maxSnapshotBytes: 4 * 1024 * MIB,
    handshakeTimeoutMs: 10_000,
    ...linkTimingFor(100),
    random: Math.random,
    ...definedOnly(opts),
  };
  // A copy of our own: reloadTls updates it in place for every peer link.
  if (o.tls) o.tls = { ...o.tls };
  const int = (name: string, v: number, min = 1, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
    }
  };
  int("id", o.id);
  int("maxFrameBytes", o.maxFrameBytes, 64, MAX_FRAME_LIMIT);
  int("queueLimit", o.queueLimit);
  int("snapshotChunkBytes", o.snapshotChunkBytes);
  int("maxSnapshotBytes", o.maxSnapshotBytes);
  int("handshakeTimeoutMs", o.handshakeTimeoutMs);
  int("pingIntervalMs", o.pingIntervalMs);
  int("livenessTimeoutMs", o.livenessTimeoutMs, 2 * o.pingIntervalMs);
  int("connectTimeoutMs", o.connectTimeoutMs);
  int("backoffInitialMs", o.backoffInitialMs);
  int("backoffMaxMs", o.backoffMaxMs, o.backoffInitialMs);
  checkPeers(o.peers);
  if (o.clusterId !== undefined && !isClusterId(o.clusterId)) {
    throw new RangeError(`clusterId must be a decimal integer in [2^60, 2^64), got ${o.clusterId}`);
  }
  checkOwnHandshake({ id: o.id, ...o.hello });
  // A chunk plus its header must fit in a frame.
  o.snapshotChunkBytes = Math.min(o.snapshotChunkBytes, o.maxFrameBytes - CHUNK_OVERHEAD);
  return o;
}

function checkPeers(peers: ReadonlyMap<NodeId, HostPort>): void {
  for (const [peer, a] of peers) {
    if (!Number.isSafeInteger(peer) || peer < 1) throw new RangeError(`bad peer id ${peer}`);
    if (!Number.isSafeInteger(a.port) || a.port < 0 || a.port > 65535) {
      throw new RangeError(`peer ${peer}: port must be an integer in [0, 65535], got ${a.port}`);
    }
  }
}

/** Drops keys explicitly set to undefined, so they do not override defaults. */
function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

type Refusal = { reason: RejectReason; error: string };

export class TcpTransport implements Transport, PeerUpdates {
  readonly id: NodeId;
  private readonly settings: Settings;
  private readonly server: Server;
  private peers: ReadonlyMap<NodeId, HostPort>;
  private cluster: string | undefined;
  private readonly links = new Map<NodeId, PeerLink>();
  /** The latest accepted connection from each peer. */
  private readonly inbound = new Map<NodeId, Inbound>();
  private readonly handlers: ((m: Message) => void)[] = [];
  private readonly lostHandlers: ((id: NodeId) => void)[] = [];
  private readonly helloHandlers: ((id: NodeId, hello: Readonly<Advertised>) => void)[] = [];
  private readonly clusterHandlers: ((clusterId: string) => void)[] = [];
  private readonly removedHandlers: ((peer: NodeId, how: "closed" | "refused") => void)[] = [];
  /** Ids this node removed from its configuration: their handshakes are refused as such. */
  private removedIds: ReadonlySet<NodeId> = new Set();
  private readonly hellos = new Map<NodeId, Advertised>();
  private readonly sockets = new Set<Socket>();
  private readonly counters: TransportStats = emptyStats();
  private readonly refusals = new RepeatFilter();
  private readonly logger: Logger;
  private closing: Promise<void> | null = null;

  /** Listens, then resolves; rejects if the address cannot be bound. */
  static async start(opts: TcpTransportOptions): Promise<TcpTransport> {
    const t = new TcpTransport(opts);
    await new Promise<void>((resolve, reject) => {
      t.server.once("error", reject);
      t.server.listen(opts.listen.port, opts.listen.host, () => {
        t.server.off("error", reject);
        resolve();
      });
    });
    t.server.on("error", (err) => t.logger.error({ err }, "listener error"));
    return t;
  }

  private constructor(opts: TcpTransportOptions) {
    const o = withDefaults(opts);
    this.settings = o;
    this.id = o.id;
    this.logger = o.logger;
    this.peers = o.peers;
    this.cluster = o.clusterId;
    for (const peer of o.peers.keys()) if (peer !== o.id) this.addLink(peer);
    const onSocket = (socket: Socket) => {
      if (this.closing !== null) {
        socket.destroy();
        return;
      }
      this.track(socket);
      acceptInbound(socket, {
        ...o,
        self: () => this.handshake(),
        stats: this.counters,
        admit: (h) => this.admit(h),
        refusals: this.refusals,
        accepted: (h, conn) => this.accepted(h, conn),
        deliver: (m) => this.deliver(m),
        removedBy: (id) => this.removedBy(id, "closed"),
        closed: (id, conn, lost) => {
          if (this.inbound.get(id) === conn) this.inbound.delete(id);
          if (lost) this.lost(id);
        },
      });
    };
    if (o.tls === undefined) {
      this.server = createServer({ noDelay: true }, onSocket);
    } else {
      const server = createTlsServer(tlsServerOptions(o.tls, o.handshakeTimeoutMs), (socket) => {
        socket.setNoDelay(true);
        onSocket(socket);
      });
      // A connection refused during the TLS handshake never reaches onSocket: say why here.
      onRefusedHandshake(server, (remote, error) => {
        const level = this.refusals.level(`tls: ${error}`, "error");
        this.logger[level](
          { remote, error },
          "refused a peer's connection during the TLS handshake",
        );
      });
      this.server = server;
    }
  }

  /** The bound listen address (the real port when started with port 0). */
  address(): HostPort {
    const a = this.server.address();
    if (a === null || typeof a === "string") throw new Error("transport is not listening");
    return { host: a.address, port: a.port };
  }

  /**
   * Queues `m` for its peer. Drops (counted in stats().dropped) when closed, when `to` is not a
   * peer, or when `from` is not this node: the receiver would reject that message and close
   * the connection, losing everything queued behind it.
   */
  send(m: Message): void {
    const link = this.links.get(m.to);
    if (link === undefined || m.from !== this.id || this.closing !== null) {
      this.counters.dropped++;
      return;
    }
    link.send(m);
  }

  onMessage(handler: (m: Message) => void): void {
    this.handlers.push(handler);
  }

  onPeerLost(handler: (id: NodeId) => void): void {
    this.lostHandlers.push(handler);
  }

  /**
   * Makes `peers` the set of peers (this node's own entry ignored): new ids get a link, removed
   * ids lose theirs and their connections, changed addresses are redialed. The map is copied.
   * Throws RangeError on an impossible id or port (the caller validated them: a bug).
   */
  setPeers(peers: ReadonlyMap<NodeId, HostPort>): void {
    checkPeers(peers);
    if (this.closing !== null) return;
    this.peers = new Map(peers);
    const removed = { code: REMOVED, reason: `node ${this.id} no longer has you as a peer` };
    for (const [id, link] of this.links) {
      if (peers.has(id)) continue;
      link.close(removed);
      this.links.delete(id);
      this.inbound.get(id)?.close(removed);
      this.inbound.delete(id);
      this.hellos.delete(id);
      this.logger.info({ peer: id }, "peer removed");
    }
    for (const id of peers.keys()) {
      if (id === this.id) continue;
      const link = this.links.get(id);
      if (link === undefined) {
        this.addLink(id);
        this.logger.info({ peer: id, address: peers.get(id) }, "peer added");
      } else link.addressChanged();
    }
  }

  /** What a peer advertised in its latest handshake with us (either direction), if any. */
  peerHello(id: NodeId): Readonly<Advertised> | undefined {
    return this.hellos.get(id);
  }

  /** Called on every accepted handshake, in either direction (each time a peer reconnects). */
  onHello(handler: (id: NodeId, hello: Readonly<Advertised>) => void): void {
    this.helloHandlers.push(handler);
  }

  /** The cluster id this node checks handshakes against; undefined until known. */
  clusterId(): string | undefined {
    return this.cluster;
  }

  /**
   * Takes `clusterId` as this node's if it has none yet (the node learned it from its log).
   * One it already has is kept: a different one is logged, since a handshake and the log
   * disagreeing means this node met another cluster's node before it learned its own.
   */
  adoptClusterId(clusterId: string): void {
    if (!isClusterId(clusterId)) throw new RangeError(`bad cluster id ${clusterId}`);
    if (this.cluster === clusterId) return;
    if (this.cluster !== undefined) {
      this.logger.error(
        { adopted: this.cluster, log: clusterId },
        "the cluster id in the log differs from the one adopted from a handshake",
      );
      return;
    }
    this.cluster = clusterId;
    this.logger.info({ clusterId }, "learned the cluster id from the log");
  }

  /**
   * Called when a peer says this node is no longer its peer: it closed an open connection with
   * setPeers's "removed" notice ("closed": it applied a configuration without this node, or is
   * replaying one), or refused our handshake because it removed this node ("refused": see
   * setRemoved).
   */
  onRemovedBy(handler: (peer: NodeId, how: "closed" | "refused") => void): void {
    this.removedHandlers.push(handler);
  }

  /**
   * The ids this node's applied configuration removed (and did not add back): a handshake from
   * one of them is refused with reason "removed" instead of "unknown-peer", so a member that
   * was down while it was removed learns it when it comes back.
   */
  setRemoved(ids: ReadonlySet<NodeId>): void {
    this.removedIds = new Set(ids);
  }

  /** Called once, when a node started without a cluster id adopts one from a handshake. */
  onClusterId(handler: (clusterId: string) => void): void {
    this.clusterHandlers.push(handler);
  }

  /** A snapshot of the counters. */
  stats(): TransportStats {
    return { ...this.counters, rejected: { ...this.counters.rejected } };
  }

  /** Stops listening, closes every connection; resolves once every socket has closed. */
  /**
   * Uses new certificates (a SIGHUP in `kv serve`) for every handshake from now on, both ways;
   * established connections keep theirs. Only for a transport started with TLS.
   */
  reloadTls(t: PeerTls): void {
    const current = this.settings.tls;
    if (current === undefined) throw new Error("this transport was started without TLS");
    const next = tlsServerOptions(t, this.settings.handshakeTimeoutMs);
    (this.server as TlsServer).setSecureContext(next);
    // Every peer link holds this same object and reads it at each dial.
    Object.assign(current, { cert: t.cert, key: t.key, ca: t.ca });
  }

  close(): Promise<void> {
    if (this.closing === null) {
      const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const link of this.links.values()) link.close();
      const socketsClosed = [...this.sockets].map(
        (s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.once("close", resolve))),
      );
      for (const s of this.sockets) s.destroy();
      this.closing = Promise.all([serverClosed, ...socketsClosed]).then(() => undefined);
    }
    return this.closing;
  }

  private addLink(peer: NodeId): void {
    const o = this.settings;
    const initial = this.peers.get(peer) as HostPort;
    const link = new PeerLink({
      ...o,
      self: () => this.handshake(),
      peer,
      // Misses only if the caller deleted the entry from the initial map in place.
      address: () => this.peers.get(peer) ?? initial,
      stats: this.counters,
      track: (s) => this.track(s),
      welcomed: (h) => this.checkHandshake(h),
      removedBy: (id, how) => this.removedBy(id, how),
      lost: (id) => this.lost(id),
    });
    this.links.set(peer, link);
  }

  private handshake(): Handshake {
    const h: Handshake = { id: this.id, ...this.settings.hello };
    if (this.cluster !== undefined) h.cluster = this.cluster;
    return h;
  }

  private admit(h: Handshake): Result<void, Refusal> {
    if (h.id !== this.id && !this.links.has(h.id) && this.removedIds.has(h.id)) {
      return err({ reason: "removed", error: `node ${h.id} was removed from the cluster` });
    }
    if (h.id === this.id || !this.links.has(h.id)) {
      return err({
        reason: "unknown-peer",
        error: `node ${h.id} is not a peer of node ${this.id}`,
      });
    }
    return this.checkHandshake(h);
  }

  /** The checks both directions make: the cluster id (adopted if unknown), then the hello. */
  private checkHandshake(h: Handshake): Result<void, Refusal> {
    if (h.cluster !== undefined && h.cluster !== this.cluster) {
      if (this.cluster !== undefined) {
        const error = `node ${h.id} belongs to cluster ${h.cluster}; node ${this.id} to cluster ${this.cluster}`;
        return err({ reason: "cluster", error });
      }
      this.cluster = h.cluster;
      this.logger.info({ peer: h.id, clusterId: h.cluster }, "adopted the cluster id");
      for (const handler of this.clusterHandlers) handler(h.cluster);
    }
    const advertised: Advertised = {};
    if (h.http !== undefined) advertised.http = h.http;
    if (h.grpc !== undefined) advertised.grpc = h.grpc;
    if (h.secret !== undefined) advertised.secret = h.secret;
    this.hellos.set(h.id, advertised);
    for (const handler of this.helloHandlers) handler(h.id, advertised);
    return ok(undefined);
  }

  private accepted(h: Handshake, conn: Inbound): void {
    // The dialer keeps one connection per peer: a new one means the old is dead to it.
    const previous = this.inbound.get(h.id);
    this.inbound.set(h.id, conn);
    previous?.close({ code: "superseded", reason: "you opened a new connection" });
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  // Handlers are called directly: an exception from one is the caller's bug and surfaces as
  // such (uncaught), never as a silently lost message.
  private lost(id: NodeId): void {
    if (this.closing !== null) return;
    for (const handler of this.lostHandlers) handler(id);
  }

  private removedBy(id: NodeId, how: "closed" | "refused"): void {
    if (this.closing !== null) return;
    for (const handler of this.removedHandlers) handler(id, how);
  }

  private deliver(m: Message): void {
    this.counters.received++;
    for (const handler of this.handlers) handler(m);
  }
}
