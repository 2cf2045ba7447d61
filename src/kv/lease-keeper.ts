// The leader-local half of leases and compaction (README, "etcd compatibility"): a
// timer on every member that, while this member leads,
//
//   - keeps the lease table primary: on becoming leader every lease gets its TTL plus an
//     election timeout from now (lease-table.ts promote: the previous leader may have renewed
//     it just before it was deposed), and on losing leadership the deadlines are forgotten;
//   - proposes the revocation of leases past their deadline (one `lease-expire` command per
//     check), so expiry is decided once, by the leader, and applied by every member alike;
//   - proposes a compaction that keeps the last `autoCompactRevisions` revisions, so memory
//     stays bounded under endless writes (etcd's --auto-compaction-mode=revision);
//
// and on every member gives the store's pruning (maintain) a slice of time. apply() never
// reads a clock: the leader's clock reaches the log only inside the commands it proposes.
import type { RaftService } from "../node/api.js";
import type { Logger } from "../util/logger.js";
import { type EtcdCommand, encodeCommand } from "./commands.js";
import type { KvStateMachine } from "./state-machine.js";

/** Leases revoked per command at most (a burst of expiries goes out over a few checks). */
const EXPIRE_BATCH = 1000;
/** How often the leader looks at deadlines; leases expire within this after their TTL. */
const DEFAULT_CHECK_MS = 100;
/** Auto-compaction runs at most this often. */
const COMPACT_EVERY_MS = 5000;

export interface LeaseKeeperOptions {
  service: RaftService;
  sm: KvStateMachine;
  electionTimeoutMs: number;
  /** Revisions kept by auto-compaction; 0 turns it off. */
  autoCompactRevisions: number;
  now?: () => number;
  checkMs?: number;
  logger?: Logger;
}

export class LeaseKeeper {
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private lastCompact = 0;
  private compacting = false;

  constructor(private readonly o: LeaseKeeperOptions) {
    this.now = o.now ?? Date.now;
    this.timer = setInterval(() => this.check(), o.checkMs ?? DEFAULT_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One round of the checks above (the timer calls it; tests may too). */
  check(): void {
    const { service, sm } = this.o;
    const leases = sm.store.leases;
    const leading = service.status().role === "leader";
    const now = this.now();
    if (leading && !leases.isPrimary) leases.promote(now, this.o.electionTimeoutMs);
    else if (!leading && leases.isPrimary) leases.demote();
    if (leading) {
      const ids = leases.expired(now, EXPIRE_BATCH);
      // A lost proposal is retried: expired() reports the lease again after a while.
      if (ids.length > 0) this.propose({ op: "lease-expire", ts: now, ids });
      this.maybeCompact(now);
    }
    if (sm.store.maintenancePending) sm.store.maintain();
  }

  private maybeCompact(now: number): void {
    const keep = this.o.autoCompactRevisions;
    const store = this.o.sm.store;
    if (keep <= 0 || this.compacting || now - this.lastCompact < COMPACT_EVERY_MS) return;
    const target = store.revision - keep;
    if (target <= Math.max(store.compactRevision, 1)) return;
    this.lastCompact = now;
    this.compacting = true;
    void this.propose({ op: "compact", ts: now, revision: target, auto: true }).finally(() => {
      this.compacting = false;
    });
  }

  private propose(cmd: EtcdCommand): Promise<void> {
    return this.o.service.propose(encodeCommand(cmd)).then(
      () => undefined,
      (err: unknown) => this.o.logger?.debug({ err, op: cmd.op }, "leader proposal not applied"),
    );
  }
}
