// The node runtime's public surface (`raftwork/node`): RaftNode, the RaftService it offers and
// the StateMachine it drives, its typed errors, and the ports it reports through (metrics,
// logger), which the application implements.

export { type Logger, silentLogger } from "../util/logger.js";
export type {
  AppliedPoint,
  FollowerProgress,
  RaftService,
  ServiceStatus,
  StateMachine,
} from "./api.js";
export { NOSPACE, type NodeAlarm, NoSpaceAlarmError } from "./disk-health.js";
export {
  CoreFailureError,
  LeadershipLostError,
  NodeConfigError,
  NotLeaderError,
  ProposalTimeoutError,
  StoppedError,
} from "./errors.js";
export type { NodeMetrics } from "./metrics.js";
export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SNAPSHOT_ENTRIES,
  RaftNode,
  type RaftNodeOptions,
} from "./raft-node.js";
export { DEFAULT_ELECTION_TIMEOUT_MS, DEFAULT_HEARTBEAT_MS, timingFor } from "./timing.js";
