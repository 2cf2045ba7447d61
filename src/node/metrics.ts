// The node runtime's metrics port: what RaftNode reports about Raft progress. The node layer
// defines it and never implements it (it knows no metrics library); the service above it does
// (src/kv/metrics.ts exports them to Prometheus). Every method is cheap and never throws.

export interface NodeMetrics {
  setCommitIndex(index: number): void;
  setAppliedIndex(index: number): void;
  setTerm(term: number): void;
  /** Leader id as seen by this node (0 = none). Counts a leader change when it differs. */
  setLeader(leader: number): void;
  proposal(): void;
  /** Duration of one storage sync (fsync) in seconds. */
  observeFsync(seconds: number): void;
  /** Entries written per Ready batch (group commit effectiveness). */
  observeBatch(entries: number): void;
  /** An alarm of this member (disk-health.ts: "NOSPACE") was raised (true) or cleared. */
  setAlarm?(alarm: string, active: boolean): void;
}
