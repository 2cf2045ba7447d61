// What TcpTransport reports: counters (the node runtime exports them as metrics). Logs go to
// the shared Logger (src/util/logger.ts).

/** Why this node closed a connection (either direction) on purpose, after a protocol fault. */
export type RejectReason =
  /** A frame declared a length above maxFrameBytes (or garbage that reads as one). */
  | "oversized"
  /** A frame failed its header or payload checksum (framing.ts). */
  | "checksum"
  /** The peer is not a raftwork node, or speaks another wire version (wire.ts preamble). */
  | "version"
  /** A frame that is not a valid record here (empty, unknown kind, a second handshake). */
  | "malformed"
  /** The handshake was missing, invalid or late. */
  | "handshake"
  /** The handshake named a node that is not a configured peer, or not the one dialed. */
  | "unknown-peer"
  /** The handshake carried another cluster's id. */
  | "cluster"
  /** The handshake named a node this one removed from the configuration (it applied that). */
  | "removed"
  /** A message that failed decoding or validation (codec.ts). */
  | "invalid-message"
  /** A message addressed to another node. */
  | "wrong-to"
  /** A message whose `from` is not the node that shook hands on this connection. */
  | "wrong-from"
  /** Snapshot chunks out of sequence or above maxSnapshotBytes. */
  | "bad-chunk";

export const REJECT_REASONS: readonly RejectReason[] = [
  "oversized",
  "checksum",
  "version",
  "malformed",
  "handshake",
  "unknown-peer",
  "cluster",
  "removed",
  "invalid-message",
  "wrong-to",
  "wrong-from",
  "bad-chunk",
];

export interface TransportStats {
  /** Messages handed to a socket. */
  sent: number;
  /** Messages dropped by send(): full queue, unknown or self destination, closed transport,
   * unencodable or too large, or lost with a broken connection mid-snapshot. */
  dropped: number;
  /** Messages delivered to onMessage handlers. */
  received: number;
  /** Outbound connections established (handshake answered), the first one to each peer too. */
  connects: number;
  /** Outbound connection attempts that failed or connections that broke. */
  disconnects: number;
  /** Connections (either direction) closed because nothing arrived for livenessTimeoutMs. */
  livenessTimeouts: number;
  /** Outbound attempts abandoned because no handshake answer came within connectTimeoutMs. */
  connectTimeouts: number;
  /** Outbound handshakes the peer refused (it sent CLOSE instead of WELCOME). */
  refusedByPeer: number;
  /** Connections closed by this node, by reason. */
  rejected: Record<RejectReason, number>;
}

export function emptyStats(): TransportStats {
  const rejected = {} as Record<RejectReason, number>;
  for (const r of REJECT_REASONS) rejected[r] = 0;
  return {
    sent: 0,
    dropped: 0,
    received: 0,
    connects: 0,
    disconnects: 0,
    livenessTimeouts: 0,
    connectTimeouts: 0,
    refusedByPeer: 0,
    rejected,
  };
}

// Shared with the client-facing TLS ports (src/util/tls.ts).
export { RepeatFilter } from "../util/repeat-filter.js";
