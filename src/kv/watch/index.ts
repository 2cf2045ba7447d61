// The watch hub: etcd's watch semantics over the MVCC store's applied changes (see hub.ts).
export {
  CancelReason,
  STREAM_WATCH_ID,
  WatchFilter,
  WatchHub,
  type WatchHubOptions,
  type WatchRequest,
  type WatchResponse,
  WatchStream,
} from "./hub.js";
