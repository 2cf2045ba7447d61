// Leases (etcd 3.4's lessor, README, "etcd compatibility"), split in two halves:
//
// - Replicated state, changed only by applied log entries on every member alike: which leases
//   exist, their granted TTL, and the keys attached to each. grant() and remove() are called by
//   the MVCC store's apply path; attach()/detach() by its writes. No clock is read: a grant's
//   first deadline comes from the `now` the caller passes, the leader timestamp carried in the
//   log entry.
// - Leader-local state, never replicated nor snapshotted: each lease's deadline. Only the
//   leader ("primary", etcd's word) keeps deadlines. promote() gives every lease a full TTL plus
//   an election timeout (a new leader cannot know how long its predecessor last heard from a
//   client, so it errs long: etcd's Promote(extend)); renew() is a keep-alive (not a write);
//   expired() tells the leader which leases to revoke through Raft. Expiry is thus decided once,
//   by one member, and applied by all as an ordinary revoke.

import { type EtcdError, etcdError } from "../mvcc/errors.js";
import { DeadlineHeap } from "./deadline-heap.js";

/** etcd's MaxLeaseTTL, in seconds. */
export const MAX_LEASE_TTL = 9_000_000_000;
/** How long an expired lease waits before expired() reports it again (etcd: 3 s). */
export const EXPIRED_RETRY_MS = 3000;

/**
 * etcd's minimum lease TTL: 1.5 election timeouts in whole heartbeats, rounded up to seconds
 * (etcdserver: minTTL = (3*electionTicks)/2 * heartbeat). 2 s for raftwork's defaults
 * (1000 ms election timeout, 100 ms heartbeat) as for etcd's. Grants below it are raised to it.
 */
export function minLeaseTtl(electionTimeoutMs: number, heartbeatMs: number): number {
  const ticks = Math.floor(electionTimeoutMs / heartbeatMs);
  return Math.ceil((Math.floor((3 * ticks) / 2) * heartbeatMs) / 1000);
}

export interface Lease {
  readonly id: bigint;
  /** Granted TTL in seconds. */
  readonly ttl: number;
  /** Attached keys (opaque strings to the table: the store's byte strings). */
  readonly keys: Set<string>;
}

interface LeaseRecord extends Lease {
  /** Leader-local: when the lease expires (ms); Infinity on a member that is not primary. */
  deadline: number;
}

export interface TimeToLive {
  id: bigint;
  /** Remaining seconds, truncated like etcd's int64(Remaining().Seconds()). */
  ttl: number;
  grantedTtl: number;
  keys: string[];
}

export type LeaseResult<T> = { ok: true; value: T } | { ok: false; error: EtcdError };

function fail(code: "LeaseNotFound" | "LeaseExist" | "LeaseTTLTooLarge" | "NotPrimary") {
  return { ok: false as const, error: etcdError(code) };
}

export class LeaseTable {
  private leases = new Map<bigint, LeaseRecord>();
  /** Leader-local: the next time to look at each lease (its deadline, or a retry time). */
  private checks = new DeadlineHeap();
  private primary = false;

  /** `minTtl`: seconds; must be the same on every member (it is replicated behaviour). */
  constructor(readonly minTtl = 2) {}

  get size(): number {
    return this.leases.size;
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  get(id: bigint): Lease | undefined {
    return this.leases.get(id);
  }

  /** Every lease id in ascending order. */
  ids(): bigint[] {
    return [...this.leases.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // ---- replicated ----

  /**
   * Applies a grant. The leader chose `id`; `now` is the entry's leader timestamp (ms), used
   * for the lease's first deadline when this member is primary.
   */
  grant(id: bigint, ttl: number, now: number): LeaseResult<Lease> {
    if (id === 0n) return fail("LeaseNotFound"); // etcd's answer to the reserved id 0
    if (ttl > MAX_LEASE_TTL) return fail("LeaseTTLTooLarge");
    if (this.leases.has(id)) return fail("LeaseExist");
    const granted = Math.max(ttl, this.minTtl);
    const rec: LeaseRecord = { id, ttl: granted, keys: new Set(), deadline: Infinity };
    this.leases.set(id, rec);
    if (this.primary) this.schedule(rec, now + granted * 1000);
    return { ok: true, value: rec };
  }

  /** Forgets a lease (the store deletes its keys in the same revision). */
  remove(id: bigint): Lease | undefined {
    const rec = this.leases.get(id);
    if (rec === undefined) return undefined;
    this.leases.delete(id);
    this.checks.delete(id);
    return rec;
  }

  attach(id: bigint, key: string): void {
    const rec = this.leases.get(id);
    if (rec === undefined) throw new Error(`lease ${id} attached to a key but does not exist`);
    rec.keys.add(key);
  }

  detach(id: bigint, key: string): void {
    this.leases.get(id)?.keys.delete(key);
  }

  /** Replaces every lease with `other`'s (snapshot restore); leaves this member not primary. */
  adopt(other: LeaseTable): void {
    this.leases = other.leases;
    other.leases = new Map();
    this.demote();
  }

  // ---- leader-local ----

  /** Becomes primary: every lease gets now + extendMs + its TTL (etcd's Promote). */
  promote(now: number, extendMs: number): void {
    this.primary = true;
    for (const rec of this.leases.values()) this.schedule(rec, now + extendMs + rec.ttl * 1000);
  }

  /** Stops being primary: deadlines are forgotten (the next leader sets its own). */
  demote(): void {
    this.primary = false;
    this.checks.clear();
    for (const rec of this.leases.values()) rec.deadline = Infinity;
  }

  /**
   * A keep-alive: the lease lives for its full TTL from `now`. Answers the TTL in seconds.
   * A lease already past its deadline is as good as revoked (its revoke is on the way) and
   * answers LeaseNotFound, as etcd does once the revoke lands.
   */
  renew(id: bigint, now: number): LeaseResult<number> {
    if (!this.primary) return fail("NotPrimary");
    const rec = this.leases.get(id);
    if (rec === undefined || rec.deadline <= now) return fail("LeaseNotFound");
    this.schedule(rec, now + rec.ttl * 1000);
    return { ok: true, value: rec.ttl };
  }

  /** TTL left and attached keys (sorted); undefined for an unknown lease. */
  timeToLive(id: bigint, now: number): TimeToLive | undefined {
    const rec = this.leases.get(id);
    if (rec === undefined) return undefined;
    const ttl = Number.isFinite(rec.deadline) ? Math.trunc((rec.deadline - now) / 1000) : rec.ttl;
    return { id, ttl, grantedTtl: rec.ttl, keys: [...rec.keys].sort() };
  }

  /**
   * Up to `limit` leases past their deadline at `now`, earliest first, for the leader to
   * propose their revocation. Each one reported is not reported again before now + retryMs,
   * so a revoke lost with a proposal is retried, not duplicated. Empty unless primary.
   */
  expired(now: number, limit: number, retryMs = EXPIRED_RETRY_MS): bigint[] {
    const out: bigint[] = [];
    if (!this.primary) return out;
    for (;;) {
      const top = this.checks.peek();
      if (top === undefined || top.deadline > now || out.length >= limit) return out;
      const rec = this.leases.get(top.id) as LeaseRecord;
      if (rec.deadline <= now) {
        out.push(rec.id);
        this.checks.set(rec.id, now + retryMs);
      } else {
        this.checks.set(rec.id, rec.deadline);
      }
    }
  }

  private schedule(rec: LeaseRecord, deadline: number): void {
    rec.deadline = deadline;
    this.checks.set(rec.id, deadline);
  }
}
