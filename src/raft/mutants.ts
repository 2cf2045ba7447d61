// Planted bugs for the mutation suite (test/sim/mutants.test.ts), which asserts that the
// simulator reports each one within a small seed budget. Each name marks one place in the core,
// the storage layer or the simulator's Ready loop where `mutant(name)` switches a classic bug on.
// Nothing is planted unless a test calls plantMutant(); then exactly one bug is live. Off, a
// check is one comparison with null: no cost worth measuring, and no dependency.

export const MUTANTS = [
  /** Figure 8 removed: the leader commits by counting replicas of entries of earlier terms. */
  "commit-earlier-term",
  /** A follower commits up to the leader's commit, not min(commit, last new entry). */
  "follower-commits-leader-commit",
  /** The leader takes append replies from older terms. */
  "stale-append-reply",
  /** The leader counts its own entries toward commit before they are fsynced. */
  "leader-counts-unsynced",
  /**
   * Vote replies leave before the vote is fsynced: the Ready loop's rule of which messages may
   * go before the fsync (sim-node.ts; the shared driver must keep this check in its rule).
   */
  "vote-before-fsync",
  /** A restarted node forgets whom it voted for (storage load(): src/storage/planted.ts). */
  "lost-vote",
  /** ReadIndex answered at once, without a heartbeat round confirming leadership. */
  "read-without-quorum",
  /** The vote's up-to-date check compares log lengths, not last terms. */
  "up-to-date-by-length",
  /** A node votes again in a term it already voted in. */
  "double-vote",
  /** A follower truncates its log at every append, even a stale, reordered one. */
  "truncate-on-stale-append",
  /** A follower installs a snapshot older than what it has committed. */
  "accept-older-snapshot",
  /** Entries are applied once persisted, before they are committed. */
  "apply-before-commit",
  /**
   * The disk loses its last fsynced write at a crash (MemoryStorage's crash model and SimDisk,
   * the simulated file system FileStorage runs on).
   */
  "disk-loses-last-fsync",
] as const;
export type MutantName = (typeof MUTANTS)[number];

let planted: MutantName | null = null;

/** True if `name` is the planted bug. */
export function mutant(name: MutantName): boolean {
  return planted === name;
}

/** Plant one bug (null: none). For the mutation suite only. */
export function plantMutant(name: MutantName | null): void {
  planted = name;
}
