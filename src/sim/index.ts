// The simulator's public surface (`raftwork/sim`): seeded runs under faults, a cluster to drive
// by hand, the seeded random source, simulated transports, the invariant and linearizability
// checkers, and the narrated demo.
export { type ClusterOptions as SimClusterOptions, DEFAULT_TIMING, SimCluster } from "./cluster.js";
export { type DemoOptions, type DemoResult, runDemo } from "./demo.js";
export { InvariantChecker, type InvariantName, type Violation } from "./invariants.js";
export {
  type CheckOptions,
  type CheckResult,
  checkHistory,
  type KvInput,
  type KvOperation,
  type KvOutput,
} from "./linearizability.js";
export {
  createSimTransports,
  type NetworkFaults,
  type NetworkStats,
  RELIABLE,
  REQUEST_TYPES,
  SimNetwork,
  type SimTransports,
  UNRELIABLE,
} from "./network.js";
export { Rng } from "./rng.js";
export {
  FAULTS,
  type FaultName,
  runSimulation,
  type SimOptions,
  type SimResult,
} from "./runner.js";
export { Trace, type TraceRecord } from "./trace.js";
