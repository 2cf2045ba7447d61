// @ts-check
// Tiny DOM helpers for raftwork's pages: build elements, fill tables, format numbers. No
// framework: a page builds its DOM once and updates text and rows in place.

/**
 * @typedef {string | number | Node | null | undefined | false} Child
 * @typedef {Record<string, string | number | boolean | ((ev: Event) => void) | null | undefined>} Attrs
 */

/**
 * Creates an element: `h("button", { type: "button", onclick: f }, "Next")`. Attributes whose
 * value is false, null or undefined are left out; `on*` functions become listeners; `class`
 * and other attributes are set as given.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "object" ? c : String(c));
  }
}

/**
 * Replaces an element's children.
 * @param {Element} el
 * @param {...Child} children
 */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * The element with this id; throws if the page lacks it (a page and its script disagree).
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`page has no #${id} of the expected kind`);
  return el;
}

const NUMBER = new Intl.NumberFormat("en-US");

/** @param {number} n */
export function formatNumber(n) {
  return NUMBER.format(n);
}

/**
 * Milliseconds as people read them: "850 ms", "12.345 s", "3 min 20 s".
 * @param {number} ms
 */
export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "-";
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Number.isInteger(ms) ? ms : ms.toFixed(1)} ms`;
  if (abs < 120_000) return `${(ms / 1000).toFixed(3)} s`;
  const min = Math.floor(abs / 60_000);
  return `${ms < 0 ? "-" : ""}${min} min ${Math.round((abs % 60_000) / 1000)} s`;
}

/**
 * @typedef {object} Column
 * @property {string} label
 * @property {(row: any) => Child} cell
 * @property {boolean} [num] right-aligned numbers
 */

/**
 * Fills `table` with a header and one row per item, reusing the rows already there (a live
 * page redraws often; rebuilding every row would lose focus and selection).
 * @param {HTMLTableElement} table
 * @param {Column[]} columns
 * @param {any[]} rows
 */
export function renderTable(table, columns, rows) {
  let thead = table.tHead;
  if (!thead || thead.rows[0]?.cells.length !== columns.length) {
    thead = table.createTHead();
    replaceChildren(
      thead,
      h(
        "tr",
        {},
        ...columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)),
      ),
    );
  }
  const body = table.tBodies[0] ?? table.createTBody();
  while (body.rows.length > rows.length) body.deleteRow(-1);
  rows.forEach((row, i) => {
    const tr = body.rows[i] ?? body.insertRow();
    columns.forEach((c, j) => {
      const td = tr.cells[j] ?? tr.insertCell();
      if (c.num) td.className = "num";
      const v = c.cell(row);
      // A cell may hand back the same element every time (a link, a badge): left in place, it
      // keeps keyboard focus across redraws.
      if (typeof v === "object" && v !== null) {
        if (td.childNodes.length !== 1 || td.firstChild !== v) td.replaceChildren(v);
      } else if (td.textContent !== String(v ?? "")) td.textContent = String(v ?? "");
    });
  });
}
