// The outbound half of TcpTransport for one peer: a lazily opened connection, a bounded queue,
// per-turn write batching, backpressure, and reconnection with capped exponential backoff.
//
//            send()                 WELCOME                   closed, silent, refused
//   idle ------------> connecting ----------> open -----------------------------------> backoff
//     ^                    |                                                              |
//     |                    +---- error, refused, no WELCOME within connectTimeoutMs ----->|
//     +------------- timer fires, queue empty ---- timer fires, queue non-empty --> connecting
//
// "Connecting" covers the TCP connect and the handshake: messages wait in the queue until the
// peer has answered HELLO with WELCOME, so none is sent to a node that would refuse it, and
// one timeout bounds the whole attempt. That matters after a silent partition: a SYN that was
// dropped is retried by the kernel only after a second or more, and a connection that completes
// into a black hole would otherwise wait forever. With the backoff capped, a link is back at
// most connectTimeoutMs + backoffMaxMs (plus a round trip) after the network heals.
//
// Raft retransmits everything that matters (heartbeats, probes, snapshots), so losing messages
// is always safe and a full queue simply drops: send() never blocks and never throws.

import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Message, NodeId } from "../raft/types.js";
import type { HostPort } from "../util/host-port.js";
import type { Logger } from "../util/logger.js";
import type { Result } from "../util/result.js";
import { encodeMessage } from "./codec.js";
import { Connection } from "./connection.js";
import { type Payload, payloadBytes } from "./framing.js";
import { type RejectReason, RepeatFilter, type TransportStats } from "./instrumentation.js";
import { describeTlsError, isTlsError, type PeerTls, tlsClientOptions } from "./tls.js";
import {
  type CloseNotice,
  chunkPayloads,
  type Handshake,
  handshakePayload,
  KIND_HELLO,
  KIND_WELCOME,
  msgPayload,
  parseHandshake,
  REMOVED,
} from "./wire.js";

export interface PeerLinkConfig {
  /** This node's handshake, read at each dial (the cluster id may be adopted meanwhile). */
  self(): Handshake;
  peer: NodeId;
  /** The peer's current address, read at each dial. */
  address(): HostPort;
  queueLimit: number;
  maxFrameBytes: number;
  snapshotChunkBytes: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  connectTimeoutMs: number;
  pingIntervalMs: number;
  livenessTimeoutMs: number;
  random: () => number;
  stats: TransportStats;
  logger: Logger;
  /** Registers a socket with the transport so close() can wait for it. */
  track(socket: Socket): void;
  /** Mutual TLS (tls.ts); plaintext when absent. */
  tls?: PeerTls;
  /** Checks the peer's WELCOME; an error refuses the connection. */
  welcomed(h: Handshake): Result<void, { reason: RejectReason; error: string }>;
  /**
   * The peer closed our open connection saying this node is no longer its peer ("closed"), or
   * refused our handshake because it removed this node ("refused").
   */
  removedBy(id: NodeId, how: "closed" | "refused"): void;
  /** An established connection to the peer ended without the peer saying it closed it. */
  lost(id: NodeId): void;
}

/** Bytes gathered before one write (a batch also ends with the event-loop turn). */
const WRITE_BATCH_BYTES = 1 << 20;
/** Enough doublings to reach any backoffMaxMs from any backoffInitialMs. */
const MAX_ATTEMPT = 30;

/** A snapshot being written chunk by chunk (it may span many drains). */
interface SnapshotCursor {
  chunks: Payload[];
  next: number;
}

export class PeerLink {
  private queue: Message[] = [];
  private conn: Connection | null = null;
  /** The address `conn` dialed. */
  private dialed: HostPort | null = null;
  private open = false;
  /** The socket's buffer is full: wait for "drain" before writing more. */
  private blocked = false;
  private flushScheduled = false;
  private snapshot: SnapshotCursor | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private openedAt = 0;
  private refused = false;
  private readonly refusals = new RepeatFilter();
  private closed = false;

  constructor(private readonly cfg: PeerLinkConfig) {}

  send(m: Message): void {
    if (this.closed || this.queue.length >= this.cfg.queueLimit) {
      this.cfg.stats.dropped++;
      return;
    }
    this.queue.push(m);
    if (this.open) this.scheduleFlush();
    else if (this.conn === null && this.retryTimer === null) this.dial();
  }

  /**
   * Stops the link for good. With a notice (the peer was removed) the connection is closed on
   * purpose, so the peer does not take it for this node's death; without one (this transport
   * is shutting down) it is simply cut, and the peer reports us lost, as it should.
   */
  close(notice?: CloseNotice): void {
    this.closed = true;
    this.clearTimers();
    this.cfg.stats.dropped += this.queue.length;
    this.queue = [];
    if (notice !== undefined) this.conn?.close(notice);
    else this.conn?.destroy();
  }

  /** The peer's address may have changed: a connection to an old address is closed. */
  addressChanged(): void {
    const now = this.cfg.address();
    if (this.conn === null || this.dialed === null) return;
    if (this.dialed.host === now.host && this.dialed.port === now.port) return;
    this.cfg.logger.info({ peer: this.cfg.peer, from: this.dialed, to: now }, "peer re-addressed");
    this.conn.close({
      code: "readdressed",
      reason: "this node now reaches you at another address",
    });
  }

  private dial(): void {
    const { peer, logger, stats } = this.cfg;
    const address = this.cfg.address();
    let socket: Socket;
    try {
      const tls = this.cfg.tls;
      socket =
        tls === undefined
          ? connect({ host: address.host, port: address.port, noDelay: true })
          : tlsConnect({
              host: address.host,
              port: address.port,
              ...tlsClientOptions(tls, address.host),
            });
      if (tls !== undefined) {
        socket.setNoDelay(true);
        socket.on("error", (err) => {
          if (!isTlsError(err)) return;
          const error = describeTlsError(err);
          logger[this.refusals.level(`tls: ${error}`, "error")](
            { peer, address, error },
            "cannot connect to peer over TLS",
          );
        });
      }
    } catch (err) {
      // A malformed address (bad port) throws synchronously; send() must not.
      logger.error({ peer, address, err }, "cannot dial peer");
      stats.disconnects++;
      this.redialLater();
      return;
    }
    this.cfg.track(socket);
    const conn: Connection = new Connection(
      socket,
      { ...this.cfg, refusals: this.refusals, context: () => ({ peer, address, dir: "out" }) },
      {
        onFrame: (kind, body) => this.onFrame(conn, kind, body),
        onPeerClose: (notice) => this.onPeerClose(notice),
        onDrain: () => {
          this.blocked = false;
          this.flush();
        },
        onClose: (how) => this.onClose(conn, how),
      },
    );
    this.conn = conn;
    this.dialed = address;
    conn.write([handshakePayload(KIND_HELLO, this.cfg.self())]);
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      stats.connectTimeouts++;
      logger.debug({ peer, address }, "no handshake answer in time: abandoning the attempt");
      // On purpose, with a CLOSE: if the network was only slow, the peer may yet read our HELLO
      // and answer it, and must not then take our hang-up for this node's death.
      const reason = `no answer to the handshake within ${this.cfg.connectTimeoutMs} ms`;
      conn.close({ code: "abandoned", reason });
    }, this.cfg.connectTimeoutMs);
  }

  private onFrame(conn: Connection, kind: number | undefined, body: Buffer): void {
    if (this.open || kind !== KIND_WELCOME) {
      conn.reject(
        "malformed",
        `unexpected frame kind ${kind ?? "(empty frame)"} from the acceptor`,
      );
      return;
    }
    const h = parseHandshake(body);
    if (!h.ok) {
      conn.reject("handshake", h.error);
      return;
    }
    if (h.value.id !== this.cfg.peer) {
      const address = this.dialed;
      const error = `node ${h.value.id} answered at node ${this.cfg.peer}'s address`;
      conn.reject("unknown-peer", `${error} (${address?.host}:${address?.port})`, "error");
      return;
    }
    const w = this.cfg.welcomed(h.value);
    if (!w.ok) {
      conn.reject(w.error.reason, w.error.error, "error");
      return;
    }
    this.clearConnectTimer();
    this.open = true;
    this.refused = false;
    this.openedAt = performance.now();
    this.cfg.stats.connects++;
    this.cfg.logger.debug({ peer: this.cfg.peer, address: this.dialed }, "connected to peer");
    conn.established();
    this.flush();
  }

  private onPeerClose(notice: CloseNotice): void {
    const { peer, logger, stats } = this.cfg;
    if (this.open) {
      logger.info({ peer, ...notice }, "peer closed our connection");
      if (notice.code === REMOVED) this.cfg.removedBy(peer, "closed");
      return;
    }
    // Refused at the handshake: say so at error level (an operator must act on another
    // cluster's node; a learner not yet added is retried until it is), repeats quietly.
    stats.refusedByPeer++;
    this.refused = true;
    const level = this.refusals.level(`${notice.code}: ${notice.reason}`, "error");
    logger[level]({ peer, address: this.dialed, ...notice }, "peer refused our handshake");
    if (notice.code === REMOVED) this.cfg.removedBy(peer, "refused");
  }

  private onClose(conn: Connection, how: { notice: CloseNotice | null; deliberate: boolean }) {
    if (this.conn !== conn) return;
    this.clearConnectTimer();
    // Back off afresh only after a connection that lasted: a peer that accepts and at once
    // hangs up must not be redialed at the initial rate forever. A refusal waits the longest.
    if (this.open && performance.now() - this.openedAt >= this.cfg.backoffMaxMs) this.attempt = 0;
    if (this.refused) this.attempt = MAX_ATTEMPT;
    const wasOpen = this.open;
    this.conn = null;
    this.dialed = null;
    this.open = false;
    this.blocked = false;
    this.refused = false;
    this.cfg.stats.disconnects++;
    if (this.snapshot !== null) {
      // The receiver drops a partial snapshot with the connection; Raft will resend it.
      this.cfg.stats.dropped++;
      this.snapshot = null;
    }
    if (this.closed) return;
    this.redialLater();
    // A connection this node cut (liveness, a fault) or that the peer closed on purpose says
    // nothing about the peer being down: only a bare hang-up (a dead process) is reported.
    if (wasOpen && !how.deliberate && how.notice === null) this.cfg.lost(this.cfg.peer);
  }

  private redialLater(): void {
    // Exponential backoff with jitter, capped: a restarting or healed peer is found again
    // quickly and a dead one costs one connection attempt per backoffMaxMs at most. Half the
    // delay is jitter, so peers that lost a node at the same moment do not redial in lockstep.
    const cap = Math.min(this.cfg.backoffMaxMs, this.cfg.backoffInitialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, MAX_ATTEMPT);
    const delay = cap / 2 + (this.cfg.random() * cap) / 2;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed && this.queue.length > 0) this.dial();
    }, delay);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private clearTimers(): void {
    this.clearConnectTimer();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
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
    const conn = this.conn;
    if (conn === null || !this.open || this.blocked) return;
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
        writable = conn.write(batch);
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length > 0) writable = conn.write(batch);
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
      logger.error({ peer, type: m.type, err }, "unencodable message");
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
