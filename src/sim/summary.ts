// `raftwork sim summary TRACE.jsonl`: what happened in a run, from its trace model
// (src/sim/view/model.ts): elections and leader tenure, messages by type and fate, faults, the
// log, client operations and the violation. summarizeTrace() gives the numbers (`--json`),
// formatSummary() the text.

import { replayCommand } from "./replay.js";
import { FAULT_KINDS, MESSAGE_TYPES } from "./trace-schema.js";
import { formatTime } from "./view/describe.js";
import {
  DROP_REASONS,
  FATE_DROPPED,
  FLAG_DUP,
  FLAG_LATE,
  messageTypeName,
  type TraceModel,
} from "./view/model.js";

/** Requests, as the 6.5840 lab counts RPCs (REQUEST_TYPES in network.ts). */
const REQUESTS = new Set(["prevote", "vote", "app", "heartbeat", "snap", "timeout-now"]);

export interface Tenure {
  node: number;
  term: number;
  start: number;
  end: number;
  /** How it ended: stepped down (saw a higher term, lost check-quorum), crashed, or the trace ended. */
  ended: "stepped-down" | "crashed" | "trace-end";
}

export interface MessageCounts {
  /** Messages sent (every send has exactly one first-copy fate). */
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Copies held back on a long detour. */
  late: number;
}

export interface TraceSummary {
  version: number;
  seed: number | string | null;
  nodes: number[];
  records: number;
  simulatedMs: number;
  elections: {
    /** Leaders elected (one per term at most). */
    leaders: number;
    /** Vote campaigns (candidate) and pre-vote campaigns (precandidate). */
    campaigns: number;
    preCampaigns: number;
    highestTerm: number;
  };
  tenures: Tenure[];
  tenureMs: { min: number; median: number; max: number } | null;
  /** Time in which no node was an up leader. */
  noLeaderMs: number;
  messages: MessageCounts & {
    /** Requests sent (pre-vote, vote, append, heartbeat, snapshot, timeout-now): `messages` in --json. */
    requests: number;
    byType: Record<string, MessageCounts>;
    dropReasons: Record<string, number>;
  };
  /** Fault records by kind (crash, restart, partition, cut, heal, ...); only kinds that occur. */
  faults: Record<string, number>;
  log: {
    commits: number;
    commands: number;
    lastIndex: number;
    snapshots: number;
    installs: number;
  };
  client: {
    ops: number;
    reads: number;
    writes: number;
    ok: number;
    fail: number;
    timeout: number;
    pending: number;
  };
  violation: { t: number; line: number; invariant: string; message: string } | null;
  /** The command that reproduces the run (null: the trace does not say how it was run). */
  replay: string | null;
  warnings: string[];
}

function emptyCounts(): MessageCounts {
  return { sent: 0, delivered: 0, dropped: 0, duplicated: 0, late: 0 };
}

export function summarizeTrace(model: TraceModel): TraceSummary {
  const tenures = leaderTenures(model);
  const durations = tenures.map((t) => t.end - t.start).sort((a, b) => a - b);
  let campaigns = 0;
  let preCampaigns = 0;
  let highestTerm = 0;
  for (const r of model.records)
    if (r.ev === "role") {
      if (r.role === "candidate") campaigns++;
      else if (r.role === "precandidate") preCampaigns++;
      highestTerm = Math.max(highestTerm, r.term as number);
    }
  const faults: Record<string, number> = {};
  // Every node starts once at boot: only the starts after a crash count, as restarts.
  for (const kind of FAULT_KINDS) {
    const n = kind === "start" ? 0 : (model.counts.get(kind) ?? 0);
    if (n > 0) faults[kind] = n;
  }
  const restarts = countRestarts(model);
  if (restarts > 0) faults.restart = restarts;
  const alarms = model.records.filter((r) => r.ev === "peer-lost" && r.alarm === true).length;
  if (alarms > 0) faults.alarm = alarms;
  const ops = model.ops;
  const v = model.violation;
  return {
    version: model.version,
    seed: model.seed,
    nodes: model.nodes,
    records: model.records.length,
    simulatedMs: model.end,
    elections: { leaders: tenures.length, campaigns, preCampaigns, highestTerm },
    tenures,
    tenureMs:
      durations.length > 0
        ? {
            min: durations[0] as number,
            median: durations[Math.floor((durations.length - 1) / 2)] as number,
            max: durations[durations.length - 1] as number,
          }
        : null,
    noLeaderMs: model.end - unionLength(tenures),
    messages: messageCounts(model),
    faults,
    log: {
      commits: model.commits.length,
      commands: model.commits.filter((c) => c.cmd !== null).length,
      lastIndex: model.commits.reduce((m, c) => Math.max(m, c.index), 0),
      snapshots: model.counts.get("compact") ?? 0,
      installs: model.records.filter((r) => r.ev === "restore" && r.t > 0).length,
    },
    client: {
      ops: ops.length,
      reads: ops.filter((o) => o.kind === "get").length,
      writes: ops.filter((o) => o.kind !== "get").length,
      ok: ops.filter((o) => o.outcome === "ok").length,
      fail: ops.filter((o) => o.outcome === "fail").length,
      timeout: ops.filter((o) => o.outcome === "timeout").length,
      pending: ops.filter((o) => o.outcome === "pending").length,
    },
    violation: v ? { t: v.t, line: v.seq + 1, invariant: v.invariant, message: v.message } : null,
    replay: replayOf(model),
    warnings: model.warnings,
  };
}

/** From the header and the fault phase's record; null for traces that do not record the options. */
function replayOf(model: TraceModel): string | null {
  const phase = model.records.find((r) => r.ev === "phase" && r.phase === "faults");
  const { seed } = model;
  if (!phase || typeof seed !== "number") return null;
  const { faults, until, config } = phase;
  if (typeof faults !== "string" || typeof until !== "number") return null;
  if (config !== "random" && config !== "default") return null;
  return replayCommand({
    seed,
    nodes: model.nodes.length,
    timeMs: until,
    faults: faults === "none" ? [] : faults.split(","),
    config,
  });
}

/** Each leader's time in office: a run of role spans in which it led one term. */
function leaderTenures(model: TraceModel): Tenure[] {
  const out: Tenure[] = [];
  for (const lane of model.lanes.values()) {
    let open: Tenure | null = null;
    for (const span of lane.roles) {
      if (open && (span.role !== "leader" || span.term !== open.term || span.start !== open.end)) {
        open.ended = open.end < model.end ? "stepped-down" : "trace-end";
        out.push(open);
        open = null;
      }
      if (span.role !== "leader") continue;
      if (open) open.end = span.end;
      else
        open = {
          node: lane.node,
          term: span.term,
          start: span.start,
          end: span.end,
          ended: "trace-end",
        };
    }
    if (open) {
      open.ended = open.end < model.end ? "stepped-down" : "trace-end";
      out.push(open);
    }
    // A tenure that ends where a down span starts ended in a crash.
    for (const t of out)
      if (t.node === lane.node && lane.down.some((d) => d.start === t.end)) t.ended = "crashed";
  }
  return out.sort((a, b) => a.start - b.start || a.node - b.node);
}

function unionLength(spans: { start: number; end: number }[]): number {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  let total = 0;
  let curStart = Number.NEGATIVE_INFINITY;
  let curEnd = Number.NEGATIVE_INFINITY;
  for (const s of sorted) {
    if (s.start > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = s.start;
      curEnd = s.end;
    } else curEnd = Math.max(curEnd, s.end);
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

function countRestarts(model: TraceModel): number {
  const started = new Set<number>();
  let restarts = 0;
  for (const r of model.records)
    if (r.ev === "start") {
      if (started.has(r.node as number)) restarts++;
      started.add(r.node as number);
    }
  return restarts;
}

function messageCounts(model: TraceModel): TraceSummary["messages"] {
  const m = model.messages;
  const byType: Record<string, MessageCounts> = {};
  for (const type of MESSAGE_TYPES) byType[type] = emptyCounts();
  const total = emptyCounts();
  const dropReasons: Record<string, number> = {};
  let requests = 0;
  const bump = (type: string, f: (c: MessageCounts) => void): void => {
    byType[type] ??= emptyCounts();
    f(byType[type]);
    f(total);
  };
  for (let i = 0; i < m.count; i++) {
    const type = messageTypeName(m.type[i] as number);
    const flags = m.flags[i] as number;
    const dropped = m.fate[i] === FATE_DROPPED;
    bump(type, (c) => {
      if ((flags & FLAG_DUP) === 0) c.sent++;
      if (dropped) c.dropped++;
      else c.delivered++;
      if (flags & FLAG_LATE) c.late++;
    });
    if ((flags & FLAG_DUP) === 0 && REQUESTS.has(type)) requests++;
    if (dropped) {
      const reason = DROP_REASONS[m.reason[i] as number] ?? "unknown";
      dropReasons[reason] = (dropReasons[reason] ?? 0) + 1;
    }
  }
  for (const r of model.records) if (r.ev === "dup") bump(String(r.type), (c) => c.duplicated++);
  for (const [type, c] of Object.entries(byType))
    if (c.sent + c.delivered + c.dropped + c.duplicated === 0) delete byType[type];
  return { ...total, requests, byType, dropReasons };
}

const num = (n: number): string => n.toLocaleString("en-US");
const pct = (part: number, whole: number): string =>
  whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "0%";

/** The summary as text: a few labelled paragraphs and one table. */
export function formatSummary(s: TraceSummary, name = "trace"): string {
  const out: string[] = [];
  out.push(
    `${name}: ${s.nodes.length} nodes (${s.nodes.join(", ")}), seed ${s.seed ?? "?"}, ` +
      `format v${s.version}, ${num(s.records)} records, ${formatTime(s.simulatedMs)} simulated`,
  );
  for (const w of s.warnings) out.push(`warning: ${w}`);
  const e = s.elections;
  out.push(
    "",
    `elections: ${e.leaders} leader${e.leaders === 1 ? "" : "s"} elected, highest term ${e.highestTerm}; ` +
      `${e.campaigns} vote campaign${e.campaigns === 1 ? "" : "s"}, ${e.preCampaigns} pre-vote`,
  );
  if (s.tenureMs)
    out.push(
      `leader tenure: min ${formatTime(s.tenureMs.min)}, median ${formatTime(s.tenureMs.median)}, ` +
        `max ${formatTime(s.tenureMs.max)}; no leader for ${formatTime(s.noLeaderMs)} ` +
        `(${pct(s.noLeaderMs, s.simulatedMs)} of the run)`,
    );
  for (const t of s.tenures)
    out.push(
      `  term ${String(t.term).padStart(3)}: node ${t.node} from ${formatTime(t.start)} to ` +
        `${formatTime(t.end)} (${formatTime(t.end - t.start)}, ${t.ended.replace("-", " ")})`,
    );
  const m = s.messages;
  out.push(
    "",
    `messages: ${num(m.sent)} sent (${num(m.requests)} requests), ${num(m.delivered)} delivered, ` +
      `${num(m.dropped)} dropped, ${num(m.duplicated)} duplicated, ${num(m.late)} held back`,
  );
  const cols = ["type", "sent", "delivered", "dropped", "duplicated", "late"];
  const rows = Object.entries(m.byType).map(([type, c]) => [
    type,
    num(c.sent),
    num(c.delivered),
    num(c.dropped),
    num(c.duplicated),
    num(c.late),
  ]);
  out.push(...table(cols, rows).map((l) => `  ${l}`));
  const reasons = Object.entries(m.dropReasons);
  if (reasons.length > 0)
    out.push(`  drops by reason: ${reasons.map(([r, n]) => `${r} ${num(n)}`).join(", ")}`);
  const faults = Object.entries(s.faults);
  out.push(
    "",
    `faults: ${faults.length === 0 ? "none" : faults.map(([k, n]) => `${k} ${num(n)}`).join(", ")}`,
  );
  const l = s.log;
  out.push(
    `log: ${num(l.commits)} entries committed (${num(l.commands)} client commands), last index ` +
      `${num(l.lastIndex)}; ${num(l.snapshots)} snapshots taken, ${num(l.installs)} installed`,
  );
  const c = s.client;
  out.push(
    c.ops === 0
      ? "client: no operations recorded"
      : `client: ${num(c.ops)} operations (${num(c.writes)} writes, ${num(c.reads)} reads): ` +
          `${num(c.ok)} ok, ${num(c.fail)} failed, ${num(c.timeout)} timed out, ${num(c.pending)} pending`,
  );
  out.push(
    "",
    s.violation
      ? `violation: ${s.violation.invariant} at ${formatTime(s.violation.t)} (line ${s.violation.line}): ${s.violation.message}`
      : "violation: none",
  );
  if (s.replay) out.push(`replay: ${s.replay}`);
  return `${out.join("\n")}\n`;
}

/** Left-aligned first column, right-aligned numbers. */
function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join("  ");
  return [line(head), ...rows.map(line)];
}
