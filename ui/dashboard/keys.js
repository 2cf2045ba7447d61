// @ts-check
// The dashboard's key browser: lists keys under a prefix a page at a time through the KV API's
// own listing (GET /v1/kv?prefix=P&limit=N&from=K, next page's first key in X-Raftwork-Next),
// on the node that served the page; a follower forwards it to the leader, so it is a
// linearizable read like any other.

import { byId, renderTable } from "../kit/dom.js";

const NEXT_HEADER = "X-Raftwork-Next";
const SHOWN_CHARS = 200;

/** @type {import("../kit/dom.js").Column[]} */
const COLUMNS = [
  { label: "Key", cell: (e) => e.key },
  { label: "Value", cell: (e) => shorten(e.value) },
];

/** @param {string} v */
function shorten(v) {
  return v.length > SHOWN_CHARS ? `${v.slice(0, SHOWN_CHARS)}… (${v.length} characters)` : v;
}

export class KeyBrowser {
  constructor() {
    this.form = byId("keys-form", HTMLFormElement);
    this.prefix = byId("prefix", HTMLInputElement);
    this.size = byId("page-size", HTMLSelectElement);
    this.table = byId("keys", HTMLTableElement);
    this.status = byId("keys-status", HTMLElement);
    this.prev = byId("keys-prev", HTMLButtonElement);
    this.next = byId("keys-next", HTMLButtonElement);
    /** The first key of each page shown so far (undefined: from the start). @type {(string | undefined)[]} */
    this.starts = [];
    /** @type {string | null} */
    this.nextStart = null;
    /** The prefix of the page shown. */
    this.query = "";
    /** Answers to superseded requests are dropped. */
    this.generation = 0;
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.load(this.prefix.value, [undefined]);
    });
    this.next.addEventListener("click", () => {
      if (this.nextStart !== null) void this.load(this.query, [...this.starts, this.nextStart]);
    });
    this.prev.addEventListener("click", () => {
      if (this.starts.length > 1) void this.load(this.query, this.starts.slice(0, -1));
    });
  }

  /**
   * Shows the page that starts at `starts`' last key. The pager moves only once it arrived: a
   * failed request leaves the page shown, and its buttons, as they were.
   * @param {string} query
   * @param {(string | undefined)[]} starts
   */
  async load(query, starts) {
    const generation = ++this.generation;
    const from = starts.at(-1);
    const limit = Number(this.size.value);
    const params = new URLSearchParams({ prefix: query, limit: String(limit) });
    if (from !== undefined) params.set("from", from);
    this.status.textContent = "Loading…";
    let items;
    let next = null;
    try {
      const res = await fetch(`/v1/kv?${params}`, { cache: "no-store" });
      if (generation !== this.generation) return;
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        this.status.textContent = `The node answered ${res.status}: ${body.error ?? res.statusText}`;
        return;
      }
      items = /** @type {{ key: string, value: string }[]} */ (await res.json());
      const raw = res.headers.get(NEXT_HEADER);
      next = raw === null ? null : decodeURIComponent(raw);
    } catch {
      if (generation !== this.generation) return;
      this.status.textContent = "Cannot reach this node.";
      return;
    }
    this.query = query;
    this.starts = starts;
    this.nextStart = next;
    renderTable(this.table, COLUMNS, items);
    const page = this.starts.length;
    const what = this.query === "" ? "all keys" : `keys starting with “${this.query}”`;
    this.status.textContent =
      items.length === 0
        ? `No ${what}.`
        : `Page ${page} of ${what}: ${items.length} key${items.length === 1 ? "" : "s"}${next === null ? ", the last page" : ""}.`;
    this.prev.disabled = page < 2;
    this.next.disabled = next === null;
  }
}
