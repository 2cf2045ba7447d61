// Typed outcomes of RaftService calls. The HTTP layer maps them to status codes:
// NotLeaderError -> forward or 503 (certainly not proposed: safe to retry),
// ProposalTimeoutError / LeadershipLostError -> 504 (outcome unknown), StoppedError -> 503.
import type { NodeId } from "../raft/types.js";

export class NotLeaderError extends Error {
  readonly code = "not-leader";
  constructor(readonly leader: NodeId | null) {
    super(leader === null ? "no leader known" : `not the leader (leader is ${leader})`);
  }
}

export class ProposalTimeoutError extends Error {
  readonly code = "timeout";
  constructor() {
    super("timed out; the request may or may not have been applied");
  }
}

export class LeadershipLostError extends Error {
  readonly code = "leadership-lost";
  constructor() {
    super(
      "leadership changed while the request was in flight; it may or may not have been applied",
    );
  }
}

export class StoppedError extends Error {
  readonly code = "stopped";
  constructor() {
    super("node is shutting down");
  }
}
