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

export class TcpTransport implements Transport {
  readonly id: NodeId;
  private readonly server: Server;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly handlers: ((m: Message) => void)[] = [];
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
    const maxFrameBytes = opts.maxFrameBytes ?? 16 * MIB;
    const queueLimit = opts.queueLimit ?? 4096;
    if (!Number.isSafeInteger(opts.id) || opts.id < 1)
      throw new RangeError("id must be a positive integer");
    if (
      !Number.isSafeInteger(maxFrameBytes) ||
      maxFrameBytes < 64 ||
      maxFrameBytes > MAX_FRAME_LIMIT
    ) {
      throw new RangeError(`maxFrameBytes must be an integer in [64, ${MAX_FRAME_LIMIT}]`);
    }
    if (!Number.isSafeInteger(queueLimit) || queueLimit < 1)
      throw new RangeError("queueLimit must be a positive integer");
    this.id = opts.id;
    this.logger = opts.logger ?? silentLogger;
    const self: Handshake = { id: opts.id, hello: { ...opts.hello } };
    const chunkBytes = Math.min(opts.snapshotChunkBytes ?? MIB, maxFrameBytes - CHUNK_OVERHEAD);
    for (const [peer, initial] of opts.peers) {
      if (peer === opts.id) continue;
      const link = new PeerLink({
        self,
        peer,
        address: () => opts.peers.get(peer) ?? initial,
        queueLimit,
        maxFrameBytes,
        snapshotChunkBytes: chunkBytes,
        backoffInitialMs: opts.backoffInitialMs ?? 50,
        backoffMaxMs: opts.backoffMaxMs ?? 1000,
        random: opts.random ?? Math.random,
        stats: this.counters,
        logger: this.logger,
        track: (s) => this.track(s),
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
        self: this.id,
        isPeer: (id) => this.links.has(id),
        maxFrameBytes,
        maxSnapshotBytes: opts.maxSnapshotBytes ?? 4 * 1024 * MIB,
        handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 10_000,
        stats: this.counters,
        logger: this.logger,
        onHandshake: (h) => this.onHandshake(h),
        deliver: (m) => this.deliver(m),
      });
    });
  }

  /** The bound listen address (the real port when started with port 0). */
  address(): HostPort {
    const a = this.server.address();
    if (a === null || typeof a === "string") throw new Error("transport is not listening");
    return { host: a.address, port: a.port };
  }

  send(m: Message): void {
    const link = this.links.get(m.to);
    if (link === undefined || this.closing !== null) {
      this.counters.dropped++;
      return;
    }
    link.send(m);
  }

  onMessage(handler: (m: Message) => void): void {
    this.handlers.push(handler);
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

  private deliver(m: Message): void {
    this.counters.received++;
    for (const handler of this.handlers) handler(m);
  }
}
