// @ts-check
// What the viewer shows: the visible time range, the selected record, the filters, and their
// round trip through the URL hash, so a link reproduces the view:
//
//   #from=1200&to=3400&sel=57&hide-nodes=3&hide-types=heartbeat,heartbeat-resp&hide-events=log
//
// `sel` is the record's line number in the trace file (1-based); times are virtual ms.

import { FAULT_KINDS } from "../../dist/sim/trace-schema.js";

/** Event groups for the "Events" filter: trace record kinds by what they are about. */
export const EVENT_GROUPS = {
  messages: ["deliver", "drop", "dup"],
  roles: ["role"],
  log: ["commit", "apply", "sync", "compact", "restore"],
  timers: ["timer"],
  faults: [...FAULT_KINDS],
  client: ["call", "return", "propose", "read-index"],
};

/** @type {Record<string, string>} */
export const GROUP_LABELS = {
  messages: "messages",
  roles: "role and term changes",
  log: "commits, applies, fsyncs, snapshots",
  timers: "timers",
  faults: "faults, crashes, restarts",
  client: "client operations",
  other: "other records",
};

/** @type {Map<string, string>} */
const GROUP_OF = new Map();
for (const [group, kinds] of Object.entries(EVENT_GROUPS))
  for (const k of kinds) GROUP_OF.set(k, group);

/**
 * The filter group of a record kind ("other" for the header, configuration and unknown kinds;
 * the violation belongs to no group and is never hidden).
 * @param {string} kind
 */
export function groupOf(kind) {
  return GROUP_OF.get(kind) ?? "other";
}

export class ViewState {
  /**
   * @param {number} end the trace's last time
   */
  constructor(end) {
    this.end = end;
    this.t0 = 0;
    this.t1 = Math.max(end, 1);
    /** Selected record index (0-based), or -1. */
    this.sel = -1;
    /** @type {Set<number>} */
    this.hiddenNodes = new Set();
    /** @type {Set<string>} */
    this.hiddenTypes = new Set();
    /** @type {Set<string>} */
    this.hiddenGroups = new Set();
  }

  /** The smallest visible span (ms): below that, nothing more is to be seen. */
  static MIN_SPAN = 2;

  /**
   * Show [t0, t1], kept inside a margin around the trace and at least MIN_SPAN long.
   * @param {number} t0
   * @param {number} t1
   */
  setRange(t0, t1) {
    const margin = Math.max(this.end * 0.05, 10);
    let span = Math.max(ViewState.MIN_SPAN, Math.min(t1 - t0, this.end + 2 * margin));
    if (!Number.isFinite(span)) span = this.end || 1;
    let a = Number.isFinite(t0) ? t0 : 0;
    a = Math.min(Math.max(a, -margin), this.end + margin - span);
    this.t0 = a;
    this.t1 = a + span;
  }

  fit() {
    const pad = Math.max(this.end * 0.01, 1);
    this.setRange(-pad, this.end + pad);
  }

  /**
   * Zoom by `factor` (< 1 zooms in) keeping time `at` where it is on screen.
   * @param {number} factor
   * @param {number} at
   */
  zoom(factor, at) {
    const f = (at - this.t0) / (this.t1 - this.t0);
    const span = (this.t1 - this.t0) * factor;
    this.setRange(at - f * span, at - f * span + span);
  }

  /** @param {number} dt */
  pan(dt) {
    this.setRange(this.t0 + dt, this.t1 + dt);
  }

  /** Centre the range on `t` if `t` is outside its middle 90%. @param {number} t */
  reveal(t) {
    const span = this.t1 - this.t0;
    if (t < this.t0 + span * 0.05 || t > this.t1 - span * 0.05)
      this.setRange(t - span / 2, t + span / 2);
  }

  toHash() {
    const p = new URLSearchParams();
    p.set("from", String(round(this.t0)));
    p.set("to", String(round(this.t1)));
    if (this.sel >= 0) p.set("sel", String(this.sel + 1));
    if (this.hiddenNodes.size > 0)
      p.set("hide-nodes", [...this.hiddenNodes].sort((a, b) => a - b).join(","));
    if (this.hiddenTypes.size > 0) p.set("hide-types", [...this.hiddenTypes].sort().join(","));
    if (this.hiddenGroups.size > 0) p.set("hide-events", [...this.hiddenGroups].sort().join(","));
    // URLSearchParams escapes commas; they are safe in a fragment and easier to read.
    return p.toString().replaceAll("%2C", ",");
  }

  /**
   * Applies a hash made by toHash (leading "#" optional); values that do not parse, or name
   * nothing in this trace, are ignored. Returns false if the hash had no view in it.
   * @param {string} hash
   * @param {{ records: number, nodes: number[] }} trace
   */
  applyHash(hash, trace) {
    const p = new URLSearchParams(hash.replace(/^#/, ""));
    const from = Number(p.get("from"));
    const to = Number(p.get("to"));
    const hasRange =
      p.has("from") && p.has("to") && Number.isFinite(from) && Number.isFinite(to) && to > from;
    if (hasRange) this.setRange(from, to);
    const sel = Number(p.get("sel"));
    this.sel =
      p.has("sel") && Number.isInteger(sel) && sel >= 1 && sel <= trace.records ? sel - 1 : -1;
    this.hiddenNodes = new Set(
      list(p.get("hide-nodes"))
        .map(Number)
        .filter((n) => trace.nodes.includes(n)),
    );
    this.hiddenTypes = new Set(list(p.get("hide-types")));
    this.hiddenGroups = new Set(list(p.get("hide-events")).filter((g) => g in GROUP_LABELS));
    return hasRange || this.sel >= 0;
  }
}

/** @param {string | null} s */
function list(s) {
  return s ? s.split(",").filter((x) => x !== "") : [];
}

/** @param {number} v */
function round(v) {
  return Math.round(v * 1000) / 1000;
}
