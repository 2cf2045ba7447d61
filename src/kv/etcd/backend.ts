// What every etcd service needs from the node, in one place: response headers, linearizable
// reads, writes through Raft (a follower's through the leader link), the leader's lease
// operations, and exactly-once sessions from gRPC metadata (README, "etcd compatibility").
//
// Revisions in headers: a read answers with this member's own applied revision; a write with
// the revision its result carries, after this member has applied it too (a forwarded write
// waits for the local apply, so a serializable read on the same member then sees it).
import type { RaftService } from "../../node/api.js";
import { NotLeaderError } from "../../node/errors.js";
import type { NodeId } from "../../raft/types.js";
import type { EtcdCommand, Session } from "../commands.js";
import { encodeCommand } from "../commands.js";
import { MAX_CLIENT_ID_BYTES } from "../contract.js";
import type { StoreResult } from "../mvcc/index.js";
import type { KvResult, KvStateMachine } from "../state-machine.js";
import type { WatchHub } from "../watch/index.js";
import { fromEtcdError, type GrpcError, grpcError, NO_LEADER, Status, TIMEOUT } from "./errors.js";
import { type LeaderLink, pickLeaseId } from "./leader-link.js";
import type { Header } from "./wire.js";

/** How long a member waits to apply, locally, a write the leader applied or a read index. */
const CATCH_UP_MS = 5000;

export interface EtcdBackendOptions {
  service: RaftService;
  sm: KvStateMachine;
  hub: WatchHub;
  link: LeaderLink;
  id: NodeId;
  /** etcd's cluster id: the same on every member, at least 2^60 (0 until this member knows it). */
  clusterId: () => bigint;
  name: string;
  now?: () => number;
}

/** gRPC call metadata, as far as the backend reads it. */
export interface Metadata {
  get(key: string): unknown[];
}

export class EtcdBackend {
  readonly service: RaftService;
  readonly sm: KvStateMachine;
  readonly hub: WatchHub;
  readonly link: LeaderLink;
  readonly id: NodeId;
  readonly clusterId: () => bigint;
  readonly name: string;
  readonly now: () => number;
  /** Waiters for the local store to reach a revision, oldest first. */
  private waiters: { revision: number; resolve: () => void }[] = [];

  constructor(o: EtcdBackendOptions) {
    this.service = o.service;
    this.sm = o.sm;
    this.hub = o.hub;
    this.link = o.link;
    this.id = o.id;
    this.clusterId = o.clusterId;
    this.name = o.name;
    this.now = o.now ?? Date.now;
    const wake = () => this.wake();
    o.sm.store.observe({ changed: wake, restored: wake });
  }

  /** The response header; `revision` defaults to this member's applied store revision. */
  header = (revision?: number): Header => ({
    cluster_id: this.clusterId().toString(),
    member_id: String(this.id),
    revision: String(revision ?? this.sm.revision),
    raft_term: String(this.service.status().term),
  });

  /**
   * Waits until this member's state reflects every write acknowledged before the call
   * (ReadIndex; a follower asks the leader for its revision and waits to apply up to it).
   * Serializable reads skip it.
   */
  async linearize(serializable: boolean): Promise<void> {
    if (serializable) return;
    try {
      await this.service.readBarrier();
    } catch (err) {
      if (!(err instanceof NotLeaderError)) throw err;
      if (err.leader === null || err.leader === this.id)
        throw grpcError(Status.Unavailable, NO_LEADER);
      const { revision } = await this.link.call<{ revision: number }>(err.leader, { kind: "read" });
      await this.caughtUp(revision);
    }
  }

  /** Resolves once the local store is at `revision` or later (rejects after CATCH_UP_MS). */
  caughtUp(revision: number): Promise<void> {
    if (this.sm.revision >= revision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(grpcError(Status.Unavailable, TIMEOUT)), CATCH_UP_MS);
      this.waiters.push({
        revision,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const rev = this.sm.revision;
    const still = [];
    for (const w of this.waiters) {
      if (w.revision <= rev) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /**
   * Proposes an etcd command (through the leader when this member is not it) and answers the
   * store's result, or rejects with a GrpcError (Unavailable: no leader, timed out).
   */
  async propose<T>(cmd: EtcdCommand): Promise<T> {
    const result = await this.proposeRaw(cmd);
    if (result.kind === "stale-request") {
      throw grpcError(
        Status.InvalidArgument,
        `raftwork: stale x-request-id: this client's latest request id is ${result.latest}`,
      );
    }
    if (result.kind !== "etcd")
      throw grpcError(Status.Internal, `raftwork: unexpected result ${result.kind}`);
    const r = result.result as StoreResult<T>;
    if (!r.ok) throw fromEtcdError(r.error);
    const rev = (r.value as { revision?: number }).revision;
    if (typeof rev === "number") await this.caughtUp(rev).catch(() => undefined);
    return r.value;
  }

  private async proposeRaw(cmd: EtcdCommand): Promise<KvResult> {
    // A grant without an id: this member picks one, and the leader picks again if forwarded.
    const pick = cmd.op === "lease-grant" && cmd.id === 0n;
    const local: EtcdCommand = pick ? { ...cmd, id: pickLeaseId(this.sm.store.leases) } : cmd;
    let leader: NodeId | null;
    try {
      return (await this.service.propose(encodeCommand(local))) as KvResult;
    } catch (err) {
      if (!(err instanceof NotLeaderError)) throw err;
      leader = err.leader;
    }
    if (leader === null || leader === this.id) throw grpcError(Status.Unavailable, NO_LEADER);
    const a = await this.link.propose(leader, local, pick);
    if (!a.ok) throw grpcError(Status.Unavailable, a.status === 504 ? TIMEOUT : NO_LEADER);
    return a.result;
  }

  /** The leader this member knows of (this one included), or an Unavailable error. */
  leader(): NodeId {
    const l = this.service.status().leader;
    if (l === null) throw grpcError(Status.Unavailable, NO_LEADER);
    return l;
  }
}

/**
 * The exactly-once extension (README, "etcd compatibility"): gRPC metadata x-client-id and x-request-id make a
 * write a session write, as the native API's headers do. Both or neither; a bad pair is an
 * InvalidArgument error.
 */
export function sessionOf(md: Metadata | undefined): Session | undefined | GrpcError {
  if (md === undefined) return undefined;
  const clientId = md.get("x-client-id")[0];
  const requestId = md.get("x-request-id")[0];
  if (clientId === undefined && requestId === undefined) return undefined;
  const bad = (why: string) => grpcError(Status.InvalidArgument, `raftwork: ${why}`);
  if (typeof clientId !== "string" || typeof requestId !== "string") {
    return bad("x-client-id and x-request-id must be sent together, as text");
  }
  if (clientId === "" || Buffer.byteLength(clientId) > MAX_CLIENT_ID_BYTES) {
    return bad(`x-client-id must be 1..${MAX_CLIENT_ID_BYTES} bytes`);
  }
  const n = Number(requestId);
  if (!/^[1-9][0-9]{0,15}$/.test(requestId) || !Number.isSafeInteger(n)) {
    return bad("x-request-id must be a decimal integer 1..2^53-1");
  }
  return { clientId, requestId: n };
}
