// @ts-check
// The trace viewer page: streams trace.jsonl through the trace model (the same code `raftwork
// sim summary` runs, served from the package's dist/), then draws it and wires the controls:
// drag and wheel, keyboard, step to the next/previous event, filters, the violation, the side
// panel, and the URL hash (view-state.js) so a link reproduces the view.

import { describeRecord, formatTime } from "../../dist/sim/view/describe.js";
import { lowerBound, upperBound } from "../../dist/sim/view/lookup.js";
import { messageTypeName, TraceModelBuilder } from "../../dist/sim/view/model.js";
import { TraceParser } from "../../dist/sim/view/parse.js";
import { byId, formatNumber, h } from "../kit/dom.js";
import { MESSAGE_COLORS } from "./palette.js";
import { Panel } from "./panel.js";
import { LABEL_W, Timeline } from "./timeline.js";
import { EVENT_GROUPS, GROUP_LABELS, groupOf, ViewState } from "./view-state.js";

/** @typedef {import("../../dist/sim/view/model.js").TraceModel} TraceModel */

/**
 * What tests and the load benchmark read: when the first frame was drawn (ms since navigation
 * start), how long loading and parsing took, and where on the page a record is drawn.
 * @type {{ firstDrawMs: number, parseMs: number, records: number, where(line: number): { x: number, y: number } | null, drawCost(frames: number): number[] } | null}
 */
let stats = null;
Object.defineProperty(window, "raftworkViewer", { get: () => stats });

/**
 * Streams the trace into the model, reporting progress per chunk.
 * @param {(records: number) => void} progress
 * @returns {Promise<TraceModel>}
 */
async function loadModel(progress) {
  const res = await fetch("trace.jsonl");
  if (!res.ok || !res.body) throw new Error(`cannot load the trace: HTTP ${res.status}`);
  const builder = new TraceModelBuilder();
  const parser = new TraceParser((rec) => builder.add(rec));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.push(value);
    progress(parser.lines);
  }
  parser.end();
  return builder.finish();
}

/** @returns {Promise<{ name: string, bytes: number } | null>} */
async function loadInfo() {
  try {
    const res = await fetch("trace-info.json");
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/** @param {string} text @param {"bad" | "warn"} kind */
function showBanner(text, kind) {
  const banner = byId("banner", HTMLElement);
  banner.dataset.kind = kind;
  banner.textContent = text;
  banner.hidden = false;
}

async function main() {
  const statsEl = byId("trace-stats", HTMLElement);
  const started = performance.now();
  const infoPromise = loadInfo();
  let model;
  try {
    model = await loadModel((n) => {
      statsEl.textContent = `Loading the trace… ${formatNumber(n)} records`;
    });
  } catch (e) {
    document.body.dataset.state = "error";
    statsEl.textContent = "";
    showBanner(`This trace cannot be shown: ${e instanceof Error ? e.message : String(e)}`, "bad");
    return;
  }
  const parseMs = performance.now() - started;
  const info = await infoPromise;
  if (info) {
    byId("trace-name", HTMLElement).textContent = info.name;
    document.title = `${info.name} · raftwork trace viewer`;
  }
  const app = new Viewer(model);
  app.start();
  stats = {
    firstDrawMs: performance.now(),
    parseMs,
    records: model.records.length,
    where: (line) => app.where(line - 1),
    drawCost: (frames) => app.drawCost(frames),
  };
  document.body.dataset.state = "ready";
}

class Viewer {
  /** @param {TraceModel} model */
  constructor(model) {
    this.model = model;
    this.state = new ViewState(model.end);
    this.state.fit();
    this.canvas = byId("chart", HTMLCanvasElement);
    this.wrap = byId("chart-wrap", HTMLElement);
    this.timeline = new Timeline(this.canvas, model, this.state);
    this.panel = new Panel(model, {
      selection: byId("selection", HTMLElement),
      states: byId("states", HTMLTableElement),
      links: byId("links-now", HTMLElement),
      statesTitle: byId("states-title", HTMLElement),
    });
    this.rangeEl = byId("range", HTMLElement);
    this.announceEl = byId("announce", HTMLElement);
    /** @type {Map<string, HTMLInputElement>} */
    this.checkboxes = new Map();
    this.frame = 0;
    this.lastHash = "";
  }

  start() {
    this.describeTrace();
    this.buildFilters();
    this.wireControls();
    this.state.applyHash(location.hash, {
      records: this.model.records.length,
      nodes: this.model.nodes,
    });
    this.syncFilters();
    this.timeline.updateRows();
    this.fitCanvas();
    this.panel.show(this.state.sel, this.state.t0);
    this.renderNow();
    new ResizeObserver(() => this.relayout()).observe(this.wrap);
  }

  describeTrace() {
    const m = this.model;
    const parts = [
      `${m.nodes.length} nodes`,
      `seed ${m.seed ?? "?"}`,
      `${formatTime(m.end)} simulated`,
      `${formatNumber(m.records.length)} records`,
      `${formatNumber(m.messages.count)} message fates`,
    ];
    byId("trace-stats", HTMLElement).textContent = parts.join(" · ");
    const badge = byId("violation-badge", HTMLElement);
    badge.hidden = false;
    if (m.violation) {
      badge.dataset.state = "bad";
      badge.textContent = `violation: ${m.violation.invariant}`;
      badge.title = m.violation.message;
      byId("goto-violation", HTMLButtonElement).disabled = false;
    } else {
      badge.dataset.state = "ok";
      badge.textContent = "no violation";
    }
    if (m.warnings.length > 0) showBanner(m.warnings.join(" · "), "warn");
    this.canvas.setAttribute(
      "aria-label",
      `Space-time diagram: ${m.nodes.length} nodes over ${formatTime(m.end)} of virtual time, ` +
        `${formatNumber(m.records.length)} records${m.violation ? `, violation of ${m.violation.invariant}` : ""}. ` +
        "Arrow keys step through events; the selected event is described in the details panel.",
    );
  }

  buildFilters() {
    const m = this.model;
    /**
     * @param {string} fieldset
     * @param {string} key
     * @param {(string | Node)[]} label
     * @param {(on: boolean) => void} onChange
     */
    const add = (fieldset, key, label, onChange) => {
      const box = h("input", { type: "checkbox", checked: true });
      box.addEventListener("change", () => {
        onChange(box.checked);
        if (key.startsWith("node:")) {
          this.timeline.updateRows();
          this.relayout();
        }
        this.render();
      });
      this.checkboxes.set(key, box);
      byId(fieldset, HTMLFieldSetElement).append(h("label", {}, box, ...label));
    };
    for (const n of m.nodes)
      add("filter-nodes", `node:${n}`, [`node ${n}`], (on) =>
        toggle(this.state.hiddenNodes, n, !on),
      );
    const typeCounts = new Map();
    for (let i = 0; i < m.messages.count; i++) {
      const t = m.messages.type[i] ?? 255;
      typeCounts.set(t, (typeCounts.get(t) ?? 0) + 1);
    }
    for (const [code, count] of [...typeCounts].sort((a, b) => a[0] - b[0])) {
      const name = messageTypeName(code);
      if (name === "unknown") continue;
      const swatch = h("span", { class: "line-swatch", "aria-hidden": "true" });
      swatch.style.borderColor = MESSAGE_COLORS[name] ?? MESSAGE_COLORS.unknown;
      add(
        "filter-types",
        `type:${name}`,
        [swatch, name, h("span", { class: "count" }, formatNumber(count))],
        (on) => toggle(this.state.hiddenTypes, name, !on),
      );
    }
    const groupCounts = new Map();
    for (const kind of m.kinds) {
      const g = groupOf(kind);
      groupCounts.set(g, (groupCounts.get(g) ?? 0) + (m.counts.get(kind) ?? 0));
    }
    for (const g of [...Object.keys(EVENT_GROUPS), "other"]) {
      if (!groupCounts.get(g)) continue;
      add(
        "filter-groups",
        `group:${g}`,
        [GROUP_LABELS[g] ?? g, h("span", { class: "count" }, formatNumber(groupCounts.get(g)))],
        (on) => toggle(this.state.hiddenGroups, g, !on),
      );
    }
  }

  /** Checkboxes from the state (after a hash was applied). */
  syncFilters() {
    for (const [key, box] of this.checkboxes) {
      const [kind, value] = /** @type {[string, string]} */ (key.split(/:(.*)/s));
      box.checked =
        kind === "node"
          ? !this.state.hiddenNodes.has(Number(value))
          : kind === "type"
            ? !this.state.hiddenTypes.has(value)
            : !this.state.hiddenGroups.has(value);
    }
  }

  wireControls() {
    const s = this.state;
    const click = (/** @type {string} */ id, /** @type {() => void} */ f) =>
      byId(id, HTMLButtonElement).addEventListener("click", f);
    click("prev", () => this.step(-1));
    click("next", () => this.step(1));
    click("zoom-in", () => this.zoomBy(0.5));
    click("zoom-out", () => this.zoomBy(2));
    click("fit", () => {
      s.fit();
      this.render();
    });
    click("goto-violation", () => this.gotoViolation());

    document.addEventListener("keydown", (e) => this.onKey(e));
    window.addEventListener("hashchange", () => {
      if (location.hash.slice(1) === this.lastHash) return;
      s.applyHash(location.hash, { records: this.model.records.length, nodes: this.model.nodes });
      this.syncFilters();
      this.timeline.updateRows();
      this.panel.show(s.sel, s.t0);
      this.relayout();
    });

    // Drag to pan; a press that does not move is a click that selects.
    /** @type {{ x: number, t0: number, t1: number, moved: boolean } | null} */
    let drag = null;
    this.canvas.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      this.canvas.setPointerCapture(e.pointerId);
      drag = { x: e.clientX, t0: s.t0, t1: s.t1, moved: false };
    });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (!drag.moved) return;
      const dt = (-dx / this.timeline.plotW) * (drag.t1 - drag.t0);
      s.setRange(drag.t0 + dt, drag.t1 + dt);
      this.render();
    });
    this.canvas.addEventListener("pointerup", (e) => {
      const d = drag;
      drag = null;
      if (!d || d.moved) return;
      const r = this.canvas.getBoundingClientRect();
      const seq = this.timeline.hitTest(e.clientX - r.left, e.clientY - r.top);
      if (seq >= 0) this.select(seq, false);
    });
    this.canvas.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const r = this.canvas.getBoundingClientRect();
        const at = this.timeline.timeAt(Math.max(LABEL_W, e.clientX - r.left));
        const span = s.t1 - s.t0;
        if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
          s.pan(((e.deltaX || e.deltaY) / this.timeline.plotW) * span);
        } else {
          s.zoom(Math.exp(Math.max(-1, Math.min(1, e.deltaY * 0.002))), at);
        }
        this.render();
      },
      { passive: false },
    );
  }

  /** @param {KeyboardEvent} e */
  onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = /** @type {HTMLElement} */ (e.target);
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
    const s = this.state;
    const span = s.t1 - s.t0;
    let handled = true;
    switch (e.key) {
      case "ArrowRight":
        if (e.shiftKey) s.pan(span * 0.2);
        else this.step(1);
        break;
      case "ArrowLeft":
        if (e.shiftKey) s.pan(-span * 0.2);
        else this.step(-1);
        break;
      case "n":
        this.step(1);
        break;
      case "p":
        this.step(-1);
        break;
      case "+":
      case "=":
        this.zoomBy(0.5);
        break;
      case "-":
      case "_":
        this.zoomBy(2);
        break;
      case "0":
      case "f":
        s.fit();
        break;
      case "v":
        this.gotoViolation();
        break;
      case "Home":
        this.selectFirst(0, 1);
        break;
      case "End":
        this.selectFirst(this.model.events.count - 1, -1);
        break;
      case "Escape":
        s.sel = -1;
        this.panel.show(-1, s.t0);
        break;
      default:
        handled = false;
    }
    if (handled) {
      e.preventDefault();
      this.render();
    }
  }

  /**
   * Zoom around the selection if it is in view, else around the middle.
   * @param {number} factor
   */
  zoomBy(factor) {
    const s = this.state;
    const t = s.sel >= 0 ? (this.model.events.t[s.sel] ?? 0) : NaN;
    s.zoom(factor, t >= s.t0 && t <= s.t1 ? t : (s.t0 + s.t1) / 2);
    this.render();
  }

  /**
   * Select the next (dir 1) or previous (-1) visible record after the selection, or from the
   * edge of the view when nothing is selected.
   * @param {number} dir
   */
  step(dir) {
    const s = this.state;
    const ev = this.model.events;
    const from =
      s.sel >= 0 ? s.sel + dir : dir > 0 ? lowerBound(ev.t, s.t0) : upperBound(ev.t, s.t1) - 1;
    this.selectFirst(from, dir);
  }

  /**
   * @param {number} from
   * @param {number} dir
   */
  selectFirst(from, dir) {
    const n = this.model.events.count;
    for (let i = from; i >= 0 && i < n; i += dir)
      if (this.timeline.visible(i)) {
        this.select(i, true);
        return;
      }
  }

  gotoViolation() {
    const v = this.model.violation;
    if (!v) return;
    const s = this.state;
    // Close enough to see what led to it: the last second or so before it.
    const span = Math.min(s.t1 - s.t0, 1500);
    s.setRange(v.t - span * 0.8, v.t + span * 0.2);
    this.select(v.seq, true);
  }

  /**
   * @param {number} seq
   * @param {boolean} reveal pan so that it is in view
   */
  select(seq, reveal) {
    const s = this.state;
    s.sel = seq;
    const rec = this.model.records[seq];
    if (reveal) s.reveal(this.model.events.t[seq] ?? 0);
    this.panel.show(seq, s.t0);
    if (rec) this.announceEl.textContent = `${formatTime(rec.t)}: ${describeRecord(rec)}`;
    this.render();
  }

  /**
   * Page coordinates of where record `seq` is drawn (a point event's mark, a message's arrow
   * head), or null if it is not in view.
   * @param {number} seq
   */
  where(seq) {
    const t = this.model.events.t[seq];
    if (t === undefined || t < this.state.t0 || t > this.state.t1) return null;
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + this.timeline.x(t), y: r.top + this.timeline.selectionY(seq) };
  }

  /**
   * Milliseconds each of `frames` draws takes while the view pans by 1% per frame (the load
   * benchmark: the diagram's own cost, apart from the browser's frame scheduling).
   * @param {number} frames
   */
  drawCost(frames) {
    const s = this.state;
    const [t0, t1] = [s.t0, s.t1];
    const times = [];
    for (let i = 0; i < frames; i++) {
      s.pan((t1 - t0) * 0.01);
      const start = performance.now();
      this.timeline.draw();
      times.push(performance.now() - start);
    }
    s.setRange(t0, t1);
    this.renderNow();
    return times;
  }

  relayout() {
    this.fitCanvas();
    this.render();
  }

  /** The canvas takes the chart area's width; its lanes share the area's height. */
  fitCanvas() {
    this.timeline.resize(this.wrap.clientWidth, this.wrap.clientHeight);
  }

  /** Draw on the next animation frame (many input events, one frame). */
  render() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderNow();
    });
  }

  renderNow() {
    const s = this.state;
    if (this.timeline.height !== this.timeline.neededHeight()) this.fitCanvas();
    this.timeline.draw();
    const agg = this.timeline.aggregated
      ? ` · ${formatNumber(this.timeline.messagesInView)} messages in view, counted per column: zoom in for arrows`
      : "";
    this.rangeEl.textContent = `${formatTime(Math.max(0, s.t0))} – ${formatTime(Math.min(this.model.end, s.t1))}${agg}`;
    if (s.sel < 0) this.panel.show(-1, s.t0);
    const hash = s.toHash();
    if (hash !== this.lastHash) {
      this.lastHash = hash;
      history.replaceState(null, "", `#${hash}`);
    }
  }
}

/**
 * @template T
 * @param {Set<T>} set
 * @param {T} value
 * @param {boolean} on
 */
function toggle(set, value, on) {
  if (on) set.add(value);
  else set.delete(value);
}

main();
