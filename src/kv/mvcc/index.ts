// The MVCC store behind the etcd v3 API: revisions, history, compaction, transactions,
// leases' replicated half, and snapshots in slices. Pure: no I/O, no clock.
export { type EtcdError, type EtcdErrorCode, etcdError, GrpcStatus } from "./errors.js";
export { type ByteString, fromByteString, keyRange, prefixEnd, toByteString } from "./keys.js";
export {
  restoreSnapshot,
  SnapshotAbortedError,
  SnapshotFormatError,
  type SnapshotOptions,
  SnapshotReader,
  snapshotChunks,
} from "./snapshot.js";
export {
  type MvccOptions,
  MvccStore,
  RevisionChanges,
  type StoreObserver,
  type StoreResult,
} from "./store.js";
export {
  checkDeleteRange,
  checkPut,
  checkRange,
  checkTxn,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_MAX_TXN_OPS,
  isReadOnlyTxn,
  putBytes,
  txnBytes,
} from "./txn-check.js";
export * from "./types.js";
