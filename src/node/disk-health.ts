// DiskHealth: what a node does when its own disk is full or slow (docs/architecture.md, "Disk
// faults: full and slow disks"; the design's "Disk faults"). RaftNode runs every storage
// operation that may wait on the disk (the Ready's sync, a snapshot file) through persist(),
// and calls tick() on every tick.
//
//   - A full disk met before any record byte was written (StorageNoSpaceError: FileStorage keeps
//     the unwritten batches queued, in order) raises the NOSPACE alarm: writes proposed here are
//     refused (NoSpaceAlarmError, which the APIs answer with 503 or etcd's "database space
//     exceeded"), a leader hands leadership to its most caught-up voter, and the operation is
//     retried with backoff until it succeeds, which clears the alarm. Reads never needed this
//     node's disk: a follower relays them to the leader.
//   - An operation in flight for an election timeout or longer (an fsync that stalls, or a full
//     disk that stays full) on a leader makes it step down (RawNode.stepDown): while its Ready
//     waits on the disk it sends no commit news, and its followers would otherwise keep waiting
//     on it. It cannot lead again before the disk answers: a campaign's votes, like every reply,
//     leave only after the fsync.
// Any other storage failure is not ours: it propagates and the node fail-stops.
//
// The alarm is this member's own, not replicated through the log (etcd replicates its alarms):
// a member whose disk is full cannot append the entry that would raise it, and the members
// with space keep a quorum that takes writes, which is the point of handing leadership over.

import type { Status } from "../raft/api.js";
import type { NodeId } from "../raft/types.js";
import { StorageNoSpaceError } from "../storage/errors.js";
import { RaftworkError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import type { NodeMetrics } from "./metrics.js";

/** etcd's AlarmType name for a full disk. */
export const NOSPACE = "NOSPACE";
export type NodeAlarm = typeof NOSPACE;

/** A write refused because this member's disk is full (the NOSPACE alarm is raised). */
export class NoSpaceAlarmError extends RaftworkError {
  readonly code = "no-space";
  constructor(readonly path: string) {
    super(
      `this member's disk is full (NOSPACE alarm: ${path} could not be allocated): it refuses ` +
        "writes until space returns and still serves reads; retry the write at another member",
    );
  }
}

/** The node's side of DiskHealth: its core, through the node's fail-stop guard. */
export interface DiskHealthHost {
  status(): Status;
  transferLeader(to: NodeId): void;
  stepDown(): void;
}

export interface DiskHealthOptions {
  /** The election timeout in ticks: how long a leader may wait on its disk. */
  electionTick: number;
  logger?: Logger;
  metrics?: NodeMetrics;
  /** First retry delay after a full disk, doubled up to maxRetryMs. Default 10 ms. */
  minRetryMs?: number;
  /** Default 1000 ms: how late, at worst, the node notices that space returned. */
  maxRetryMs?: number;
  /** Runs `fn` after `ms` and returns a canceller. Default: setTimeout. */
  after?: (ms: number, fn: () => void) => () => void;
}

interface Pending {
  what: string;
  /** The Ready loop waits for it (a sync), unlike a snapshot file written beside the loop. */
  holdsLoop: boolean;
  /** The tick it started at. */
  since: number;
  /** Set while it waits for space to retry. */
  noSpace: StorageNoSpaceError | null;
  /** Ends the current backoff early (disarm, stop). */
  wake: (() => void) | null;
}

const realAfter = (ms: number, fn: () => void): (() => void) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

export class DiskHealth {
  private ticks = 0;
  private readonly pending = new Set<Pending>();
  private raised: StorageNoSpaceError | null = null;
  /** The operation this leader already stepped down for (one step-down per stall). */
  private steppedDownFor: Pending | null = null;
  private stopped = false;

  constructor(
    private readonly host: DiskHealthHost,
    private readonly o: DiskHealthOptions,
  ) {}

  /** The alarms raised on this member: NOSPACE while its disk is full. */
  get alarms(): NodeAlarm[] {
    return this.raised ? [NOSPACE] : [];
  }

  /**
   * Whether the disk holds the node up (full, or a leader stepped down for a stall): the Ready
   * that would report a leader change waits for it, so ask the core who leads.
   */
  get degraded(): boolean {
    return this.raised !== null || this.steppedDownFor !== null;
  }

  /** The error a write proposed here gets while the disk is full, or null. */
  writeRefusal(): NoSpaceAlarmError | null {
    return this.raised ? new NoSpaceAlarmError(this.raised.path) : null;
  }

  /**
   * Runs `op` (a storage operation that may wait on the disk) and, while it fails with
   * StorageNoSpaceError, raises the alarm and runs it again with backoff. Any other error is
   * rethrown. After stop() a retry ends without the operation done: the caller checks that it
   * stopped before it relies on the result. Only an operation that `holdsLoop` (default true)
   * counts for the stall rule: a large snapshot file may take longer than an election timeout
   * to write while the loop, and the cluster, go on.
   */
  async persist(
    what: string,
    op: () => void | Promise<void>,
    opts: { holdsLoop?: boolean } = {},
  ): Promise<void> {
    const p: Pending = {
      what,
      holdsLoop: opts.holdsLoop ?? true,
      since: this.ticks,
      noSpace: null,
      wake: null,
    };
    this.pending.add(p);
    try {
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          await op();
          return;
        } catch (err) {
          if (!(err instanceof StorageNoSpaceError)) throw err;
          p.noSpace = err;
          this.update();
          await this.backoff(p, attempt);
        }
      }
    } finally {
      this.pending.delete(p);
      if (this.steppedDownFor === p) this.steppedDownFor = null;
      if (p.noSpace) this.update();
    }
  }

  /**
   * etcd's Alarm DEACTIVATE: clears the alarm and retries at once. If the disk is still full
   * the retry raises it again. Returns the alarms that were raised.
   */
  disarm(): NodeAlarm[] {
    const was = this.alarms;
    for (const p of this.pending) {
      p.noSpace = null;
      p.wake?.();
    }
    this.update();
    return was;
  }

  /** Called on every tick: a leader waiting on its disk an election timeout steps down. */
  tick(): void {
    this.ticks++;
    if (this.pending.size === 0 || this.stopped) return;
    let oldest: Pending | null = null;
    for (const p of this.pending) {
      if (p.holdsLoop && (oldest === null || p.since < oldest.since)) oldest = p;
    }
    if (oldest === null || oldest === this.steppedDownFor) return;
    if (this.ticks - oldest.since < this.o.electionTick) return;
    if (this.host.status().role !== "leader") return;
    this.steppedDownFor = oldest;
    this.o.logger?.warn(
      { op: oldest.what, ticks: this.ticks - oldest.since, noSpace: oldest.noSpace !== null },
      "the disk has not completed the log's write for an election timeout: stepping down",
    );
    this.host.stepDown();
  }

  /** Ends every backoff; persist() then returns without retrying. */
  stop(): void {
    this.stopped = true;
    for (const p of this.pending) p.wake?.();
  }

  private backoff(p: Pending, attempt: number): Promise<void> {
    const min = this.o.minRetryMs ?? 10;
    const ms = Math.min(this.o.maxRetryMs ?? 1000, min * 2 ** Math.min(attempt, 20));
    const after = this.o.after ?? realAfter;
    return new Promise((resolve) => {
      const done = () => {
        p.wake = null;
        cancel();
        resolve();
      };
      const cancel = after(ms, done);
      p.wake = done;
      if (this.stopped) done();
    });
  }

  /** Raises or clears the alarm to match the pending operations. */
  private update(): void {
    let full: StorageNoSpaceError | null = null;
    for (const p of this.pending) full ??= p.noSpace;
    if ((full === null) === (this.raised === null)) {
      if (full) this.raised = full;
      return;
    }
    this.raised = full;
    this.o.metrics?.setAlarm?.(NOSPACE, full !== null);
    if (full === null) {
      this.o.logger?.info("space returned: NOSPACE alarm cleared, writes accepted again");
      return;
    }
    this.o.logger?.error(
      { err: full, path: full.path },
      "disk full: NOSPACE alarm raised; refusing writes, serving reads, retrying until space returns",
    );
    this.handOff();
  }

  /**
   * A leader with a full disk asks its most caught-up voter to take over (thesis §3.10),
   * preferring one it is replicating to (a follower in probe or snapshot state has just
   * rejected or fallen behind, so it may be the next one with a bad disk).
   */
  private handOff(): void {
    const s = this.host.status();
    if (s.role !== "leader" || !s.progress) return;
    let best: { id: NodeId; match: number; replicating: boolean } | null = null;
    for (const id of s.voters) {
      const pr = s.progress[id];
      if (id === s.id || pr === undefined) continue;
      const c = { id, match: pr.match, replicating: pr.state === "replicate" };
      const better =
        best === null ||
        (c.replicating && !best.replicating) ||
        (c.replicating === best.replicating && c.match > best.match);
      if (better) best = c;
    }
    if (best === null) return;
    this.o.logger?.info({ to: best.id, match: best.match }, "handing leadership over");
    this.host.transferLeader(best.id);
  }
}
