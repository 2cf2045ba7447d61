// What TcpTransport reports: counters (the node runtime exports them as metrics) and logs.

/** Why an inbound connection was closed by this node. */
export type RejectReason =
  /** A frame declared a length above maxFrameBytes (or garbage that reads as one). */
  | "oversized"
  /** A frame that is not a valid wire record (empty, unknown kind, a second handshake). */
  | "malformed"
  /** The first frame was not a valid handshake, or none arrived in time. */
  | "handshake"
  /** The handshake named a node that is not a configured peer. */
  | "unknown-peer"
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
  "malformed",
  "handshake",
  "unknown-peer",
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
  /** Outbound connections established (the first one to each peer included). */
  connects: number;
  /** Outbound connection attempts that failed or connections that broke. */
  disconnects: number;
  /** Inbound connections closed by this node, by reason. */
  rejected: Record<RejectReason, number>;
}

export function emptyStats(): TransportStats {
  const rejected = {} as Record<RejectReason, number>;
  for (const r of REJECT_REASONS) rejected[r] = 0;
  return { sent: 0, dropped: 0, received: 0, connects: 0, disconnects: 0, rejected };
}

/** The subset of a pino logger the transport uses (pino's Logger satisfies it). */
export interface TransportLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: TransportLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
