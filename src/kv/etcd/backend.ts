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
import { type AuthErrorCode, AuthGate, authError, type Need } from "../auth/index.js";
import type { EtcdCommand, Session } from "../commands.js";
import { encodeCommand } from "../commands.js";
import { MAX_CLIENT_ID_BYTES } from "../contract.js";
import { etcdError, type StoreResult } from "../mvcc/index.js";
import type { KvResult, KvStateMachine } from "../state-machine.js";
import type { WatchHub } from "../watch/index.js";
import {
  fromEtcdError,
  type GrpcError,
  grpcError,
  isGrpcError,
  NO_LEADER,
  Status,
  TIMEOUT,
} from "./errors.js";
import { type LeaderLink, pickLeaseId } from "./leader-link.js";
import type { Header } from "./wire.js";

export const BEHIND_FULL_DISK =
  "raftwork: this member's disk is full (NOSPACE alarm) and it is behind the leader: ask " +
  "another member for a linearizable read, or read serializable here";

/** How long a member waits to apply, locally, a write the leader applied or a read index. */
const CATCH_UP_MS = 5000;
/** How often atLeader() asks again while the leader cannot answer (etcd's LeaseRenew: 50 ms). */
const LEADER_RETRY_MS = 50;

/**
 * etcd's request timeout (etcdserver ServerConfig.ReqTimeout): 5 s plus two election timeouts,
 * the time a request may wait for a leader to be elected and answer.
 */
export function requestTimeoutMs(electionTimeoutMs: number): number {
  return 5000 + 2 * electionTimeoutMs;
}

export interface EtcdBackendOptions {
  service: RaftService;
  sm: KvStateMachine;
  hub: WatchHub;
  link: LeaderLink;
  id: NodeId;
  /**
   * etcd's cluster id (the same on every member, at least 2^60), read for every header, so an
   * id the member learns or adopts later shows at once. The one place headers get it from.
   */
  clusterId: () => bigint;
  name: string;
  /** Sets the request timeout (requestTimeoutMs); default 1 s. */
  electionTimeoutMs?: number;
  now?: () => number;
  /** The node's auth gate (shared with the HTTP API); default: one over sm.auth. */
  gate?: AuthGate;
}

/** Who a call comes from: the user its token names and the token, to forward with it. */
export interface Caller {
  user?: string;
  token?: string;
}

/** An auth refusal as etcd answers it. */
export function authGrpcError(code: AuthErrorCode): GrpcError {
  const e = authError(code);
  return grpcError(e.grpc, e.message);
}

interface ReadBatch {
  promise: Promise<number>;
  resolve(revision: number): void;
  reject(err: unknown): void;
}

interface ReadRound {
  inFlight: boolean;
  next: ReadBatch | null;
}

function readBatch(): ReadBatch {
  let resolve!: (revision: number) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
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
  readonly requestTimeoutMs: number;
  /** Followers' read-index calls per leader: the one in flight and the reads for the next. */
  private readonly readRounds = new Map<NodeId, ReadRound>();
  readonly gate: AuthGate;
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
    this.requestTimeoutMs = requestTimeoutMs(o.electionTimeoutMs ?? 1000);
    this.gate = o.gate ?? new AuthGate({ store: o.sm.auth });
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
      const revision = await this.leaderRevision(err.leader);
      // A member whose disk is full applies nothing new until space returns: say so at once,
      // so the client asks another member instead of waiting out CATCH_UP_MS.
      if (this.sm.revision < revision && (this.service.status().alarms?.length ?? 0) > 0) {
        throw grpcError(Status.Unavailable, BEHIND_FULL_DISK);
      }
      await this.caughtUp(revision);
    }
  }

  /**
   * The leader's revision once a read barrier passed there that started after this call: the
   * ReadIndex of a follower's linearizable read. Reads share one link call per round trip
   * (each read would otherwise cost the follower an HTTP request and the leader a barrier
   * round: bench/RESULTS.md, "gRPC profile"). A call already in flight may have passed its
   * barrier before this read arrived, so a read joins the next call, sent when that one ends.
   */
  private leaderRevision(leader: NodeId): Promise<number> {
    let round = this.readRounds.get(leader);
    if (round === undefined) {
      round = { inFlight: false, next: null };
      this.readRounds.set(leader, round);
    }
    round.next ??= readBatch();
    const answer = round.next.promise;
    if (!round.inFlight) this.sendReadRound(leader, round);
    return answer;
  }

  private sendReadRound(leader: NodeId, round: ReadRound): void {
    const batch = round.next;
    if (batch === null) {
      this.readRounds.delete(leader);
      return;
    }
    round.next = null;
    round.inFlight = true;
    this.link.call<{ revision: number }>(leader, { kind: "read" }).then(
      (r) => {
        round.inFlight = false;
        batch.resolve(r.revision);
        this.sendReadRound(leader, round);
      },
      (err: unknown) => {
        round.inFlight = false;
        batch.reject(err);
        this.sendReadRound(leader, round);
      },
    );
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
   * The caller of a call with metadata `md` (etcd's `token` key). Throws etcd's
   * "invalid auth token" for a bad one; no user while auth is off or no token was sent.
   */
  caller(md: Metadata | undefined): Caller {
    const token = tokenOf(md);
    const r = this.gate.identify(token);
    if (!r.ok) throw authGrpcError(r.error);
    return r.value === undefined ? {} : { user: r.value, token: token as string };
  }

  /**
   * The caller, if it may make a request touching `needs` (computed only while auth is on:
   * the hot path of a cluster without auth pays nothing); throws etcd's error if not.
   */
  authorize(md: Metadata | undefined, needs: () => readonly Need[]): Caller {
    if (!this.gate.enabled) return {};
    const c = this.caller(md);
    const e = this.gate.check(c.user, needs());
    if (e !== null) throw authGrpcError(e);
    return c;
  }

  /** The caller, if it holds the root role (or auth is off). */
  authorizeAdmin(md: Metadata | undefined): Caller {
    if (!this.gate.enabled) return {};
    const c = this.caller(md);
    const e = this.gate.checkAdmin(c.user);
    if (e !== null) throw authGrpcError(e);
    return c;
  }

  /** The caller, if it is a known user (or auth is off). */
  authorizeUser(md: Metadata | undefined): Caller {
    if (!this.gate.enabled) return {};
    const c = this.caller(md);
    const e = this.gate.checkUser(c.user);
    if (e !== null) throw authGrpcError(e);
    return c;
  }

  /**
   * Proposes an etcd command (through the leader when this member is not it) and answers the
   * store's result, or rejects with a GrpcError (Unavailable: no leader, timed out). `caller`
   * (from authorize*()) goes in the command, and its token with a forwarded one: the leader
   * names the user from the token itself, never from the follower's word.
   */
  async propose<T>(cmd: EtcdCommand, caller: Caller = {}): Promise<T> {
    if (caller.user !== undefined) cmd.user = caller.user;
    const result = await this.proposeRaw(cmd, caller.token);
    if (result.kind === "auth") throw authGrpcError(result.error);
    // Auth management commands answer the store revision alone.
    if (result.kind === "ok") return { revision: result.revision } as T;
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

  private async proposeRaw(cmd: EtcdCommand, token: string | undefined): Promise<KvResult> {
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
    const a = await this.link.propose(leader, local, pick, token);
    if (!a.ok) throw grpcError(Status.Unavailable, a.status === 504 ? TIMEOUT : NO_LEADER);
    return a.result;
  }

  /**
   * Runs `fn` with the leader this member knows of, the way etcd's LeaseRenew does: while there
   * is none, or it cannot answer yet (unreachable, or just elected and its lease deadlines not
   * yet taken over: `fn` rejects with a retryable error), asks again every 50 ms until the
   * request timeout, then fails with etcd's "request timed out". `fn` gets the time left, to
   * bound its own wait. `alive`: stop early (the client went away).
   */
  async atLeader<T>(
    fn: (leader: NodeId, timeoutMs: number) => Promise<T>,
    alive: () => boolean = () => true,
  ): Promise<T> {
    const deadline = performance.now() + this.requestTimeoutMs;
    for (;;) {
      const leader = this.service.status().leader;
      if (leader !== null) {
        try {
          return await fn(leader, Math.max(1, deadline - performance.now()));
        } catch (err) {
          if (!retryableAtLeader(err)) throw err;
        }
      }
      if (!alive()) throw grpcError(Status.Cancelled, "context canceled");
      if (performance.now() + LEADER_RETRY_MS >= deadline)
        throw grpcError(Status.Unavailable, TIMEOUT);
      await new Promise((resolve) => setTimeout(resolve, LEADER_RETRY_MS));
    }
  }

  /** The leader this member knows of (this one included), or an Unavailable error. */
  leader(): NodeId {
    const l = this.service.status().leader;
    if (l === null) throw grpcError(Status.Unavailable, NO_LEADER);
    return l;
  }
}

const NOT_PRIMARY = etcdError("NotPrimary").message;

/**
 * Whether atLeader() should ask again: the leader was unreachable or gone (Unavailable), or
 * is not primary for leases yet (the lease keeper promotes it within its check interval).
 */
function retryableAtLeader(err: unknown): boolean {
  if (!isGrpcError(err)) return err instanceof NotLeaderError;
  return err.code === Status.Unavailable || err.details === NOT_PRIMARY;
}

/** The call's auth token: etcd's `token` metadata, or `authorization` as its gateway sends it. */
export function tokenOf(md: Metadata | undefined): string | undefined {
  const raw = md?.get("token")[0] ?? md?.get("authorization")[0];
  return typeof raw === "string" ? raw : undefined;
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
