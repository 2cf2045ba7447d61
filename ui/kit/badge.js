// @ts-check
// A status badge that updates in place ("leader", "connected", "job running"): a coloured dot
// and a word, announced politely to screen readers when it changes.

/** @typedef {"ok" | "warn" | "bad" | "idle"} BadgeState */

export class Badge {
  /**
   * @param {HTMLElement} [el] an existing element to drive (a new span otherwise)
   * @param {string} [label] what the badge is about, shown as its tooltip ("cluster status")
   */
  constructor(el, label) {
    /** @type {HTMLElement} */
    this.el = el ?? document.createElement("span");
    this.el.classList.add("kit-badge");
    this.el.setAttribute("role", "status");
    if (label) this.el.title = label;
    this.set("idle", this.el.textContent || "unknown");
  }

  /**
   * @param {BadgeState} state
   * @param {string} text
   */
  set(state, text) {
    if (this.el.dataset.state === state && this.el.textContent === text) return;
    this.el.dataset.state = state;
    this.el.textContent = text;
  }
}
