// The transport module's public surface.
export { CLUSTER_ID_MIN, isClusterId, newClusterId } from "./cluster-id.js";
export { decodeMessage, encodeMessage, type Result, validateMessage } from "./codec.js";
export {
  type DecodeResult,
  decodeFrame,
  encodeFrame,
  encodeFrames,
  FrameDecoder,
  type Payload,
} from "./framing.js";
export type { RejectReason, TransportStats } from "./instrumentation.js";
export { type LinkTiming, linkTimingFor } from "./link-timing.js";
export { type HostPort, TcpTransport, type TcpTransportOptions } from "./tcp-transport.js";
export type { PeerUpdates, Transport } from "./transport.js";
export {
  type Advertised,
  decodeMessageFrame,
  encodeMessageFrame,
  type Handshake,
  WIRE_VERSION,
} from "./wire.js";
