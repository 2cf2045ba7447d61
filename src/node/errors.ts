// Typed outcomes of RaftService calls, each with a stable `code`. The HTTP layer maps them to
// status codes: NotLeaderError -> forward or 503 (certainly not proposed: safe to retry),
// ProposalTimeoutError / LeadershipLostError -> 504 (outcome unknown), StoppedError -> 503.
import type { NodeId } from "../raft/types.js";
import { RaftworkError } from "../util/errors.js";

export class NotLeaderError extends RaftworkError {
  readonly code = "not-leader";
  constructor(readonly leader: NodeId | null) {
    super(leader === null ? "no leader known" : `not the leader (leader is ${leader})`);
  }
}

export class ProposalTimeoutError extends RaftworkError {
  readonly code = "timeout";
  constructor() {
    super("timed out; the request may or may not have been applied");
  }
}

export class LeadershipLostError extends RaftworkError {
  readonly code = "leadership-lost";
  constructor() {
    super(
      "leadership changed while the request was in flight; it may or may not have been applied",
    );
  }
}

export class StoppedError extends RaftworkError {
  readonly code = "stopped";
  constructor() {
    super("node is shutting down");
  }
}

/** RaftNode's options are inconsistent (for example a heartbeat not below the election timeout). */
export class NodeConfigError extends RaftworkError {
  readonly code = "bad-config";
}

/**
 * The Raft core threw: a broken invariant, or a log that lost acknowledged entries
 * (LogInconsistencyError, code "raft-log-inconsistent", as `cause`). The node stops at once
 * (fail-stop: docs/architecture.md, "Disk faults"): the core may have half-processed the input, and its
 * durable state cannot be trusted. The message names the data directory and the core's reason.
 */
export class CoreFailureError extends RaftworkError {
  readonly code = "core-failed";
}

/**
 * A membership change the leader refused before proposing it (certainly not proposed):
 * "conf-pending" (another change is not applied yet: one at a time, thesis §4.3),
 * "invalid-conf" (not valid against the configuration: the message says why) or
 * "transferring" (a leader transfer is in progress; retry).
 */
export class ConfChangeRefusedError extends RaftworkError {
  constructor(
    readonly code: "conf-pending" | "invalid-conf" | "transferring",
    message: string,
  ) {
    super(message);
  }
}
