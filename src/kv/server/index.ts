// The KV server's public surface (`raftwork/kv/server`): the replicated state machine, its HTTP
// API and metrics, and serveNode, the whole `kv serve` process. Needs the optional peer
// dependencies zod (the HTTP API), prom-client (metrics) and pino (serveNode's logs).
export {
  createKvHttpHandler,
  createKvHttpServer,
  type KvHttpHandler,
  type KvHttpOptions,
  type KvHttpServer,
} from "../http-api.js";
export { createKvMetrics, type KvMetrics } from "../metrics.js";
export {
  type KvResult,
  KvSnapshotError,
  KvStateMachine,
  SESSION_TTL_MS,
} from "../state-machine.js";
export { claimDataDir, clusterFingerprint, type Member, readIdentity } from "./data-dir.js";
export { type ServeOptions, serveNode } from "./serve.js";
export { SERVE_V8_FLAGS } from "./v8-flags.js";
