// The KV client's public surface (`raftwork/kv`): KvClient and its results and errors. It needs
// no dependency beyond Node. The server side is `raftwork/kv/server` (src/kv/server/index.ts).
export {
  type CasResult,
  type GetResult,
  KvClient,
  type KvClientOptions,
  KvConfigError,
  KvRequestError,
  KvUnavailableError,
  type ListEntry,
  type ListOptions,
  type ListPage,
  type NodeStatusResult,
} from "./client.js";
export {
  LIST_DEFAULT_LIMIT,
  LIST_MAX_LIMIT,
  MAX_CLIENT_ID_BYTES,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
} from "./contract.js";
