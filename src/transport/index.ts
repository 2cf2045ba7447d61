// The transport module's public surface.
export { decodeMessage, encodeMessage, type Result, validateMessage } from "./codec.js";
export {
  type DecodeResult,
  encodeFrame,
  encodeFrames,
  FrameDecoder,
  type Payload,
} from "./framing.js";
export type { RejectReason, TransportLogger, TransportStats } from "./instrumentation.js";
export { type HostPort, TcpTransport, type TcpTransportOptions } from "./tcp-transport.js";
export type { Transport } from "./transport.js";
