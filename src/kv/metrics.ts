// Prometheus metrics for one KV node, in a registry of its own (never prom-client's global one)
// so several nodes can live in one process (tests, the simulator).
//
// The HTTP layer records requests; the node runtime reports Raft progress through its
// NodeMetrics port, which this implements. prom-client is an optional peer dependency: it is
// loaded when metrics are created, so the rest of the KV server works without it.

import type * as Prom from "prom-client";
import type { FollowerProgress, ServiceStatus } from "../node/api.js";
import type { NodeMetrics } from "../node/metrics.js";
import { requireOptional } from "../util/optional.js";

export type Route =
  | "get"
  | "put"
  | "delete"
  | "append"
  | "cas"
  | "list"
  | "status"
  | "metrics"
  | "members"
  | "other";

export interface KvMetrics extends NodeMetrics {
  readonly registry: Prom.Registry;
  /** Record one answered HTTP request. */
  request(route: Route, status: number, seconds: number): void;
  forwarded(route: Route): void;
  /** Required here (optional in NodeMetrics) so that every wrapper passes alarms on. */
  setAlarm(alarm: string, active: boolean): void;
  /**
   * Reads the configuration and, on the leader, each follower's progress from `status` at
   * every scrape: raftwork_raft_member{member, role}, raftwork_raft_follower_match_index and
   * raftwork_raft_follower_lag_entries{member}.
   */
  watchConfiguration(status: () => ServiceStatus): void;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createKvMetrics(opts: { nodeId: number; defaultMetrics?: boolean }): KvMetrics {
  const { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } = requireOptional<
    typeof Prom
  >("prom-client", "raftwork's KV metrics");
  const registry = new Registry();
  registry.setDefaultLabels({ node: String(opts.nodeId) });
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "raftwork_kv_requests_total",
    help: "HTTP requests answered, by route and status code",
    labelNames: ["route", "code"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "raftwork_kv_request_duration_seconds",
    help: "HTTP request latency by route",
    labelNames: ["route"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const forwards = new Counter({
    name: "raftwork_kv_forwarded_total",
    help: "Requests a follower forwarded to the leader",
    labelNames: ["route"] as const,
    registers: [registry],
  });
  const gauge = (name: string, help: string): Prom.Gauge =>
    new Gauge({ name, help, registers: [registry] });
  const commitIndex = gauge("raftwork_raft_commit_index", "Highest log index known committed");
  const appliedIndex = gauge("raftwork_raft_applied_index", "Highest log index applied");
  const term = gauge("raftwork_raft_term", "Current Raft term");
  const leader = gauge("raftwork_raft_leader", "Leader id known to this node (0 = none)");
  const leaderChanges = new Counter({
    name: "raftwork_raft_leader_changes_total",
    help: "Times the known leader changed",
    registers: [registry],
  });
  const proposals = new Counter({
    name: "raftwork_raft_proposals_total",
    help: "Proposals submitted to Raft on this node",
    registers: [registry],
  });
  const fsync = new Histogram({
    name: "raftwork_storage_fsync_duration_seconds",
    help: "Storage sync latency",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const batch = new Histogram({
    name: "raftwork_raft_ready_batch_entries",
    help: "Log entries persisted per Ready batch",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [registry],
  });

  // Set to 0 up front so that a dashboard or alert sees the series before the first alarm.
  const alarm = new Gauge({
    name: "raftwork_alarm_active",
    help: "1 while this member has raised the alarm (NOSPACE: its disk is full), else 0",
    labelNames: ["alarm"],
    registers: [registry],
  });
  alarm.set({ alarm: "NOSPACE" }, 0);
  let statusSource: (() => ServiceStatus) | null = null;
  new Gauge({
    name: "raftwork_raft_member",
    help: "1 for each member of the configuration in effect, by role (voter, learner, outgoing)",
    labelNames: ["member", "role"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const conf = statusSource?.().conf;
      if (!conf) return;
      const roles: [string, number[]][] = [
        ["voter", conf.voters],
        ["outgoing", conf.votersOutgoing.filter((id) => !conf.voters.includes(id))],
        ["learner", [...conf.learners, ...conf.learnersNext]],
      ];
      for (const [role, ids] of roles)
        for (const id of ids) this.set({ member: String(id), role }, 1);
    },
  });
  const progressGauge = (name: string, help: string, pick: (p: FollowerProgress) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["member"] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const p of statusSource?.().progress ?? [])
          this.set({ member: String(p.id) }, pick(p));
      },
    });
  progressGauge(
    "raftwork_raft_follower_match_index",
    "Leader only: the highest log index known replicated on each follower and learner",
    (p) => p.match,
  );
  progressGauge(
    "raftwork_raft_follower_lag_entries",
    "Leader only: how many entries each follower and learner is behind the leader's last index",
    (p) => p.lag,
  );

  // prom-client's labels() looks children up by a joined string on every call; caching the
  // children keeps the request path to one Map lookup.
  const requestChildren = new Map<string, Prom.Counter.Internal>();
  const latencyChildren = new Map<Route, Prom.Histogram.Internal<"route">>();
  let lastLeader = -1;

  return {
    registry,
    request(route, status, seconds) {
      const k = `${route} ${status}`;
      let c = requestChildren.get(k);
      if (!c) {
        c = requests.labels(route, String(status));
        requestChildren.set(k, c);
      }
      c.inc();
      let h = latencyChildren.get(route);
      if (!h) {
        h = latency.labels(route);
        latencyChildren.set(route, h);
      }
      h.observe(seconds);
    },
    forwarded: (route) => forwards.inc({ route }),
    watchConfiguration(status) {
      statusSource = status;
    },
    setCommitIndex: (i) => commitIndex.set(i),
    setAppliedIndex: (i) => appliedIndex.set(i),
    setTerm: (t) => term.set(t),
    setLeader(id) {
      if (id !== lastLeader) {
        if (lastLeader !== -1) leaderChanges.inc();
        lastLeader = id;
        leader.set(id);
      }
    },
    proposal: () => proposals.inc(),
    observeFsync: (s) => fsync.observe(s),
    observeBatch: (n) => batch.observe(n),
    setAlarm: (name, active) => alarm.set({ alarm: name }, active ? 1 : 0),
  };
}
