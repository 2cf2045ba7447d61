// The KV store's public surface: the replicated state machine, its HTTP API, metrics, and the
// client. The command encoding and the sorted key index are internals.
export {
  type CasResult,
  type GetResult,
  KvClient,
  type KvClientOptions,
  KvRequestError,
  KvUnavailableError,
  type ListEntry,
  type NodeStatusResult,
} from "./client.js";
export {
  createKvHttpHandler,
  createKvHttpServer,
  type KvHttpHandler,
  type KvHttpOptions,
  type KvHttpServer,
} from "./http-api.js";
export { createKvMetrics, type KvMetrics, type NodeMetrics } from "./metrics.js";
export { type KvResult, KvStateMachine, MAX_VALUE_BYTES, SESSION_TTL_MS } from "./state-machine.js";
