// How fast peer links notice a silent cut and come back, derived from the Raft heartbeat
// interval (the node passes linkTimingFor(heartbeatMs) to TcpTransport).
//
// The heartbeat is the natural unit: it is what Raft itself tolerates losing a few of, and
// etcd's tuning guide sets it near the round-trip time between members. Per interval:
//
//   pingIntervalMs     1 hb   each side of an idle connection writes at least this often
//   livenessTimeoutMs  5 hb   nothing received for this long: the connection is torn down
//   connectTimeoutMs   5 hb   TCP connect + preamble + handshake answer (about 1.5 round trips)
//   backoffInitialMs   1 hb   first redial delay (half of it jitter)
//   backoffMaxMs       4 hb   redial delay cap
//
// with floors of 250 ms (liveness, connect) and 200 ms (backoff cap), so that a loaded machine's
// event-loop stalls do not tear down healthy connections. After a partition heals, a link is
// back within connectTimeoutMs + backoffMaxMs plus a round trip (450 ms at a 50 ms heartbeat):
// an attempt in flight at the heal may have had its SYN dropped; it is abandoned at its
// timeout, and the next starts after at most one backoff. The liveness timeout only bounds how
// long a cut connection is trusted; it does not add to that figure for any partition longer
// than itself, and a shorter one is ridden out by TCP's own retransmission.

export interface LinkTiming {
  pingIntervalMs: number;
  livenessTimeoutMs: number;
  connectTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

export function linkTimingFor(heartbeatMs: number): LinkTiming {
  if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 1) {
    throw new RangeError(`heartbeatMs must be a positive integer, got ${heartbeatMs}`);
  }
  const backoffMaxMs = Math.max(4 * heartbeatMs, 200);
  return {
    pingIntervalMs: heartbeatMs,
    livenessTimeoutMs: Math.max(5 * heartbeatMs, 250),
    connectTimeoutMs: Math.max(5 * heartbeatMs, 250),
    backoffInitialMs: Math.min(heartbeatMs, backoffMaxMs),
    backoffMaxMs,
  };
}
