// @ts-check
// The space-time diagram on one canvas: a time axis, a cluster row (commits, partitions, the
// violation), a client row when the trace has client operations, and one lane per node with
// its timeline: a bar in the colour of its role, labelled with its term, that messages leave
// from and arrive at.
//
//   ┌──────┬───────────────────────────────────────────── time axis ──┐
//   │cluster│  ▮commit 12    partition 1,2|3             ✖ violation   │
//   │       │  T3 leader                                                │
//   │node 1 │ ▬▬●▬▬▬▬▬▬╲▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬ │
//   │       │  T3       ╲                                               │
//   │node 2 │ ▬▬▬▬▬▬▬▬▬▬▬➤▬▬▬▬▬ ✕ ▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬ │
//
// Nothing is a DOM node: each frame draws what is in view, found by binary search over the
// model's sorted series. When more messages are in view than can be told apart, lanes show
// per-pixel-column counts of sends and drops instead (the model's exact bucket counts), and
// dense point events (fsyncs, applies, timers) become tick marks the same way.

import { bucketCounts, lowerBound, upperBound } from "../../dist/sim/view/lookup.js";
import { FATE_DROPPED, FLAG_DUP, FLAG_LATE, messageTypeName } from "../../dist/sim/view/model.js";
import { COLORS, DASH, GROUP_TINTS, MESSAGE_COLORS, ROLE_COLORS, ROLE_SHORT } from "./palette.js";
import { groupOf } from "./view-state.js";

/** @typedef {import("../../dist/sim/view/model.js").TraceModel} TraceModel */
/** @typedef {import("./view-state.js").ViewState} ViewState */

const AXIS_H = 26;
const CLUSTER_H = 40;
/** Lane height bounds: lanes share the height available, within these. */
const MIN_LANE_H = 60;
const MAX_LANE_H = 150;
export const LABEL_W = 76;
const RIGHT_PAD = 14;
const BOTTOM_PAD = 8;
/** The node's timeline: a bar in the colour of its role, BAR_H thick, around the axis line. */
const BAR_H = 6;
/** Above this many arrows in view, lanes show aggregated counts instead. */
export const MAX_ARROWS = 3000;
/** Above this many records in view, dense kinds are drawn as aggregated ticks. */
const MAX_POINTS = 6000;
const DENSE = new Set(["sync", "apply", "timer", "dup"]);
const MESSAGE_KINDS = new Set(["deliver", "drop"]);
/** Kinds drawn in the cluster row (records without a node). */
const CLUSTER_KINDS = new Set([
  "commit",
  "partition",
  "cut",
  "heal",
  "violation",
  "phase",
  "trace",
  "config",
]);
const CLIENT_KINDS = new Set(["call", "return"]);

export class Timeline {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {TraceModel} model
   * @param {ViewState} state
   */
  constructor(canvas, model, state) {
    this.canvas = canvas;
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("no 2D canvas");
    this.ctx = ctx;
    this.model = model;
    this.state = state;
    this.width = 0;
    this.height = 0;
    this.laneH = MIN_LANE_H;
    /** Lane-relative y of the axis line. */
    this.axisOffset = axisIn(MIN_LANE_H);
    /** Height offered by the page (resize); lanes grow to fill it. */
    this.availableH = 0;
    /** @type {number[]} visible nodes, top to bottom */
    this.rows = [];
    /** @type {Map<number, number>} node -> row */
    this.rowOf = new Map();
    /** @type {Map<number, number>} node -> index in model.nodes (LinkSpan.nodes order) */
    this.nodeIndex = new Map(model.nodes.map((n, i) => [n, i]));
    this.clients = [...new Set(model.ops.map((o) => o.client))].sort((a, b) => a - b);
    this.clientH = this.clients.length > 0 ? Math.max(26, this.clients.length * 8 + 12) : 0;
    this.commitTimes = Float64Array.from(model.commits.map((c) => c.t));
    this.opCalls = Float64Array.from(model.ops.map((o) => o.call));
    /** Arrows of the last frame, for hit tests: x1, y1, x2, y2 per arrow, and its record. */
    this.arrowXY = new Float32Array(4 * MAX_ARROWS);
    this.arrowSeq = new Int32Array(MAX_ARROWS);
    this.arrowCount = 0;
    /** Whether the last frame aggregated messages (and how many were in view). */
    this.aggregated = false;
    this.messagesInView = 0;
    this.updateRows();
  }

  /** Recompute which lanes are shown (after a node filter change). */
  updateRows() {
    this.rows = this.model.nodes.filter((n) => !this.state.hiddenNodes.has(n));
    this.rowOf = new Map(this.rows.map((n, i) => [n, i]));
  }

  /** The canvas height (CSS px) the lanes need at the current lane height. */
  neededHeight() {
    return this.laneTop(this.rows.length) + BOTTOM_PAD;
  }

  /**
   * Size the canvas to `width` CSS pixels, its lanes sharing `height` (or taller, at the
   * minimum lane height, when there are many), sharp on HiDPI.
   * @param {number} width
   * @param {number} height
   */
  resize(width, height = this.availableH) {
    const dpr = window.devicePixelRatio || 1;
    this.availableH = height;
    const fixed = AXIS_H + CLUSTER_H + this.clientH + BOTTOM_PAD;
    const share = Math.floor((height - fixed) / Math.max(1, this.rows.length));
    this.laneH = Math.max(MIN_LANE_H, Math.min(MAX_LANE_H, share));
    this.axisOffset = axisIn(this.laneH);
    this.width = Math.max(200, Math.floor(width));
    this.height = this.neededHeight();
    this.canvas.width = Math.round(this.width * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  get plotW() {
    return this.width - LABEL_W - RIGHT_PAD;
  }

  /** @param {number} t */
  x(t) {
    const s = this.state;
    return LABEL_W + ((t - s.t0) / (s.t1 - s.t0)) * this.plotW;
  }

  /** @param {number} x */
  timeAt(x) {
    const s = this.state;
    return s.t0 + ((x - LABEL_W) / this.plotW) * (s.t1 - s.t0);
  }

  /** @param {number} row */
  laneTop(row) {
    return AXIS_H + CLUSTER_H + this.clientH + row * this.laneH;
  }

  /** @param {number} node */
  axisY(node) {
    const row = this.rowOf.get(node);
    return row === undefined ? null : this.laneTop(row) + this.axisOffset;
  }

  /**
   * Whether record `seq` passes the filters (the violation always does).
   * @param {number} seq
   */
  visible(seq) {
    const m = this.model;
    const s = this.state;
    const kind = m.kinds[m.events.kind[seq] ?? 0] ?? "";
    if (kind === "violation") return true;
    if (s.hiddenGroups.has(groupOf(kind))) return false;
    const node = m.events.node[seq] ?? 0;
    if (node > 0 && s.hiddenNodes.has(node)) return false;
    const rec = m.records[seq];
    if (
      rec &&
      typeof rec.type === "string" &&
      (kind === "deliver" || kind === "drop" || kind === "dup")
    ) {
      if (s.hiddenTypes.has(rec.type)) return false;
      if (
        s.hiddenNodes.has(/** @type {number} */ (rec.from)) ||
        s.hiddenNodes.has(/** @type {number} */ (rec.to))
      )
        return false;
    }
    return true;
  }

  draw() {
    const ctx = this.ctx;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, this.width, this.height);
    ctx.save();
    ctx.beginPath();
    ctx.rect(LABEL_W, 0, this.plotW, this.height);
    ctx.clip();
    this.drawGrid();
    this.drawLinkShading();
    this.drawLanes();
    this.drawClusterRow();
    if (this.clientH > 0) this.drawClientRow();
    this.drawMessages();
    this.drawPoints();
    this.drawViolation();
    this.drawSelection();
    ctx.restore();
    this.drawLabels();
  }

  // --- Time axis and grid -------------------------------------------------------------------

  drawGrid() {
    const ctx = this.ctx;
    const s = this.state;
    const step = niceStep((s.t1 - s.t0) / Math.max(1, this.plotW / 110));
    const decimals = Math.max(0, Math.ceil(-Math.log10(step / 1000) - 1e-9));
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    for (let t = Math.ceil(s.t0 / step) * step; t <= s.t1; t += step) {
      const x = Math.round(this.x(t)) + 0.5;
      ctx.fillStyle = COLORS.grid;
      ctx.fillRect(x, AXIS_H - 4, 1, this.height - AXIS_H);
      ctx.fillStyle = COLORS.muted;
      ctx.fillText(`${(t / 1000).toFixed(decimals)} s`, x, AXIS_H / 2);
    }
    ctx.fillStyle = COLORS.laneLine;
    ctx.fillRect(LABEL_W, AXIS_H - 1, this.plotW, 1);
  }

  // --- Partitions and cuts ------------------------------------------------------------------

  drawLinkShading() {
    const ctx = this.ctx;
    const s = this.state;
    for (const span of this.model.links) {
      if (span.end < s.t0 || span.start > s.t1) continue;
      const x0 = this.x(span.start);
      const w = Math.max(1, this.x(span.end) - x0);
      for (const node of this.rows) {
        const info = span.nodes[this.nodeIndex.get(node) ?? -1];
        if (!info || (info.noSend.length === 0 && info.noHear.length === 0)) continue;
        const top = this.laneTop(this.rowOf.get(node) ?? 0);
        if (info.group > 0) {
          ctx.fillStyle = GROUP_TINTS[(info.group - 1) % GROUP_TINTS.length] ?? GROUP_TINTS[0];
          ctx.fillRect(x0, top, w, this.laneH);
        } else {
          // One-way cuts only: hatched.
          ctx.save();
          ctx.beginPath();
          ctx.rect(x0, top, w, this.laneH);
          ctx.clip();
          ctx.strokeStyle = COLORS.cutHatch;
          ctx.lineWidth = 1;
          ctx.beginPath();
          for (let hx = x0 - this.laneH; hx < x0 + w; hx += 8) {
            ctx.moveTo(hx, top + this.laneH);
            ctx.lineTo(hx + this.laneH, top);
          }
          ctx.stroke();
          ctx.restore();
        }
      }
      // Its description in the cluster row, clipped to the span.
      if (w > 24) {
        ctx.save();
        ctx.beginPath();
        ctx.rect(x0, AXIS_H, w, CLUSTER_H);
        ctx.clip();
        ctx.fillStyle = "rgba(179, 38, 30, 0.10)";
        ctx.fillRect(x0, AXIS_H + 24, w, 14);
        ctx.fillStyle = COLORS.text;
        ctx.font = "11px system-ui, sans-serif";
        ctx.textAlign = "left";
        ctx.textBaseline = "middle";
        ctx.fillText(span.label, Math.max(x0, LABEL_W) + 3, AXIS_H + 31);
        ctx.restore();
      }
    }
  }

  // --- Lanes: role strips, down/paused/skewed spans, axis lines -----------------------------

  drawLanes() {
    const ctx = this.ctx;
    const s = this.state;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    for (const node of this.rows) {
      const lane = this.model.lanes.get(node);
      if (!lane) continue;
      const top = this.laneTop(this.rowOf.get(node) ?? 0);
      const axis = top + this.axisOffset;
      ctx.fillStyle = COLORS.grid;
      ctx.fillRect(LABEL_W, top, this.plotW, 1);
      ctx.fillStyle = COLORS.grid;
      ctx.fillRect(LABEL_W, axis, this.plotW, 1);
      // Labels never overlap: one that would start before the previous one ends is left out.
      let labelEnd = Number.NEGATIVE_INFINITY;
      for (const span of lane.roles) {
        if (span.end < s.t0 || span.start > s.t1) continue;
        const x0 = this.x(span.start);
        const w = Math.max(1, this.x(span.end) - x0);
        ctx.fillStyle = ROLE_COLORS[span.role] ?? "#cccccc";
        ctx.fillRect(x0, axis - BAR_H / 2, w, BAR_H);
        const lx = Math.max(x0, LABEL_W) + 3;
        const room = x0 + w - lx - 3;
        if (lx >= labelEnd) {
          // The term and role if they fit, else the term alone, else nothing.
          const role = ROLE_SHORT[span.role] ?? span.role;
          const text = [role ? `T${span.term} ${role}` : "", `T${span.term}`].find(
            (t) => t !== "" && ctx.measureText(t).width <= room,
          );
          if (text) {
            ctx.fillStyle = COLORS.text;
            ctx.fillText(text, lx, axis - 17);
            labelEnd = lx + ctx.measureText(text).width + 4;
          }
        }
      }
      for (const span of lane.down) this.band(span, axis - 9, 18, COLORS.down, "down");
      for (const span of lane.paused) this.band(span, axis - 6, 12, COLORS.paused, "paused");
      for (const span of lane.skewed) {
        if (span.end < s.t0 || span.start > s.t1) continue;
        ctx.fillStyle = COLORS.muted;
        ctx.fillText(
          `clock ×${span.rate}`,
          Math.max(this.x(span.start), LABEL_W) + 3,
          top + this.laneH - 7,
        );
      }
    }
  }

  /**
   * A filled band over a span of a lane, labelled when wide enough.
   * @param {{start: number, end: number}} span
   * @param {number} y
   * @param {number} h
   * @param {string} color
   * @param {string} label
   */
  band(span, y, h, color, label) {
    const s = this.state;
    if (span.end < s.t0 || span.start > s.t1) return;
    const ctx = this.ctx;
    const x0 = this.x(span.start);
    const w = Math.max(2, this.x(span.end) - x0);
    ctx.fillStyle = color;
    ctx.fillRect(x0, y, w, h);
    if (w > 40) {
      ctx.fillStyle = "#ffffff";
      ctx.fillText(label, Math.max(x0, LABEL_W) + 4, y + h / 2 + 0.5);
    }
  }

  // --- Cluster row: commits -----------------------------------------------------------------

  drawClusterRow() {
    const ctx = this.ctx;
    const s = this.state;
    const top = AXIS_H;
    ctx.fillStyle = COLORS.grid;
    ctx.fillRect(LABEL_W, top + CLUSTER_H - 1, this.plotW, 1);
    const lo = lowerBound(this.commitTimes, s.t0);
    const hi = upperBound(this.commitTimes, s.t1);
    if (hi - lo > this.plotW / 3) {
      // Zoomed out: how many entries committed per pixel column.
      const cols = Math.max(1, Math.floor(this.plotW / 2));
      const counts = bucketCounts(this.commitTimes, s.t0, s.t1, cols);
      const max = Math.max(1, ...counts);
      ctx.fillStyle = COLORS.commit;
      for (let k = 0; k < cols; k++) {
        const c = counts[k] ?? 0;
        if (c === 0) continue;
        const hgt = 2 + (14 * Math.log1p(c)) / Math.log1p(max);
        ctx.fillRect(LABEL_W + k * 2, top + 20 - hgt, 2, hgt);
      }
      return;
    }
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    let lastLabel = Number.NEGATIVE_INFINITY;
    for (let i = lo; i < hi; i++) {
      const c = this.model.commits[i];
      if (!c || !this.visible(c.seq)) continue;
      const x = this.x(c.t);
      ctx.fillStyle = COLORS.commit;
      ctx.fillRect(x - 1, top + 6, 2, 14);
      if (x - lastLabel > 34) {
        ctx.fillText(String(c.index), x + 3, top + 16);
        lastLabel = x;
      }
    }
  }

  // --- Client row: operations from call to return -------------------------------------------

  drawClientRow() {
    const ctx = this.ctx;
    const s = this.state;
    const top = AXIS_H + CLUSTER_H;
    ctx.fillStyle = COLORS.grid;
    ctx.fillRect(LABEL_W, top + this.clientH - 1, this.plotW, 1);
    if (s.hiddenGroups.has("client")) return;
    // Operations last at most until the trace ends: scan from the first call that may be in view.
    for (let i = 0; i < this.model.ops.length; i++) {
      const op = this.model.ops[i];
      if (!op || op.call > s.t1) break;
      const end = op.ret ?? this.model.end;
      if (end < s.t0 || (op.node > 0 && s.hiddenNodes.has(op.node))) continue;
      const y = top + 8 + this.clients.indexOf(op.client) * 8;
      const x0 = this.x(op.call);
      const x1 = Math.max(x0 + 2, this.x(end));
      ctx.strokeStyle =
        op.outcome === "ok"
          ? COLORS.opOk
          : op.outcome === "fail"
            ? COLORS.opFail
            : COLORS.opTimeout;
      ctx.lineWidth = 3;
      ctx.setLineDash(op.outcome === "ok" || op.outcome === "fail" ? [] : [4, 3]);
      ctx.beginPath();
      ctx.moveTo(x0, y);
      ctx.lineTo(x1, y);
      ctx.stroke();
      ctx.setLineDash([]);
      // Reads start with a hollow circle, writes with a filled one.
      ctx.beginPath();
      ctx.arc(x0, y, 3, 0, Math.PI * 2);
      if (op.kind === "get") {
        ctx.fillStyle = "#ffffff";
        ctx.fill();
        ctx.lineWidth = 1.5;
        ctx.stroke();
      } else {
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fill();
      }
    }
  }

  // --- Messages -----------------------------------------------------------------------------

  drawMessages() {
    const ctx = this.ctx;
    const s = this.state;
    const m = this.model.messages;
    this.arrowCount = 0;
    if (s.hiddenGroups.has("messages")) {
      this.aggregated = false;
      this.messagesInView = 0;
      return;
    }
    // A message is in view if it was sent before t1 and its fate came after t0; fates are
    // sorted by time and no flight is longer than maxFlight.
    const lo = lowerBound(m.t, s.t0);
    const hi = upperBound(m.t, s.t1 + m.maxFlight);
    let inView = 0;
    for (let i = lo; i < hi; i++) if ((m.sent[i] ?? 0) <= s.t1) inView++;
    this.messagesInView = inView;
    this.aggregated = inView > MAX_ARROWS;
    if (this.aggregated) {
      this.drawAggregatedMessages();
      return;
    }
    /** @type {Map<string, {path: Path2D, heads: Path2D, color: string, dash: number[], width: number}>} */
    const styles = new Map();
    const crosses = new Path2D();
    for (let i = lo; i < hi; i++) {
      const sent = m.sent[i] ?? 0;
      if (sent > s.t1) continue;
      const seq = m.seq[i] ?? 0;
      if (!this.visible(seq)) continue;
      const y1 = this.axisY(m.from[i] ?? 0);
      const y2 = this.axisY(m.to[i] ?? 0);
      if (y1 === null || y2 === null) continue;
      const type = messageTypeName(m.type[i] ?? 255);
      const flags = m.flags[i] ?? 0;
      const dropped = m.fate[i] === FATE_DROPPED;
      const late = (flags & FLAG_LATE) !== 0;
      const dup = (flags & FLAG_DUP) !== 0;
      const key = `${type}|${dropped ? "d" : dup ? "u" : "n"}|${late ? "l" : ""}`;
      let st = styles.get(key);
      if (!st) {
        st = {
          path: new Path2D(),
          heads: new Path2D(),
          color: MESSAGE_COLORS[type] ?? MESSAGE_COLORS.unknown,
          dash: dropped ? DASH.dropped : dup ? DASH.dup : DASH.delivered,
          width: late ? 2.4 : 1.2,
        };
        styles.set(key, st);
      }
      const x1 = this.x(sent);
      let x2 = this.x(m.t[i] ?? 0);
      let yEnd = y2;
      if (dropped && (m.t[i] ?? 0) === sent) {
        // Never left the sender: a short stub toward the receiver.
        x2 = x1 + 14;
        yEnd = y1 + (y2 - y1) * 0.3;
      }
      st.path.moveTo(x1, y1);
      st.path.lineTo(x2, yEnd);
      if (late) {
        st.path.moveTo(x1 + 3, y1);
        st.path.arc(x1, y1, 3, 0, Math.PI * 2);
      }
      if (dropped) cross(crosses, x2, yEnd, 4);
      else arrowHead(st.heads, x1, y1, x2, yEnd);
      const k = this.arrowCount++;
      this.arrowXY[4 * k] = x1;
      this.arrowXY[4 * k + 1] = y1;
      this.arrowXY[4 * k + 2] = x2;
      this.arrowXY[4 * k + 3] = yEnd;
      this.arrowSeq[k] = seq;
    }
    for (const st of styles.values()) {
      ctx.strokeStyle = st.color;
      ctx.fillStyle = st.color;
      ctx.lineWidth = st.width;
      ctx.setLineDash(st.dash);
      ctx.stroke(st.path);
      ctx.setLineDash([]);
      ctx.fill(st.heads);
    }
    ctx.strokeStyle = COLORS.dropX;
    ctx.lineWidth = 1.8;
    ctx.stroke(crosses);
  }

  /** Too many messages to draw one by one: per-pixel-column counts of sends and drops. */
  drawAggregatedMessages() {
    const ctx = this.ctx;
    const s = this.state;
    const colW = 2;
    const cols = Math.max(1, Math.floor(this.plotW / colW));
    /** @type {[number, Uint32Array, Uint32Array][]} */
    const perLane = [];
    let max = 1;
    for (const node of this.rows) {
      const sends = bucketCounts(
        this.model.sendTimes.get(node) ?? new Float64Array(),
        s.t0,
        s.t1,
        cols,
      );
      const drops = bucketCounts(
        this.model.dropTimes.get(node) ?? new Float64Array(),
        s.t0,
        s.t1,
        cols,
      );
      for (const c of sends) if (c > max) max = c;
      perLane.push([node, sends, drops]);
    }
    const scale = 1 / Math.log1p(max);
    // Sends grow down from the bar's lower edge, drops up from its upper edge.
    const below = this.laneH - this.axisOffset - BAR_H / 2 - 4;
    const above = 12;
    for (const [node, sends, drops] of perLane) {
      const axis = this.axisY(node) ?? 0;
      for (let k = 0; k < cols; k++) {
        const x = LABEL_W + k * colW;
        const sc = sends[k] ?? 0;
        if (sc > 0) {
          ctx.fillStyle = COLORS.aggregate;
          ctx.fillRect(x, axis + BAR_H / 2 + 1, colW, 1 + (below - 1) * Math.log1p(sc) * scale);
        }
        const dc = drops[k] ?? 0;
        if (dc > 0) {
          const hgt = Math.min(above, 1 + (above - 1) * Math.log1p(dc) * scale);
          ctx.fillStyle = COLORS.aggregateDrop;
          ctx.fillRect(x, axis - BAR_H / 2 - 1 - hgt, colW, hgt);
        }
      }
    }
  }

  // --- Point events -------------------------------------------------------------------------

  drawPoints() {
    const ctx = this.ctx;
    const s = this.state;
    const ev = this.model.events;
    const lo = lowerBound(ev.t, s.t0);
    const hi = upperBound(ev.t, s.t1);
    const aggregateDense = hi - lo > MAX_POINTS;
    const kinds = this.model.kinds;
    for (let i = lo; i < hi; i++) {
      const kind = kinds[ev.kind[i] ?? 0] ?? "";
      if (
        MESSAGE_KINDS.has(kind) ||
        CLUSTER_KINDS.has(kind) ||
        CLIENT_KINDS.has(kind) ||
        kind === "role"
      )
        continue;
      if (aggregateDense && DENSE.has(kind)) continue;
      const node = ev.node[i] ?? 0;
      const y = this.axisY(node);
      if (y === null || !this.visible(i)) continue;
      glyph(ctx, kind, this.x(ev.t[i] ?? 0), y, this.model.records[i]);
    }
    if (aggregateDense) this.drawDenseTicks();
  }

  /** Zoomed out: fsyncs, applies and timers as one tick per pixel column that has any. */
  drawDenseTicks() {
    const ctx = this.ctx;
    const s = this.state;
    const cols = Math.max(1, Math.floor(this.plotW / 2));
    /** @type {[string, number, string][]} kind, y offset from the axis, colour */
    const rows = [
      ["timer", -6, COLORS.timer],
      ["apply", 7, COLORS.apply],
    ];
    for (const node of this.rows) {
      const axis = this.axisY(node) ?? 0;
      for (const [kind, dy, color] of rows) {
        if (s.hiddenGroups.has(groupOf(kind))) continue;
        const counts = bucketCounts(this.model.timesOf(kind, node), s.t0, s.t1, cols);
        ctx.fillStyle = color;
        for (let k = 0; k < cols; k++)
          if ((counts[k] ?? 0) > 0) ctx.fillRect(LABEL_W + k * 2, axis + dy - 1, 2, 2);
      }
    }
  }

  // --- Violation and selection --------------------------------------------------------------

  drawViolation() {
    const v = this.model.violation;
    if (!v) return;
    const ctx = this.ctx;
    const x = Math.round(this.x(v.t)) + 0.5;
    ctx.strokeStyle = COLORS.violation;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, AXIS_H);
    ctx.lineTo(x, this.height);
    ctx.stroke();
    ctx.fillStyle = COLORS.violation;
    ctx.font = "bold 12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const text = `✖ ${v.invariant}`;
    const w = ctx.measureText(text).width;
    const tx = x + 4 + w > LABEL_W + this.plotW ? x - 4 - w : x + 4;
    ctx.textAlign = "left";
    ctx.fillText(text, tx, AXIS_H + 10);
  }

  drawSelection() {
    const seq = this.state.sel;
    if (seq < 0 || seq >= this.model.events.count) return;
    const ctx = this.ctx;
    const t = this.model.events.t[seq] ?? 0;
    const x = Math.round(this.x(t)) + 0.5;
    ctx.strokeStyle = COLORS.selection;
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(x, AXIS_H);
    ctx.lineTo(x, this.height);
    ctx.stroke();
    ctx.setLineDash([]);
    const msg = this.model.events.msg[seq] ?? -1;
    ctx.lineWidth = 3;
    if (msg >= 0) {
      const m = this.model.messages;
      const y1 = this.axisY(m.from[msg] ?? 0);
      const y2 = this.axisY(m.to[msg] ?? 0);
      if (y1 === null || y2 === null) return;
      const x1 = this.x(m.sent[msg] ?? 0);
      const atSend = m.fate[msg] === FATE_DROPPED && m.t[msg] === m.sent[msg];
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(atSend ? x1 + 14 : x, atSend ? y1 + (y2 - y1) * 0.3 : y2);
      ctx.stroke();
      return;
    }
    const y = this.selectionY(seq);
    ctx.beginPath();
    ctx.arc(x, y, 8, 0, Math.PI * 2);
    ctx.stroke();
  }

  /**
   * Where record `seq` is drawn, vertically.
   * @param {number} seq
   */
  selectionY(seq) {
    const kind = this.model.kinds[this.model.events.kind[seq] ?? 0] ?? "";
    const node = this.model.events.node[seq] ?? 0;
    if (CLIENT_KINDS.has(kind) && this.clientH > 0) {
      const op = this.model.ops.find((o) => o.callSeq === seq || o.retSeq === seq);
      return AXIS_H + CLUSTER_H + 8 + (op ? this.clients.indexOf(op.client) * 8 : 0);
    }
    if (node === 0 || CLUSTER_KINDS.has(kind)) return AXIS_H + 14;
    const axis = this.axisY(node);
    if (axis === null) return AXIS_H + 14;
    return axis;
  }

  // --- Labels (outside the clip) ------------------------------------------------------------

  drawLabels() {
    const ctx = this.ctx;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, LABEL_W, this.height);
    ctx.fillStyle = COLORS.text;
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText("cluster", 8, AXIS_H + 14);
    if (this.clientH > 0) ctx.fillText("clients", 8, AXIS_H + CLUSTER_H + 10);
    for (const node of this.rows) {
      const top = this.laneTop(this.rowOf.get(node) ?? 0);
      ctx.fillText(`node ${node}`, 8, top + this.axisOffset);
    }
    ctx.fillStyle = COLORS.laneLine;
    ctx.fillRect(LABEL_W - 1, AXIS_H, 1, this.height - AXIS_H);
  }

  // --- Hit testing --------------------------------------------------------------------------

  /**
   * The record drawn nearest to (px, py), within a few pixels, or -1.
   * @param {number} px
   * @param {number} py
   */
  hitTest(px, py) {
    if (px < LABEL_W || py < AXIS_H) return -1;
    const ev = this.model.events;
    const kinds = this.model.kinds;
    const tA = this.timeAt(px - 7);
    const tB = this.timeAt(px + 7);
    const lo = lowerBound(ev.t, tA);
    const hi = upperBound(ev.t, tB);
    let best = -1;
    let bestD = 7;
    const row = this.rowAt(py);
    for (let i = lo; i < hi; i++) {
      const kind = kinds[ev.kind[i] ?? 0] ?? "";
      if (MESSAGE_KINDS.has(kind) || !this.visible(i)) continue;
      const y = this.selectionY(i);
      if (Math.abs(y - py) > (row === null ? 12 : this.laneH / 2)) continue;
      const d = Math.abs(this.x(ev.t[i] ?? 0) - px) + Math.abs(y - py) * 0.25;
      // Rare events win over dense ones at the same spot.
      const penalty = DENSE.has(kind) ? 2 : 0;
      if (d + penalty < bestD) {
        bestD = d + penalty;
        best = i;
      }
    }
    for (let k = 0; k < this.arrowCount; k++) {
      const d = segmentDistance(
        px,
        py,
        this.arrowXY[4 * k] ?? 0,
        this.arrowXY[4 * k + 1] ?? 0,
        this.arrowXY[4 * k + 2] ?? 0,
        this.arrowXY[4 * k + 3] ?? 0,
      );
      if (d < Math.min(bestD, 5)) {
        bestD = d;
        best = this.arrowSeq[k] ?? -1;
      }
    }
    if (best >= 0) return best;
    // On a node's bar: the record that began that role (or the crash, where it is down).
    if (row !== null && Math.abs(row.offset - this.axisOffset) <= 9) {
      const lane = this.model.lanes.get(row.node);
      const t = this.timeAt(px);
      const down = lane?.down.find((d) => d.start <= t && t < d.end);
      if (down) return down.seq;
      const span = lane?.roles.find((r) => r.start <= t && t < r.end);
      if (span) return span.seq;
    }
    return -1;
  }

  /**
   * The lane at height py: its node and the offset within it, or null outside the lanes.
   * @param {number} py
   */
  rowAt(py) {
    const first = this.laneTop(0);
    if (py < first) return null;
    const r = Math.floor((py - first) / this.laneH);
    const node = this.rows[r];
    return node === undefined ? null : { node, offset: py - this.laneTop(r) };
  }
}

/**
 * Where a lane of height `h` has its axis line: room above for the term labels and dropped
 * messages' counts, below for applies, fsyncs and sends' counts.
 * @param {number} h
 */
function axisIn(h) {
  return Math.max(36, Math.round(h * 0.55));
}

/**
 * A round time step near `raw` ms: 1, 2 or 5 times a power of ten.
 * @param {number} raw
 */
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-3)));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/**
 * @param {Path2D} path
 * @param {number} x1
 * @param {number} y1
 * @param {number} x2
 * @param {number} y2
 */
function arrowHead(path, x1, y1, x2, y2) {
  const a = Math.atan2(y2 - y1, x2 - x1);
  const size = 6;
  path.moveTo(x2, y2);
  path.lineTo(x2 - size * Math.cos(a - 0.4), y2 - size * Math.sin(a - 0.4));
  path.lineTo(x2 - size * Math.cos(a + 0.4), y2 - size * Math.sin(a + 0.4));
  path.closePath();
}

/**
 * @param {CanvasPath} path a Path2D or the context itself
 * @param {number} x
 * @param {number} y
 * @param {number} r
 */
function cross(path, x, y, r) {
  path.moveTo(x - r, y - r);
  path.lineTo(x + r, y + r);
  path.moveTo(x + r, y - r);
  path.lineTo(x - r, y + r);
}

/**
 * Distance from (px, py) to the segment (x1, y1)-(x2, y2).
 * @param {number} px @param {number} py @param {number} x1 @param {number} y1 @param {number} x2 @param {number} y2
 */
function segmentDistance(px, py, x1, y1, x2, y2) {
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len = dx * dx + dy * dy;
  const u = len === 0 ? 0 : Math.max(0, Math.min(1, ((px - x1) * dx + (py - y1) * dy) / len));
  return Math.hypot(px - (x1 + u * dx), py - (y1 + u * dy));
}

/**
 * A filled triangle through three points (x1, y1, x2, y2, x3, y3).
 * @param {CanvasRenderingContext2D} ctx
 * @param {string} color
 * @param {[number, number, number, number, number, number]} p
 */
function triangle(ctx, color, p) {
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.moveTo(p[0], p[1]);
  ctx.lineTo(p[2], p[3]);
  ctx.lineTo(p[4], p[5]);
  ctx.closePath();
  ctx.fill();
}

/**
 * Marks that are one rectangle: colour, then x, y offsets from the event's point, width, height.
 * A tick above the line for a timer, a square below it for an fsync, a square on it for a disk
 * fault, a bar across it where the network or the clock changes.
 * @type {Record<string, [string, number, number, number, number]>}
 */
const RECT_GLYPHS = {
  timer: [COLORS.timer, -0.5, -8, 1.5, 6],
  sync: [COLORS.sync, -1.5, 11, 3, 3],
  disk: [COLORS.disk, -4, -4, 8, 8],
  pause: [COLORS.paused, -1, -10, 2, 20],
  resume: [COLORS.paused, -1, -10, 2, 20],
  skew: [COLORS.paused, -1, -10, 2, 20],
  disconnect: [COLORS.paused, -1, -10, 2, 20],
  connect: [COLORS.paused, -1, -10, 2, 20],
};

/**
 * One point event's mark on its lane's axis.
 * @param {CanvasRenderingContext2D} ctx
 * @param {string} kind
 * @param {number} x
 * @param {number} y
 * @param {Record<string, unknown> | undefined} rec
 */
function glyph(ctx, kind, x, y, rec) {
  const rect = RECT_GLYPHS[kind];
  if (rect) {
    const [color, dx, dy, w, h] = rect;
    ctx.fillStyle = color;
    ctx.fillRect(x + dx, y + dy, w, h);
    return;
  }
  switch (kind) {
    case "crash":
      ctx.strokeStyle = COLORS.crash;
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      cross(ctx, x, y, 6);
      ctx.stroke();
      return;
    case "start":
      triangle(ctx, COLORS.start, [x, y - 7, x + 6, y + 5, x - 6, y + 5]);
      return;
    case "apply":
      ctx.fillStyle = COLORS.apply;
      ctx.beginPath();
      ctx.arc(x, y + 7, 2, 0, Math.PI * 2);
      ctx.fill();
      return;
    case "restore":
    case "compact":
      ctx.strokeStyle = COLORS.restore;
      ctx.fillStyle = COLORS.restore;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(x, y - 6);
      ctx.lineTo(x + 5, y);
      ctx.lineTo(x, y + 6);
      ctx.lineTo(x - 5, y);
      ctx.closePath();
      if (kind === "restore") ctx.fill();
      else ctx.stroke();
      return;
    case "peer-lost":
      ctx.strokeStyle = COLORS.peerLost;
      ctx.fillStyle = COLORS.peerLost;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.arc(x, y - 12, 3, 0, Math.PI * 2);
      if (rec?.alarm) ctx.fill();
      else ctx.stroke();
      return;
    case "dup":
      ctx.strokeStyle = MESSAGE_COLORS[String(rec?.type)] ?? MESSAGE_COLORS.unknown;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.arc(x, y, 3, 0, Math.PI * 2);
      ctx.moveTo(x + 6, y);
      ctx.arc(x, y, 6, 0, Math.PI * 2);
      ctx.stroke();
      return;
    case "transfer":
      triangle(ctx, COLORS.transfer, [x - 5, y - 6, x + 6, y, x - 5, y + 6]);
      return;
    default:
      ctx.strokeStyle = COLORS.muted;
      ctx.lineWidth = 1.2;
      ctx.beginPath();
      ctx.arc(x, y, 4, 0, Math.PI * 2);
      ctx.stroke();
  }
}
