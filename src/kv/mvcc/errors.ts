// The errors the MVCC store, the lease table and the watch hub answer with: etcd 3.4's exact
// messages and gRPC status codes (etcd's etcdserver/api/v3rpc/rpctypes/error.go), because
// clients match on the text (README, "etcd compatibility"). They are values, never
// thrown: a request that fails changes nothing, on every member alike.

/** gRPC status codes used below (grpc/status codes). */
export const GrpcStatus = {
  InvalidArgument: 3,
  NotFound: 5,
  FailedPrecondition: 9,
  ResourceExhausted: 8,
  OutOfRange: 11,
} as const;

const DEFS = {
  EmptyKey: [GrpcStatus.InvalidArgument, "etcdserver: key is not provided"],
  KeyNotFound: [GrpcStatus.InvalidArgument, "etcdserver: key not found"],
  ValueProvided: [GrpcStatus.InvalidArgument, "etcdserver: value is provided"],
  LeaseProvided: [GrpcStatus.InvalidArgument, "etcdserver: lease is provided"],
  TooManyOps: [GrpcStatus.InvalidArgument, "etcdserver: too many operations in txn request"],
  DuplicateKey: [GrpcStatus.InvalidArgument, "etcdserver: duplicate key given in txn request"],
  RequestTooLarge: [GrpcStatus.InvalidArgument, "etcdserver: request is too large"],
  Compacted: [GrpcStatus.OutOfRange, "etcdserver: mvcc: required revision has been compacted"],
  FutureRev: [GrpcStatus.OutOfRange, "etcdserver: mvcc: required revision is a future revision"],
  LeaseNotFound: [GrpcStatus.NotFound, "etcdserver: requested lease not found"],
  LeaseExist: [GrpcStatus.FailedPrecondition, "etcdserver: lease already exists"],
  LeaseTTLTooLarge: [GrpcStatus.OutOfRange, "etcdserver: too large lease TTL"],
  /** Not an etcd client error: a lease operation reached a member that is not the leader. */
  NotPrimary: [GrpcStatus.FailedPrecondition, "etcdserver: not leader"],
} as const satisfies Record<string, readonly [number, string]>;

export type EtcdErrorCode = keyof typeof DEFS;

export interface EtcdError {
  readonly code: EtcdErrorCode;
  /** etcd's exact message. */
  readonly message: string;
  /** The gRPC status code etcd answers with. */
  readonly status: number;
}

const ERRORS = Object.fromEntries(
  Object.entries(DEFS).map(([code, [status, message]]) => [
    code,
    Object.freeze({ code, message, status }),
  ]),
) as { readonly [C in EtcdErrorCode]: EtcdError };

/** The shared, frozen error value for `code`. */
export function etcdError(code: EtcdErrorCode): EtcdError {
  return ERRORS[code];
}
