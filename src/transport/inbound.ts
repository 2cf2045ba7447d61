// The inbound half of TcpTransport: one accepted connection. It reads frames, expects a
// handshake first, then messages (or snapshot chunks) from the node that shook hands, and
// delivers only messages that decoded and validated completely and are addressed to this node.
// Anything else closes the connection (the stream can no longer be trusted) and is counted;
// the node and its other connections carry on.

import type { Socket } from "node:net";
import type { Message, NodeId } from "../raft/types.js";
import { decodeMessage, type Result } from "./codec.js";
import { FrameDecoder } from "./framing.js";
import type { RejectReason, TransportLogger, TransportStats } from "./instrumentation.js";
import {
  ChunkAssembler,
  type Handshake,
  KIND_CHUNK,
  KIND_HELLO,
  KIND_MSG,
  parseChunk,
  parseHello,
} from "./wire.js";

export interface InboundConfig {
  self: NodeId;
  isPeer(id: NodeId): boolean;
  maxFrameBytes: number;
  maxSnapshotBytes: number;
  handshakeTimeoutMs: number;
  stats: TransportStats;
  logger: TransportLogger;
  onHandshake(h: Handshake): void;
  deliver(m: Message): void;
  /** The connection from a peer that had shaken hands closed. */
  lost(id: NodeId): void;
}

/** Far above any valid hello (wire.ts bounds its metadata), far below a frame limit. */
const MAX_HELLO_FRAME_BYTES = 256 * 1024;

export function acceptInbound(socket: Socket, cfg: InboundConfig): void {
  const decoder = new FrameDecoder(cfg.maxFrameBytes);
  const snapshots = new ChunkAssembler(cfg.maxSnapshotBytes);
  const remote = `${socket.remoteAddress}:${socket.remotePort}`;
  let peer: NodeId | null = null;

  const reject = (reason: RejectReason, error: string): void => {
    cfg.stats.rejected[reason]++;
    cfg.logger.warn({ remote, peer, reason, error }, "closing inbound connection");
    socket.destroy();
  };

  /** Checks a decoded message against this connection; delivers it or rejects. */
  const accept = (r: Result<Message>, from: NodeId): boolean => {
    if (!r.ok) reject("invalid-message", r.error);
    else if (r.value.to !== cfg.self) reject("wrong-to", `message for node ${r.value.to}`);
    else if (r.value.from !== from) reject("wrong-from", `message from ${r.value.from}`);
    else {
      cfg.deliver(r.value);
      return true;
    }
    return false;
  };

  /** Handles one frame; false once the connection was rejected. */
  const onFrame = (frame: Buffer): boolean => {
    const kind = frame[0];
    const body = frame.subarray(1);
    if (peer === null) {
      if (kind !== KIND_HELLO) {
        reject("handshake", "the first frame must be a handshake");
        return false;
      }
      const h = parseHello(body);
      if (!h.ok) reject("handshake", h.error);
      else if (h.value.id === cfg.self || !cfg.isPeer(h.value.id)) {
        reject("unknown-peer", `node ${h.value.id} is not a peer`);
      } else {
        peer = h.value.id;
        socket.setTimeout(0);
        cfg.onHandshake(h.value);
        return true;
      }
      return false;
    }
    if (kind === KIND_MSG) return accept(decodeMessage(body), peer);
    if (kind === KIND_CHUNK) {
      const c = parseChunk(body);
      const whole = c.ok ? snapshots.push(c.value) : c;
      if (!whole.ok) {
        reject("bad-chunk", whole.error);
        return false;
      }
      if (whole.value === null) return true;
      const m = decodeMessage(whole.value);
      if (m.ok && m.value.type !== "snap") {
        reject("invalid-message", `chunks carried a "${m.value.type}" message`);
        return false;
      }
      return accept(m, peer);
    }
    reject("malformed", `unexpected frame kind ${kind ?? "(empty frame)"}`);
    return false;
  };

  socket.setTimeout(cfg.handshakeTimeoutMs, () => {
    reject("handshake", `no handshake within ${cfg.handshakeTimeoutMs} ms`);
  });
  socket.on("data", (chunk: Buffer) => {
    const r = decoder.push(chunk);
    if (!r.ok) return reject("oversized", r.error);
    // A handler may close the transport (and this socket) mid-chunk: stop delivering then.
    for (const frame of r.frames) if (socket.destroyed || !onFrame(frame)) return;
    // Before the handshake, nobody gets to make us buffer a 16 MiB frame: a hello is tiny.
    if (peer === null && decoder.pendingBytes > MAX_HELLO_FRAME_BYTES) {
      reject("handshake", `${decoder.pendingBytes} bytes buffered without a handshake`);
    }
  });
  socket.on("error", (err) =>
    cfg.logger.debug({ remote, peer, err: err.message }, "inbound error"),
  );
  socket.on("close", () => {
    if (peer !== null) cfg.lost(peer);
  });
}
