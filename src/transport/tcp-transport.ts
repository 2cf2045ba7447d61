// Transport over TCP: one outbound connection per peer (peer-link.ts) and a listener for the
// peers' connections to us (inbound.ts). Connections are one-way, so each pair of nodes uses
// two sockets, one per direction; that keeps ordering per direction trivially and makes the
// dialer's handshake the single source of "who is on the other end".

import { createServer, type Server, type Socket } from "node:net";
import type { Message, NodeId } from "../raft/types.js";
import { MAX_FRAME_LIMIT } from "./framing.js";
import { acceptInbound } from "./inbound.js";
import {
  emptyStats,
  silentLogger,
  type TransportLogger,
  type TransportStats,
} from "./instrumentation.js";
import { type HostPort, PeerLink } from "./peer-link.js";
import type { Transport } from "./transport.js";
import type { Handshake } from "./wire.js";

export type { HostPort } from "./peer-link.js";

export interface TcpTransportOptions {
  id: NodeId;
  /** Where to accept peers' connections; port 0 picks a free port (see address()). */
  listen: HostPort;
  /**
   * Every member's Raft address; this node's own entry, if present, is ignored. The peer set is
   * fixed at start, but addresses are read from this map at each dial, so a caller may update
   * them (e.g. once peers started with port 0 have bound).
   */
  peers: ReadonlyMap<NodeId, HostPort>;
  /** Largest frame accepted or sent. Must match across the cluster. Default 16 MiB. */
  maxFrameBytes?: number;
  /** Messages waiting per peer before send() drops. Default 4096. */
  queueLimit?: number;
  /** Metadata sent in the handshake to every peer (the KV node's HTTP address). */
  hello?: Record<string, string>;
  logger?: TransportLogger;
  /** Data bytes per snapshot chunk on the wire. Default 1 MiB (capped to fit a frame). */
  snapshotChunkBytes?: number;
  /** Largest snapshot accepted from a peer. Default 4 GiB. */
  maxSnapshotBytes?: number;
  /** An inbound connection must shake hands within this time. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap. Defaults 50 ms and 1 s. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Jitter source for the backoff. Default Math.random. */
  random?: () => number;
}

const MIB = 1 << 20;
/** Kind byte + chunk header (wire.ts). */
const CHUNK_OVERHEAD = 13;

type Settings = Required<TcpTransportOptions>;

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
    backoffInitialMs: 50,
    backoffMaxMs: 1000,
    random: Math.random,
    ...definedOnly(opts),
  };
  const positive = (name: keyof Settings, v: number, min = 1, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
    }
  };
  positive("id", o.id);
  positive("maxFrameBytes", o.maxFrameBytes, 64, MAX_FRAME_LIMIT);
  positive("queueLimit", o.queueLimit);
  positive("snapshotChunkBytes", o.snapshotChunkBytes);
  positive("maxSnapshotBytes", o.maxSnapshotBytes);
  positive("handshakeTimeoutMs", o.handshakeTimeoutMs);
  positive("backoffInitialMs", o.backoffInitialMs);
  positive("backoffMaxMs", o.backoffMaxMs, o.backoffInitialMs);
  for (const [peer, a] of o.peers) {
    positive("peers", peer);
    positive("peers", a.port, 0, 65535);
  }
  // A chunk plus its header must fit in a frame.
  o.snapshotChunkBytes = Math.min(o.snapshotChunkBytes, o.maxFrameBytes - CHUNK_OVERHEAD);
  return o;
}

/** Drops keys explicitly set to undefined, so they do not override defaults. */
function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export class TcpTransport implements Transport {
  readonly id: NodeId;
  private readonly server: Server;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly handlers: ((m: Message) => void)[] = [];
  private readonly lostHandlers: ((id: NodeId) => void)[] = [];
  private readonly helloHandlers: ((id: NodeId, hello: Record<string, string>) => void)[] = [];
  private readonly hellos = new Map<NodeId, Record<string, string>>();
  private readonly sockets = new Set<Socket>();
  private readonly counters: TransportStats = emptyStats();
  private readonly logger: TransportLogger;
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
    t.server.on("error", (err) => t.logger.error({ err: err.message }, "listener error"));
    return t;
  }

  private constructor(opts: TcpTransportOptions) {
    const o = withDefaults(opts);
    this.id = o.id;
    this.logger = o.logger;
    const self: Handshake = { id: o.id, hello: { ...o.hello } };
    for (const [peer, initial] of o.peers) {
      if (peer === o.id) continue;
      const link = new PeerLink({
        ...o,
        self,
        peer,
        address: () => o.peers.get(peer) ?? initial,
        stats: this.counters,
        track: (s) => this.track(s),
        lost: (id) => this.lost(id),
      });
      this.links.set(peer, link);
    }
    this.server = createServer({ noDelay: true }, (socket) => {
      if (this.closing !== null) {
        socket.destroy();
        return;
      }
      this.track(socket);
      acceptInbound(socket, {
        ...o,
        self: o.id,
        isPeer: (id) => this.links.has(id),
        stats: this.counters,
        onHandshake: (h) => this.onHandshake(h),
        deliver: (m) => this.deliver(m),
        lost: (id) => this.lost(id),
      });
    });
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

  /** The hello metadata a peer sent on its latest connection to us, if it has connected. */
  peerHello(id: NodeId): Readonly<Record<string, string>> | undefined {
    return this.hellos.get(id);
  }

  /** Called on every accepted handshake (each time a peer (re)connects to us). */
  onHello(handler: (id: NodeId, hello: Readonly<Record<string, string>>) => void): void {
    this.helloHandlers.push(handler);
  }

  /** A snapshot of the counters. */
  stats(): TransportStats {
    return { ...this.counters, rejected: { ...this.counters.rejected } };
  }

  /** Stops listening, closes every connection; resolves once every socket has closed. */
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

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  // Handlers are called directly: an exception from one is the caller's bug and surfaces as
  // such (uncaught), never as a silently lost message.
  private onHandshake(h: Handshake): void {
    this.hellos.set(h.id, h.hello);
    for (const handler of this.helloHandlers) handler(h.id, h.hello);
  }

  private lost(id: NodeId): void {
    if (this.closing !== null) return;
    for (const handler of this.lostHandlers) handler(id);
  }

  private deliver(m: Message): void {
    this.counters.received++;
    for (const handler of this.handlers) handler(m);
  }
}
