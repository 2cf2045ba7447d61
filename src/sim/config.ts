// The core and timing configuration of one simulated run (README, "Simulator":
// `config`). `--config default` pins the values the simulator always used (the 6.5840 lab
// equivalents run on them, so their RPC counts stay comparable); `--config random` draws every
// key from the seed, because many bugs live only in corners of the configuration space: the
// Figure-8 state needs one entry per message, a lost vote needs pre-vote off, a stale leader
// serving reads needs check-quorum off, a leader counting its own unsynced entries needs an
// fsync slower than a round trip.

import type { RaftConfig } from "../raft/api.js";
import { Rng } from "./rng.js";
import type { SimNodeTiming } from "./sim-node.js";

/** Named fsync latency distributions. */
export const FSYNC_PROFILES = ["fast", "slow", "tail"] as const;
export type FsyncProfile = (typeof FSYNC_PROFILES)[number];

/** The keys and order of `--json`'s `config` and of the trace's `config` record. */
export interface SimConfig {
  maxEntriesPerMsg: number;
  maxBytesPerMsg: number;
  maxInflight: number;
  preVote: boolean;
  checkQuorum: boolean;
  electionTick: number;
  heartbeatTick: number;
  /** Take a snapshot every this many applied entries. */
  snapshotEvery: number;
  fsync: FsyncProfile;
  /**
   * Readys the driver takes before the earlier ones are advanced (1: one at a time, as RaftNode
   * today; more: pipelined Readys, where a leader that counted its own unsynced entries shows).
   */
  pipeline: number;
  /**
   * Probes carry no entries (api.ts). An empty probe that matches ends before a follower's
   * divergent tail, the state in which a follower must cap its commit at the request's end.
   */
  emptyProbes: boolean;
}

export const CONFIG_MODES = ["random", "default"] as const;
export type ConfigMode = (typeof CONFIG_MODES)[number];

/** Virtual milliseconds per tick, the same in every configuration. */
export const TICK_MS = 20;

/** Today's defaults: the core's own (api.ts) and the simulator's lab-like timing. */
export const DEFAULT_CONFIG: SimConfig = {
  maxEntriesPerMsg: 256,
  maxBytesPerMsg: 1024 * 1024,
  maxInflight: 64,
  preVote: true,
  checkQuorum: true,
  electionTick: 15,
  heartbeatTick: 5,
  snapshotEvery: 64,
  fsync: "fast",
  pipeline: 1,
  emptyProbes: false,
};

/** Draw a configuration from the seed (its own stream: other draws do not shift it). */
export function drawConfig(seed: number | string): SimConfig {
  const rng = new Rng(seed).fork("config");
  const electionTick = rng.int(8, 25);
  return {
    // One entry per message is the corner where batching no longer hides ordering bugs.
    maxEntriesPerMsg: rng.pick([1, 1, 2, 4, 16, 256]),
    // Client commands are a few bytes: 16 B is two or three entries per message.
    maxBytesPerMsg: rng.pick([16, 256, 4096, 1024 * 1024]),
    maxInflight: rng.pick([1, 2, 4, 16, 64]),
    preVote: rng.chance(0.5),
    checkQuorum: rng.chance(0.5),
    electionTick,
    heartbeatTick: rng.int(1, Math.max(1, Math.floor(electionTick / 3))),
    snapshotEvery: rng.pick([8, 32, 64, 256, 1024]),
    fsync: rng.pick(FSYNC_PROFILES),
    pipeline: rng.pick([1, 1, 2, 4]),
    // Drawn last, so adding it left every earlier key of every seed as it was.
    emptyProbes: rng.chance(0.3),
  };
}

export function resolveConfig(mode: ConfigMode | SimConfig, seed: number | string): SimConfig {
  if (mode === "default") return DEFAULT_CONFIG;
  if (mode === "random") return drawConfig(seed);
  // A copy in the contract's key order (the trace hash depends on it).
  return {
    maxEntriesPerMsg: mode.maxEntriesPerMsg,
    maxBytesPerMsg: mode.maxBytesPerMsg,
    maxInflight: mode.maxInflight,
    preVote: mode.preVote,
    checkQuorum: mode.checkQuorum,
    electionTick: mode.electionTick,
    heartbeatTick: mode.heartbeatTick,
    snapshotEvery: mode.snapshotEvery,
    fsync: mode.fsync,
    pipeline: mode.pipeline,
    emptyProbes: mode.emptyProbes,
  };
}

/** The node timing a configuration means. */
export function timingOf(c: SimConfig): SimNodeTiming {
  const electionMs = c.electionTick * TICK_MS;
  const fsync =
    c.fsync === "fast"
      ? { fsyncMinMs: 1, fsyncMaxMs: 4, fsyncTailRate: 0 }
      : c.fsync === "slow"
        ? // Slower than most round trips: the leader's replies often arrive before its own fsync.
          { fsyncMinMs: 5, fsyncMaxMs: 30, fsyncTailRate: 0 }
        : // Mostly fast, but one fsync in a hundred stalls for 2 to 4 election timeouts.
          { fsyncMinMs: 1, fsyncMaxMs: 4, fsyncTailRate: 0.01 };
  return {
    tickMs: TICK_MS,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    ...fsync,
    fsyncTailMinMs: 2 * electionMs,
    fsyncTailMaxMs: 4 * electionMs,
    snapshotEvery: c.snapshotEvery,
    pipeline: c.pipeline,
  };
}

/** The core options a configuration means. */
export function raftOptionsOf(c: SimConfig): Partial<RaftConfig> {
  return {
    maxEntriesPerMsg: c.maxEntriesPerMsg,
    maxBytesPerMsg: c.maxBytesPerMsg,
    maxInflight: c.maxInflight,
    preVote: c.preVote,
    checkQuorum: c.checkQuorum,
    emptyProbes: c.emptyProbes,
  };
}
