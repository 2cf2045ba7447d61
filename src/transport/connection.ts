// One TCP connection between two nodes: what the dialer (peer-link.ts) and the acceptor
// (inbound.ts) share. It sends this node's preamble, checks the peer's (wire.ts), turns bytes
// into checksummed frames (framing.ts), and keeps the connection honest about being alive:
//
//   - Keepalive: once the handshake is done, each side sends a PING whenever it has written
//     nothing for pingIntervalMs. Raft traffic alone cannot prove liveness both ways: messages
//     flow only from dialer to acceptor, and a follower's link to its leader may carry nothing
//     but replies, so only a keepalive in each direction lets both ends notice a silent cut.
//   - Liveness: a side that has received no byte at all for livenessTimeoutMs closes the
//     connection (counted in livenessTimeouts), and the dialer redials. Bytes, not whole frames,
//     count: a slow link still delivering a 1 MiB snapshot chunk is alive. Without this a
//     connection cut silently (packets dropped, no RST) would come back only when TCP's
//     exponentially backed-off retransmission happened to fire, seconds after the network healed.
//   - Closing on purpose: a side that closes a working connection deliberately (liveness, a
//     protocol fault, a removed peer) first sends CLOSE {code, reason}, so the other side knows
//     the peer is not gone (onPeerLost is only for a connection that ended without one) and can
//     log why. It then waits briefly for the peer to hang up before destroying the socket: a
//     socket closed with unread input resets the connection, and the CLOSE could be lost.
//
// A peer whose preamble is not raftwork's, or of another version, is logged at error level
// and hung up on without a CLOSE: its framing may differ, so nothing more is sent.

import type { Socket } from "node:net";
import type { LogFields, Logger } from "../util/logger.js";
import { encodeFrame, encodeFrames, FrameDecoder, type Payload } from "./framing.js";
import type { RejectReason, RepeatFilter, TransportStats } from "./instrumentation.js";
import {
  type CloseNotice,
  closePayload,
  KIND_CLOSE,
  KIND_PING,
  looksLikeTls,
  PING_PAYLOAD,
  PREAMBLE_BYTES,
  parseClose,
  parsePreamble,
  preamble,
  WIRE_VERSION,
} from "./wire.js";

/** Far above any valid handshake (wire.ts bounds its fields), far below a frame limit. */
const MAX_HANDSHAKE_BYTES = 64 * 1024;

export interface ConnectionConfig {
  maxFrameBytes: number;
  pingIntervalMs: number;
  livenessTimeoutMs: number;
  logger: Logger;
  stats: TransportStats;
  /** Rate-limits the log lines of refusals that repeat at every redial. */
  refusals: RepeatFilter;
  /** Log fields naming the connection (peer id, address). */
  context(): LogFields;
}

export interface ConnectionHandler {
  /** A frame other than PING and CLOSE (those are handled here); `kind` is undefined if empty. */
  onFrame(kind: number | undefined, body: Buffer): void;
  /** The peer sent CLOSE: it is closing the connection on purpose. */
  onPeerClose(notice: CloseNotice): void;
  /** Writes may resume (after write() returned false). */
  onDrain?(): void;
  /**
   * The connection is over: its socket closed, or this side closed it on purpose (`deliberate`:
   * close() or reject(); the socket may linger a moment to let the CLOSE out). Called once.
   */
  onClose(how: { notice: CloseNotice | null; deliberate: boolean }): void;
}

export class Connection {
  private readonly decoder: FrameDecoder;
  /** The peer's preamble while incomplete; null once checked. */
  private preambleBytes: Buffer | null = Buffer.alloc(0);
  private lastHeard = performance.now();
  private lastWrote = performance.now();
  private keepalive: NodeJS.Timeout | null = null;
  private grace: NodeJS.Timeout | null = null;
  private closing = false;
  private isEstablished = false;
  private finished = false;
  private deliberate = false;
  private notice: CloseNotice | null = null;

  constructor(
    readonly socket: Socket,
    private readonly cfg: ConnectionConfig,
    private readonly handler: ConnectionHandler,
  ) {
    this.decoder = new FrameDecoder(cfg.maxFrameBytes);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => this.handler.onDrain?.());
    socket.on("error", (err) => cfg.logger.debug({ ...cfg.context(), err }, "connection error"));
    socket.on("close", () => {
      this.noticeTlsPeer();
      this.stopTimers();
      if (this.grace !== null) clearTimeout(this.grace);
      this.finish();
    });
    // Written before the socket connects, Node sends it as soon as it does.
    socket.write(preamble());
  }

  /** Whether this connection is still usable for writing. */
  get usable(): boolean {
    return !this.closing && !this.socket.destroyed && !this.socket.writableEnded;
  }

  /** The handshake is done: start the keepalive and the liveness check. */
  established(): void {
    if (!this.usable || this.isEstablished) return;
    this.isEstablished = true;
    this.lastHeard = performance.now();
    this.keepalive = setInterval(() => this.checkLiveness(), this.cfg.pingIntervalMs);
  }

  /** Frames and writes payloads; false when the socket wants a "drain" before more. */
  write(payloads: readonly Payload[]): boolean {
    if (!this.usable) return false;
    this.lastWrote = performance.now();
    return this.socket.write(encodeFrames(payloads));
  }

  /** Counts and logs a protocol fault, then closes on purpose with it as the reason. */
  reject(reason: RejectReason, error: string, level: "debug" | "info" | "warn" | "error" = "warn") {
    if (!this.usable) return;
    this.cfg.stats.rejected[reason]++;
    this.cfg.logger[level]({ ...this.cfg.context(), reason, error }, "closing connection");
    this.close({ code: reason, reason: error });
  }

  /**
   * Closes on purpose: sends CLOSE, then hangs up once the peer does (or after a grace time).
   * The handler hears of it at once (onClose): the owner may redial without waiting.
   */
  close(notice: CloseNotice): void {
    if (!this.usable) return;
    this.closing = true;
    this.deliberate = true;
    this.stopTimers();
    this.socket.end(encodeFrame(closePayload(notice)));
    this.grace = setTimeout(() => this.socket.destroy(), this.cfg.livenessTimeoutMs);
    this.finish();
  }

  /** Hangs up at once, without a CLOSE (this node is shutting down, or never got an answer). */
  destroy(): void {
    this.stopTimers();
    this.socket.destroy();
  }

  /** Tells the handler, once, that this connection is done with. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onClose({ notice: this.notice, deliberate: this.deliberate });
  }

  private stopTimers(): void {
    if (this.keepalive !== null) clearInterval(this.keepalive);
    this.keepalive = null;
  }

  private checkLiveness(): void {
    const now = performance.now();
    const silent = now - this.lastHeard;
    if (silent > this.cfg.livenessTimeoutMs) {
      this.cfg.stats.livenessTimeouts++;
      const silentMs = Math.round(silent);
      this.cfg.logger.warn({ ...this.cfg.context(), silentMs }, "peer silent: closing connection");
      this.close({ code: "liveness", reason: `nothing received for ${silentMs} ms` });
      return;
    }
    // A socket waiting for "drain" has bytes queued: they prove liveness once they arrive.
    if (now - this.lastWrote >= this.cfg.pingIntervalMs && !this.socket.writableNeedDrain) {
      this.write([PING_PAYLOAD]);
    }
  }

  private onData(chunk: Buffer): void {
    this.lastHeard = performance.now();
    if (this.closing) return;
    let rest = chunk;
    if (this.preambleBytes !== null) {
      const need = PREAMBLE_BYTES - this.preambleBytes.byteLength;
      this.preambleBytes = Buffer.concat([this.preambleBytes, rest.subarray(0, need)]);
      rest = rest.subarray(need);
      if (this.preambleBytes.byteLength < PREAMBLE_BYTES) return;
      if (!this.checkPreamble(this.preambleBytes)) return;
      this.preambleBytes = null;
      if (rest.byteLength === 0) return;
    }
    const r = this.decoder.push(rest);
    if (!r.ok) {
      this.reject(r.reason, r.error);
      return;
    }
    // A handler may close this connection (or the whole transport) mid-chunk: stop then.
    for (const frame of r.frames) {
      if (!this.usable) return;
      this.onFrame(frame);
    }
    // Before the handshake, nobody gets to make us buffer a 16 MiB frame: a handshake is tiny.
    if (!this.isEstablished && this.usable && this.decoder.pendingBytes > MAX_HANDSHAKE_BYTES) {
      this.reject("handshake", `${this.decoder.pendingBytes} bytes buffered without a handshake`);
    }
  }

  private checkPreamble(bytes: Buffer): boolean {
    const v = parsePreamble(bytes);
    const error = !v.ok
      ? v.error
      : v.value !== WIRE_VERSION
        ? `the peer speaks raftwork wire version ${v.value}; this node speaks ${WIRE_VERSION}`
        : null;
    if (error === null) return true;
    this.cfg.stats.rejected.version++;
    const level = this.cfg.refusals.level(`preamble: ${error}`, "error");
    this.cfg.logger[level]({ ...this.cfg.context(), error }, "refusing connection");
    this.deliberate = true;
    this.destroy();
    return false;
  }

  /**
   * A plaintext node talking to a TLS one hears a TLS alert instead of a preamble, shorter than
   * one, and then the hang-up: say what that means instead of failing silently.
   */
  private noticeTlsPeer(): void {
    const b = this.preambleBytes;
    if (b === null || b.byteLength < 2 || !looksLikeTls(b)) return;
    const error = "the peer speaks TLS and this node does not (is TLS configured on every member?)";
    const level = this.cfg.refusals.level(`preamble: ${error}`, "error");
    this.cfg.logger[level]({ ...this.cfg.context(), error }, "refusing connection");
  }

  private onFrame(frame: Buffer): void {
    const kind = frame[0];
    if (kind === KIND_PING) return;
    if (kind === KIND_CLOSE) {
      const n = parseClose(frame.subarray(1));
      this.notice = n.ok ? n.value : { code: "malformed", reason: n.error };
      this.handler.onPeerClose(this.notice);
      this.destroy();
      return;
    }
    this.handler.onFrame(kind, frame.subarray(1));
  }
}
