// One line of plain English per trace record: the viewer's selection panel and screen-reader
// announcements, the summary's violation line, and the narration use the same words.

import type { AnyRecord } from "./parse.js";

/** "1234 ms" -> "1.234 s"; sub-second times stay in ms. */
export function formatTime(ms: number): string {
  if (Math.abs(ms) < 1000) return `${round(ms)} ms`;
  return `${(ms / 1000).toFixed(3)} s`;
}

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

const ARROW = "→";

function payload(r: AnyRecord): string {
  switch (r.type) {
    case "app":
      return `prev ${r.prev}/${r.prevTerm}, ${r.n} entr${r.n === 1 ? "y" : "ies"}, commit ${r.commit}`;
    case "app-resp":
      return r.ok ? `accepted, match ${r.match}` : `rejected at ${r.reject}`;
    case "vote":
    case "prevote":
      return `last log ${r.lastIndex}/${r.lastTerm}${r.transfer ? ", leader transfer" : ""}`;
    case "vote-resp":
    case "prevote-resp":
      return r.granted ? "granted" : "refused";
    case "heartbeat":
      return `commit ${r.commit}${r.ctx ? `, read round ${r.ctx}` : ""}`;
    case "heartbeat-resp":
      return r.ctx ? `read round ${r.ctx}` : "";
    case "snap":
      return `snapshot up to ${r.index}`;
    default:
      return "";
  }
}

const DROP_WHY: Record<string, string> = {
  self: "addressed to itself",
  cut: "the link was cut",
  loss: "lost by the network",
  down: "the receiver was down",
  corrupt: "corrupted in flight, rejected by its checksum",
};

function message(r: AnyRecord): string {
  const what = `${r.type} ${r.from}${ARROW}${r.to} (term ${r.term})`;
  const details = payload(r);
  const body = details ? `${what}: ${details}` : what;
  const copy = r.dup ? " (the duplicate copy)" : "";
  const flight = typeof r.sent === "number" ? r.t - r.sent : 0;
  const late = r.late ? ", held back on a long detour" : "";
  if (r.ev === "dup") return `${body} will be delivered twice`;
  if (r.ev === "deliver") return `${body} delivered${copy} after ${formatTime(flight)}${late}`;
  const why = DROP_WHY[r.reason as string] ?? String(r.reason);
  return `${body} dropped${copy}${flight > 0 ? ` after ${formatTime(flight)}` : ""}: ${why}${late}`;
}

/** A sentence for `r`; kinds this version does not know get their raw JSON. */
export function describeRecord(r: AnyRecord): string {
  const n = `node ${r.node}`;
  switch (r.ev) {
    case "trace":
      return `trace of ${(r.nodes as number[]).length} nodes (${(r.nodes as number[]).join(", ")}), seed ${r.seed}, format v${r.v}`;
    case "config":
      return `configuration: ${Object.entries(r)
        .filter(([k]) => k !== "t" && k !== "ev")
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`;
    case "phase":
      return r.phase === "liveness"
        ? "faults end: every link heals, every node restarts, a new write must commit"
        : `phase ${r.phase}`;
    case "deliver":
    case "drop":
    case "dup":
      return message(r);
    case "partition":
      return `network partitioned into ${String(r.groups)
        .split("|")
        .map((g) => `{${g}}`)
        .join(" ")}`;
    case "cut":
      return `link ${r.from}${ARROW}${r.to} cut (one way)`;
    case "heal":
      return "every link restored";
    case "disconnect":
      return `${n} disconnected from everyone`;
    case "connect":
      return `${n} reconnected`;
    case "peer-lost":
      return `${n} told that node ${r.peer} is gone${r.alarm ? " (a false alarm: it is up)" : ""}`;
    case "role":
      return r.role === "leader"
        ? `${n} became leader of term ${r.term}`
        : `${n} is ${r.role} in term ${r.term}${r.leader ? `, leader ${r.leader}` : ", no leader known"}`;
    case "timer":
      return `${n}: ${r.timer ? `${r.timer} timer fired` : "a tick did work (election timeout or heartbeat)"}`;
    case "sync":
      return `${n} fsynced: log up to ${r.last} and commit ${r.commit} durable`;
    case "commit":
      return `index ${r.index} (term ${r.term}) committed${r.cmd === null ? " (no-op)" : `: ${r.cmd}`}`;
    case "apply":
      return `${n} applied index ${r.index}`;
    case "restore":
      return `${n} restored a snapshot up to index ${r.index} (term ${r.term})`;
    case "compact":
      return `${n} snapshotted and compacted its log up to ${r.index}`;
    case "crash":
      return `${n} crashed${r.point ? ` (${r.point})` : ""}${r.reason ? `: ${r.reason}` : ""}; its disk kept the log up to ${r.durableLast}, term ${r.term}`;
    case "start":
      return `${n} started from its disk: log up to ${r.last}, term ${r.term}`;
    case "pause":
      return `${n} paused for ${formatTime(r.ms as number)}`;
    case "resume":
      return `${n} resumed`;
    case "skew":
      return r.rate === 1 ? `${n}'s clock runs true again` : `${n}'s clock runs at ${r.rate}x`;
    case "transfer":
      return `leader ${r.node} asked to transfer leadership to ${r.to}${r.ok ? "" : " (refused)"}`;
    case "disk":
      return `${n} disk: ${r.fault}${typeof r.ms === "number" ? ` (${formatTime(r.ms)})` : ""}`;
    case "call":
      return `client ${r.client} op ${r.op}: ${r.kind} ${r.key}${typeof r.value === "string" ? ` = ${r.value}` : ""} sent to node ${r.node}`;
    case "return":
      return `op ${r.op} returned ${r.outcome}${r.value !== undefined ? `: ${JSON.stringify(r.value)}` : ""}${typeof r.index === "number" ? ` at index ${r.index}` : ""}`;
    case "propose":
      return `leader ${r.node} appended op ${r.op} at index ${r.index} (term ${r.term})`;
    case "read-index":
      return `leader ${r.node} confirmed read op ${r.op} at index ${r.index}`;
    case "member":
      return `leader ${r.node} asked to ${r.action} node ${r.target}${r.ok ? "" : " (refused)"}`;
    case "conf":
      return `${n} applied a configuration at ${r.index}: voters ${(r.voters as number[]).join(",")}${(r.learners as number[]).length ? `, learners ${(r.learners as number[]).join(",")}` : ""}`;
    case "violation":
      return `VIOLATION ${r.invariant}: ${r.message}`;
    default:
      return JSON.stringify(r);
  }
}
