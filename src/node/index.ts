// The node runtime's public surface.
export type { RaftService, ServiceStatus, StateMachine } from "./api.js";
export {
  LeadershipLostError,
  NotLeaderError,
  ProposalTimeoutError,
  StoppedError,
} from "./errors.js";
export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SNAPSHOT_ENTRIES,
  RaftNode,
  type RaftNodeOptions,
} from "./raft-node.js";
export { DEFAULT_ELECTION_TIMEOUT_MS, DEFAULT_HEARTBEAT_MS, timingFor } from "./timing.js";
