// gRPC errors of the etcd API: etcd 3.4's codes and exact messages (etcd's
// etcdserver/api/v3rpc/rpctypes/error.go), which clients match on: clientv3 retries on
// Unavailable, the etcd3 npm client maps messages to error classes.
import { NoSpaceAlarmError } from "../../node/disk-health.js";
import {
  LeadershipLostError,
  NotLeaderError,
  ProposalTimeoutError,
  StoppedError,
} from "../../node/errors.js";
import { type EtcdError, GrpcStatus } from "../mvcc/index.js";

/** gRPC status codes beyond those the store answers with (mvcc/errors.ts). */
export const Status = {
  ...GrpcStatus,
  Cancelled: 1,
  Unknown: 2,
  ResourceExhausted: 8,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
} as const;

/** What grpc-js sends for a failed call: `code` and `details` (the message clients see). */
export interface GrpcError extends Error {
  code: number;
  details: string;
}

export function grpcError(code: number, message: string): GrpcError {
  return Object.assign(new Error(message), { code, details: message });
}

export function fromEtcdError(e: EtcdError): GrpcError {
  return grpcError(e.status, e.message);
}

export const NO_LEADER = "etcdserver: no leader";
export const TIMEOUT = "etcdserver: request timed out";
export const LEADER_CHANGED = "etcdserver: leader changed";
export const STOPPED = "etcdserver: server stopped";
/** etcd's answer to a write while the NOSPACE alarm is raised (ErrGRPCNoSpace). */
export const NO_SPACE = "etcdserver: mvcc: database space exceeded";

/**
 * A RaftService or leader-link failure as etcd reports it. Every one is Unavailable: a client
 * retries, and (as with etcd's own "request timed out") a write that timed out may have been
 * applied. The exception is a write refused by a member whose disk is full: etcd's
 * ResourceExhausted "database space exceeded" (certainly not applied).
 */
export function fromServiceError(err: unknown): GrpcError {
  if (isGrpcError(err)) return err;
  if (err instanceof NoSpaceAlarmError) return grpcError(Status.ResourceExhausted, NO_SPACE);
  if (err instanceof NotLeaderError) return grpcError(Status.Unavailable, NO_LEADER);
  if (err instanceof ProposalTimeoutError) return grpcError(Status.Unavailable, TIMEOUT);
  if (err instanceof LeadershipLostError) return grpcError(Status.Unavailable, LEADER_CHANGED);
  if (err instanceof StoppedError) return grpcError(Status.Unavailable, STOPPED);
  const message = err instanceof Error ? err.message : String(err);
  return grpcError(Status.Unknown, `raftwork: ${message}`);
}

export function isGrpcError(err: unknown): err is GrpcError {
  return err instanceof Error && typeof (err as Partial<GrpcError>).code === "number";
}
