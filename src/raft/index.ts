// The Raft library's public surface: the RawNode state machine, its contract and message types.
export type {
  ConfChangeProposeResult,
  PersistedState,
  ProposeResult,
  RaftConfig,
  Random,
  RawNodeApi,
  ReadState,
  Ready,
  SoftState,
  Status,
  TimerFired,
} from "./api.js";
export {
  applyConfChange,
  confProblem,
  enterJoint,
  isJoint,
  isVoter,
  leaveJoint,
  members,
  simpleChange,
} from "./confchange.js";
export { decodeConfChangeEntry, encodeConfChangeEntry } from "./confchange-codec.js";
export { LogInconsistencyError } from "./errors.js";
export { RawNode } from "./raw-node.js";
export * from "./types.js";
