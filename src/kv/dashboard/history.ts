// What the dashboard plots and lists about one node over the last minutes: client requests
// (rate, errors, latency) and fsyncs (rate, latency), one sample per second, and the leaders
// this node has seen. Prometheus (/metrics) keeps counters since start, which a page cannot turn
// into "the last five minutes" without scraping them itself; this keeps the short window here.
//
// It sits in the node's metrics path: withHistory(metrics) returns a KvMetrics that records
// into the history and passes every call on unchanged, so the HTTP layer and RaftNode report
// once and both Prometheus and the dashboard see it.
//
// Latency quantiles come from a log-scale histogram per second (4 buckets per doubling, so a
// quantile is within 19% of the truth), which costs one Math.log2 per observation.

import type { NodeId } from "../../raft/types.js";
import type { KvMetrics, Route } from "../metrics.js";

/** Seconds of samples kept (the page's charts span this). */
export const HISTORY_SECONDS = 300;
/** Leader changes kept. */
export const LEADER_HISTORY = 50;

/** One second of this node's activity. Latencies in milliseconds, null when nothing happened. */
export interface Sample {
  /** End of the second, ms since the epoch. */
  t: number;
  requests: number;
  /** Answers with status 500 and above (503: no leader, 504: outcome unknown). */
  errors: number;
  latencyP50: number | null;
  latencyP99: number | null;
  fsyncs: number;
  fsyncP50: number | null;
  fsyncP99: number | null;
}

/** The leader as this node saw it change. */
export interface LeaderChange {
  /** ms since the epoch. */
  t: number;
  leader: NodeId | null;
  term: number;
}

// Routes that are about the cluster's data; status and metrics scrapes (the dashboard's own
// polling among them) would drown them.
const CLIENT_ROUTES: ReadonlySet<Route> = new Set([
  "get",
  "put",
  "delete",
  "append",
  "cas",
  "list",
]);
const BUCKETS_PER_DOUBLING = 4;
const BUCKETS = 30 * BUCKETS_PER_DOUBLING; // 1 µs .. 2^30 µs (18 min)

/** A histogram of durations in microseconds on a log scale. */
class LogHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;

  observe(seconds: number): void {
    const us = Math.max(1, seconds * 1e6);
    const b = Math.min(BUCKETS - 1, Math.floor(Math.log2(us) * BUCKETS_PER_DOUBLING));
    this.counts[b] = (this.counts[b] ?? 0) + 1;
    this.count++;
  }

  /** The q-quantile in milliseconds (a bucket's geometric middle), null when empty. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b] ?? 0;
      if (seen >= rank) return round(2 ** ((b + 0.5) / BUCKETS_PER_DOUBLING) / 1000);
    }
    throw new Error("histogram: counts do not add up to count");
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
  }
}

// Four significant digits: enough for a chart, and short in JSON.
const round = (ms: number) => Number(ms.toPrecision(4));

export class NodeHistory {
  private readonly samples: Sample[] = [];
  private readonly leaders: LeaderChange[] = [];
  private readonly latency = new LogHistogram();
  private readonly fsync = new LogHistogram();
  private requests = 0;
  private errors = 0;
  /** End of the second being recorded. */
  private secondEnd: number;
  private term: () => number = () => 0;

  constructor(private readonly now: () => number = Date.now) {
    this.secondEnd = Math.floor(now() / 1000) * 1000 + 1000;
  }

  /** Where the current term comes from (the node, known only once it is started). */
  setTermSource(term: () => number): void {
    this.term = term;
  }

  request(route: Route, status: number, seconds: number): void {
    if (!CLIENT_ROUTES.has(route)) return;
    this.roll();
    this.requests++;
    if (status >= 500) this.errors++;
    this.latency.observe(seconds);
  }

  observeFsync(seconds: number): void {
    this.roll();
    this.fsync.observe(seconds);
  }

  setLeader(leader: number): void {
    const last = this.leaders.at(-1);
    const id = leader === 0 ? null : leader;
    if (last?.leader === id) return;
    this.leaders.push({ t: this.now(), leader: id, term: this.term() });
    if (this.leaders.length > LEADER_HISTORY) this.leaders.shift();
  }

  /** Every complete second of the window, oldest first (seconds without activity included). */
  window(): Sample[] {
    this.roll();
    return [...this.samples];
  }

  /** The latest complete second, or null before the first one ends. */
  latest(): Sample | null {
    this.roll();
    return this.samples.at(-1) ?? null;
  }

  leaderChanges(): LeaderChange[] {
    return [...this.leaders];
  }

  /** Closes every second that has ended, so an idle node still reports zeros. */
  private roll(): void {
    const now = this.now();
    if (now < this.secondEnd) return;
    this.push(this.secondEnd);
    // The idle seconds since then are zeros (at most a window's worth of them).
    const lastEnd = Math.floor(now / 1000) * 1000;
    const from = Math.max(this.secondEnd + 1000, lastEnd - (HISTORY_SECONDS - 1) * 1000);
    for (let t = from; t <= lastEnd; t += 1000) this.push(t);
    this.secondEnd = lastEnd + 1000;
  }

  private push(t: number): void {
    this.samples.push({
      t,
      requests: this.requests,
      errors: this.errors,
      latencyP50: this.latency.quantile(0.5),
      latencyP99: this.latency.quantile(0.99),
      fsyncs: this.fsync.count,
      fsyncP50: this.fsync.quantile(0.5),
      fsyncP99: this.fsync.quantile(0.99),
    });
    if (this.samples.length > HISTORY_SECONDS) this.samples.shift();
    this.requests = 0;
    this.errors = 0;
    this.latency.reset();
    this.fsync.reset();
  }
}

/** `metrics`, also recording into `history`. Every call is passed on unchanged. */
export function withHistory(metrics: KvMetrics, history: NodeHistory): KvMetrics {
  return {
    registry: metrics.registry,
    request(route, status, seconds) {
      metrics.request(route, status, seconds);
      history.request(route, status, seconds);
    },
    forwarded: (route) => metrics.forwarded(route),
    watchConfiguration: (status) => metrics.watchConfiguration(status),
    setCommitIndex: (i) => metrics.setCommitIndex(i),
    setAppliedIndex: (i) => metrics.setAppliedIndex(i),
    setTerm: (t) => metrics.setTerm(t),
    setLeader(leader) {
      metrics.setLeader(leader);
      history.setLeader(leader);
    },
    proposal: () => metrics.proposal(),
    observeFsync(seconds) {
      metrics.observeFsync(seconds);
      history.observeFsync(seconds);
    },
    observeBatch: (n) => metrics.observeBatch(n),
    setAlarm: (alarm, active) => metrics.setAlarm(alarm, active),
  };
}
