// The inbound half of TcpTransport: one accepted connection. It expects a handshake first and
// answers it (WELCOME, or CLOSE with the reason it is refused), then delivers messages (or
// snapshot chunks) from the node that shook hands: only messages that decoded and validated
// completely and are addressed to this node. Anything else closes the connection (the stream
// can no longer be trusted) and is counted; the node and its other connections carry on.

import type { Socket } from "node:net";
import type { Message, NodeId } from "../raft/types.js";
import type { Logger } from "../util/logger.js";
import type { Result } from "../util/result.js";
import { decodeMessage } from "./codec.js";
import { Connection } from "./connection.js";
import type { RejectReason, RepeatFilter, TransportStats } from "./instrumentation.js";
import {
  ChunkAssembler,
  type CloseNotice,
  type Handshake,
  handshakePayload,
  KIND_CHUNK,
  KIND_HELLO,
  KIND_MSG,
  KIND_WELCOME,
  parseChunk,
  parseHandshake,
  REMOVED,
} from "./wire.js";

export interface InboundConfig {
  /** This node's handshake, for the WELCOME (read when answering). */
  self(): Handshake;
  maxFrameBytes: number;
  maxSnapshotBytes: number;
  handshakeTimeoutMs: number;
  pingIntervalMs: number;
  livenessTimeoutMs: number;
  stats: TransportStats;
  logger: Logger;
  /** Checks a HELLO; an error refuses the connection with that reason. */
  admit(h: Handshake): Result<void, { reason: RejectReason; error: string }>;
  /** Rate-limits the log lines of refusals (a refused peer keeps redialing). */
  refusals: RepeatFilter;
  /** A peer shook hands on this connection. */
  accepted(h: Handshake, conn: Inbound): void;
  deliver(m: Message): void;
  /** The peer that shook hands closed the connection saying this node is no longer its peer. */
  removedBy(id: NodeId): void;
  /** The connection from a peer that had shaken hands closed. `lost`: without a CLOSE either way. */
  closed(id: NodeId, conn: Inbound, lost: boolean): void;
}

/** What the transport holds of an accepted connection. */
export interface Inbound {
  /** Closes on purpose (superseded, peer removed): the peer will not report this node lost. */
  close(notice: CloseNotice): void;
}

export function acceptInbound(socket: Socket, cfg: InboundConfig): void {
  const snapshots = new ChunkAssembler(cfg.maxSnapshotBytes);
  const remote = `${socket.remoteAddress}:${socket.remotePort}`;
  let peer: NodeId | null = null;
  let handshakeTimer: NodeJS.Timeout | undefined;
  const handle: Inbound = { close: (notice) => conn.close(notice) };

  /** Checks a decoded message against this connection; delivers it or rejects. */
  const accept = (r: Result<Message>, from: NodeId): void => {
    if (!r.ok) conn.reject("invalid-message", r.error);
    else if (r.value.to !== cfg.self().id)
      conn.reject("wrong-to", `message for node ${r.value.to}`);
    else if (r.value.from !== from) conn.reject("wrong-from", `message from ${r.value.from}`);
    else cfg.deliver(r.value);
  };

  const onHello = (kind: number | undefined, body: Buffer): void => {
    if (kind !== KIND_HELLO) {
      conn.reject("handshake", "the first frame must be a handshake");
      return;
    }
    const h = parseHandshake(body);
    if (!h.ok) {
      conn.reject("handshake", h.error);
      return;
    }
    const admitted = cfg.admit(h.value);
    if (!admitted.ok) {
      // Another cluster's node needs an operator; a node not yet added is routine in a join.
      const { reason, error } = admitted.error;
      const level = cfg.refusals.level(error, reason === "unknown-peer" ? "info" : "error");
      conn.reject(reason, error, level);
      return;
    }
    peer = h.value.id;
    clearTimeout(handshakeTimer);
    conn.write([handshakePayload(KIND_WELCOME, cfg.self())]);
    conn.established();
    cfg.accepted(h.value, handle);
  };

  const onFrame = (kind: number | undefined, body: Buffer): void => {
    if (peer === null) {
      onHello(kind, body);
      return;
    }
    if (kind === KIND_MSG) {
      accept(decodeMessage(body), peer);
      return;
    }
    if (kind !== KIND_CHUNK) {
      conn.reject("malformed", `unexpected frame kind ${kind ?? "(empty frame)"}`);
      return;
    }
    const c = parseChunk(body);
    const whole = c.ok ? snapshots.push(c.value) : c;
    if (!whole.ok) {
      conn.reject("bad-chunk", whole.error);
      return;
    }
    if (whole.value === null) return;
    const m = decodeMessage(whole.value);
    if (m.ok && m.value.type !== "snap") {
      conn.reject("invalid-message", `chunks carried a "${m.value.type}" message`);
      return;
    }
    accept(m, peer);
  };

  const conn: Connection = new Connection(
    socket,
    { ...cfg, context: () => ({ remote, peer, dir: "in" }) },
    {
      onFrame,
      onPeerClose: (notice) => {
        cfg.logger.debug({ remote, peer, ...notice }, "peer closed");
        if (peer !== null && notice.code === REMOVED) cfg.removedBy(peer);
      },
      onClose: (how) => {
        clearTimeout(handshakeTimer);
        if (peer !== null) cfg.closed(peer, handle, !how.deliberate && how.notice === null);
      },
    },
  );
  handshakeTimer = setTimeout(() => {
    conn.reject("handshake", `no handshake within ${cfg.handshakeTimeoutMs} ms`);
  }, cfg.handshakeTimeoutMs);
}
