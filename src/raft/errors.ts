// Errors the Raft core throws, each with a stable `code`. Protocol outcomes (a stale term, a
// rejected append) are never errors; these are the cases where continuing would be unsafe, so
// the shell must stop the node (docs/architecture.md, "Disk faults": fail-stop, never loop).

import { RaftworkError } from "../util/errors.js";

/**
 * The leader knows this node acknowledged entries that its log no longer holds: the log lost
 * durable entries (the data directory was restored from an older copy, or the disk dropped
 * fsynced writes). Raft's safety rests on acknowledged entries staying durable (Figure 2:
 * persistent state), so the node must stop instead of answering: an operator has to replace
 * its data (remove the member and add it back empty).
 *
 * Thrown by step(); the core is left as it was before the message (nothing half-applied), but
 * it must not be used again.
 */
export class LogInconsistencyError extends RaftworkError {
  readonly code = "raft-log-inconsistent";

  constructor(
    /** The node that found its log short. */
    readonly node: number,
    /** The leader that vouched for the missing entries. */
    readonly leader: number,
    /** The index the leader knows this node acknowledged (and may commit). */
    readonly acknowledged: number,
    /** The last index this node's log actually holds. */
    readonly lastIndex: number,
  ) {
    super(
      `raft log of node ${node} lost acknowledged entries: leader ${leader} knows index ` +
        `${acknowledged} was acknowledged, but the log ends at ${lastIndex}`,
    );
  }
}
