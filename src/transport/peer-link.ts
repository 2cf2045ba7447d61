// The outbound half of TcpTransport for one peer: a lazily opened connection, a bounded queue,
// per-turn write batching, backpressure, and reconnection with capped exponential backoff.
//
//            send()                 connect                 error / close
//   idle ------------> connecting ----------> open -----------------------> backoff
//     ^                    |                                                  |
//     |                    +--------------- error / close ------------------->|
//     +------------- timer fires, queue empty ---- timer fires, queue non-empty --> connecting
//
// Raft retransmits everything that matters (heartbeats, probes, snapshots), so losing messages
// is always safe and a full queue simply drops: send() never blocks and never throws.

import { connect, type Socket } from "node:net";
import type { Message, NodeId } from "../raft/types.js";
import { encodeMessage } from "./codec.js";
import { encodeFrame, encodeFrames, type Payload, payloadBytes } from "./framing.js";
import type { TransportLogger, TransportStats } from "./instrumentation.js";
import { chunkPayloads, type Handshake, helloPayload, msgPayload } from "./wire.js";

export interface HostPort {
  host: string;
  port: number;
}

export interface PeerLinkConfig {
  self: Handshake;
  peer: NodeId;
  /** Looked up at each dial (the address book may be updated, e.g. after binding port 0). */
  address(): HostPort;
  queueLimit: number;
  maxFrameBytes: number;
  snapshotChunkBytes: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  random: () => number;
  stats: TransportStats;
  logger: TransportLogger;
  /** Registers a socket with the transport so close() can wait for it. */
  track(socket: Socket): void;
  /** An established connection to the peer closed. */
  lost(id: NodeId): void;
}

/** Bytes gathered before one socket.write (a batch also ends with the event-loop turn). */
const WRITE_BATCH_BYTES = 1 << 20;

/** A snapshot being written chunk by chunk (it may span many drains). */
interface SnapshotCursor {
  chunks: Payload[];
  next: number;
}

export class PeerLink {
  private queue: Message[] = [];
  private socket: Socket | null = null;
  private open = false;
  /** The socket's buffer is full: wait for "drain" before writing more. */
  private blocked = false;
  private flushScheduled = false;
  private snapshot: SnapshotCursor | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private openedAt = 0;
  private closed = false;

  constructor(private readonly cfg: PeerLinkConfig) {}

  send(m: Message): void {
    if (this.closed || this.queue.length >= this.cfg.queueLimit) {
      this.cfg.stats.dropped++;
      return;
    }
    this.queue.push(m);
    if (this.open) this.scheduleFlush();
    else if (this.socket === null && this.retryTimer === null) this.dial();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.cfg.stats.dropped += this.queue.length;
    this.queue = [];
    this.socket?.destroy();
  }

  private dial(): void {
    const { peer, logger } = this.cfg;
    const address = this.cfg.address();
    let socket: Socket;
    try {
      socket = connect({ host: address.host, port: address.port, noDelay: true });
    } catch (err) {
      // A malformed address (bad port) throws synchronously; send() must not.
      logger.error({ peer, address, err: (err as Error).message }, "cannot dial peer");
      this.cfg.stats.disconnects++;
      this.redialLater();
      return;
    }
    this.socket = socket;
    this.cfg.track(socket);
    socket.on("connect", () => {
      this.openedAt = performance.now();
      this.open = true;
      this.cfg.stats.connects++;
      logger.debug({ peer, address }, "connected to peer");
      socket.write(encodeFrame(helloPayload(this.cfg.self)));
      this.flush();
    });
    // The acceptor never writes: bytes from it mean a confused peer. Reading also makes the
    // peer's FIN ("end") visible at once instead of at our next failed write.
    socket.on("data", () => socket.destroy());
    socket.on("drain", () => {
      this.blocked = false;
      this.flush();
    });
    socket.on("error", (err) =>
      logger.debug({ peer, address, err: err.message }, "peer link error"),
    );
    socket.on("close", () => this.onClose(socket));
  }

  private onClose(socket: Socket): void {
    if (this.socket !== socket) return;
    // Back off afresh only after a connection that lasted: a peer that accepts and at once
    // hangs up (say, it rejects our handshake) must not be redialed at the initial rate forever.
    if (this.open && performance.now() - this.openedAt >= this.cfg.backoffMaxMs) this.attempt = 0;
    const wasOpen = this.open;
    this.socket = null;
    this.open = false;
    this.blocked = false;
    this.cfg.stats.disconnects++;
    if (this.snapshot !== null) {
      // The receiver drops a partial snapshot with the connection; Raft will resend it.
      this.cfg.stats.dropped++;
      this.snapshot = null;
    }
    if (!this.closed) this.redialLater();
    if (wasOpen && !this.closed) this.cfg.lost(this.cfg.peer);
  }

  private redialLater(): void {
    // Exponential backoff with jitter, capped (~1 s): a restarting peer is found again quickly
    // and a dead one costs a connection attempt per second at most. Half the delay is jitter,
    // so peers that lost a node at the same moment do not redial in lockstep.
    const cap = Math.min(this.cfg.backoffMaxMs, this.cfg.backoffInitialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    const delay = cap / 2 + (this.cfg.random() * cap) / 2;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed && this.queue.length > 0) this.dial();
    }, delay);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.blocked) return;
    this.flushScheduled = true;
    // One flush per event-loop turn: everything sent while handling this turn's I/O (a Ready
    // batch, a burst of replies) leaves in one write, so one syscall and one TCP segment train.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes queued messages until the queue is empty or the socket pushes back. */
  private flush(): void {
    const socket = this.socket;
    if (socket === null || !this.open || this.blocked) return;
    const queue = this.queue;
    this.queue = [];
    let i = 0;
    let batch: Payload[] = [];
    let bytes = 0;
    let writable = true;
    while (writable && (this.snapshot !== null || i < queue.length)) {
      const payload =
        this.snapshot !== null ? this.nextChunk(this.snapshot) : this.encode(queue[i++] as Message);
      if (payload === null) continue;
      batch.push(payload);
      bytes += payloadBytes(payload);
      if (bytes >= WRITE_BATCH_BYTES) {
        writable = socket.write(encodeFrames(batch));
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length > 0) writable = socket.write(encodeFrames(batch));
    // Whatever the socket pushed back waits, ahead of messages sent meanwhile.
    if (i < queue.length) this.queue = queue.slice(i).concat(this.queue);
    if (!writable) this.blocked = true;
    else if (this.queue.length > 0) this.scheduleFlush();
  }

  private nextChunk(c: SnapshotCursor): Payload {
    const payload = c.chunks[c.next++] as Payload;
    if (c.next === c.chunks.length) this.snapshot = null;
    return payload;
  }

  /**
   * A message as a MSG payload, or for a snapshot its first chunk (the rest follow from
   * this.snapshot). null when the message cannot be sent (counted as dropped).
   */
  private encode(m: Message): Payload | null {
    const { stats, logger, peer } = this.cfg;
    let body: Buffer;
    try {
      body = encodeMessage(m);
    } catch (err) {
      stats.dropped++;
      logger.error({ peer, type: m.type, err: (err as Error).message }, "unencodable message");
      return null;
    }
    if (m.type === "snap") {
      // Snapshots can be far larger than a frame: they travel in chunks (wire.ts).
      stats.sent++;
      this.snapshot = { chunks: chunkPayloads(body, this.cfg.snapshotChunkBytes), next: 0 };
      return this.nextChunk(this.snapshot);
    }
    const payload = msgPayload(body);
    if (payloadBytes(payload) > this.cfg.maxFrameBytes) {
      // The receiver would close the connection on it; Raft's maxBytesPerMsg should prevent it.
      stats.dropped++;
      logger.warn({ peer, type: m.type, bytes: body.byteLength }, "message exceeds maxFrameBytes");
      return null;
    }
    stats.sent++;
    return payload;
  }
}
