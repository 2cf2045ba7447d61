// @ts-check
// The side panel: the selected record (what it says, in words and fields) and every node's
// state right after it (up or down, role, term, leader, last log index, commit, applied), with
// the links cut at that moment.

import { describeRecord, formatTime } from "../../dist/sim/view/describe.js";
import { lastAtOrBefore } from "../../dist/sim/view/lookup.js";
import { FATE_DROPPED } from "../../dist/sim/view/model.js";
import { h, renderTable, replaceChildren } from "../kit/dom.js";
import { ROLE_COLORS } from "./palette.js";

/** @typedef {import("../../dist/sim/view/model.js").TraceModel} TraceModel */
/** @typedef {import("../../dist/sim/view/model.js").NodeState} NodeState */

export class Panel {
  /**
   * @param {TraceModel} model
   * @param {{ selection: HTMLElement, states: HTMLTableElement, links: HTMLElement, statesTitle: HTMLElement }} els
   */
  constructor(model, els) {
    this.model = model;
    this.els = els;
  }

  /**
   * Show record `seq` (or, with -1, nothing selected: the states as of `atTime`).
   * @param {number} seq
   * @param {number} atTime
   */
  show(seq, atTime) {
    const m = this.model;
    const rec = m.records[seq];
    if (seq < 0 || !rec) {
      replaceChildren(
        this.els.selection,
        h(
          "p",
          { class: "kit-muted" },
          "Nothing selected. Click an event, or press → to step to the next one.",
        ),
      );
      const t = Math.max(0, atTime);
      this.states(lastAtOrBefore(m.events.t, t), `Nodes at ${formatTime(t)}`);
      return;
    }
    const fields = Object.entries(rec).filter(([k]) => k !== "t" && k !== "ev");
    const extra = [];
    const msg = m.events.msg[seq] ?? -1;
    if (msg >= 0) {
      const sent = m.messages.sent[msg] ?? 0;
      const dropped = m.messages.fate[msg] === FATE_DROPPED;
      extra.push(
        ["sent at", formatTime(sent)],
        [dropped ? "dropped at" : "arrived at", formatTime(rec.t)],
      );
      if (rec.t > sent) extra.push(["in flight", formatTime(rec.t - sent)]);
    }
    replaceChildren(
      this.els.selection,
      h(
        "p",
        { class: "sel-head" },
        h("strong", {}, rec.ev),
        ` at ${formatTime(rec.t)} · line ${seq + 1}`,
      ),
      h(
        "p",
        { id: "sel-text", class: rec.ev === "violation" ? "sel-violation" : "" },
        describeRecord(rec),
      ),
      h(
        "dl",
        { class: "kit-kv" },
        ...[
          ...extra,
          ...fields.map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
        ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
      ),
    );
    this.states(seq, `Nodes after line ${seq + 1}`);
  }

  /**
   * @param {number} seq the record after which to show the states (-1: before any)
   * @param {string} title
   */
  states(seq, title) {
    const m = this.model;
    this.els.statesTitle.textContent = title;
    const states = m.statesAfter(seq);
    /** @type {[number, NodeState][]} */
    const rows = m.nodes.map((n) => [n, /** @type {NodeState} */ (states.get(n))]);
    renderTable(
      this.els.states,
      [
        { label: "node", cell: ([n]) => n, num: true },
        {
          label: "state",
          cell: ([, s]) => {
            const text = !s.up ? "down" : s.paused ? `${s.role}, paused` : s.role;
            const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
            swatch.style.background = s.up ? (ROLE_COLORS[s.role] ?? "#ccc") : "#4a5260";
            return h("span", {}, swatch, text);
          },
        },
        { label: "term", cell: ([, s]) => s.term, num: true },
        { label: "leader", cell: ([, s]) => (s.leader > 0 ? s.leader : "-"), num: true },
        { label: "last", cell: ([, s]) => s.last, num: true },
        { label: "commit", cell: ([, s]) => s.commit, num: true },
        { label: "applied", cell: ([, s]) => s.applied, num: true },
      ],
      rows,
    );
    const links = seq >= 0 ? m.linksAfter(seq) : null;
    this.els.links.textContent = links ? `Links: ${links.label}` : "Links: all up";
  }
}
