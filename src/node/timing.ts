// Wall-clock timing -> logical ticks for the Raft core. The core only counts ticks; the node
// runtime decides how long a tick lasts.
//
// A tick is half a heartbeat interval, so heartbeats go out every 2 ticks and an election
// timeout T becomes round(T / tick) ticks; the core draws each node's timeout from
// [electionTick, 2 * electionTick), i.e. [T, 2T) in wall-clock terms (Raft paper §5.2,
// randomized election timeouts).

import { err, ok, type Result } from "../util/result.js";

export interface Timing {
  tickMs: number;
  heartbeatTick: number;
  electionTick: number;
}

export const DEFAULT_ELECTION_TIMEOUT_MS = 1000;
export const DEFAULT_HEARTBEAT_MS = 100;

const TICKS_PER_HEARTBEAT = 2;

/** Fails (as a value) when heartbeat >= election timeout: followers would time out between heartbeats. */
export function timingFor(electionTimeoutMs: number, heartbeatMs: number): Result<Timing> {
  if (!(heartbeatMs > 0) || !(electionTimeoutMs > 0)) {
    return err("heartbeat and election timeout must be positive");
  }
  if (heartbeatMs >= electionTimeoutMs) {
    return err(
      `heartbeat (${heartbeatMs}ms) must be shorter than the election timeout (${electionTimeoutMs}ms)`,
    );
  }
  const tickMs = Math.max(1, Math.floor(heartbeatMs / TICKS_PER_HEARTBEAT));
  const heartbeatTick = Math.max(1, Math.round(heartbeatMs / tickMs));
  const electionTick = Math.max(heartbeatTick + 1, Math.round(electionTimeoutMs / tickMs));
  return ok({ tickMs, heartbeatTick, electionTick });
}
