// @ts-check
// Live updates over Server-Sent Events for raftwork's pages (same origin only), with the two
// things EventSource lacks: a reconnect schedule the page controls (backoff from 0.5 s to 5 s,
// reset once connected) and a verdict when the server stays away: after `goneAfterMs` without
// a connection the page is told the server is gone, and a banner says so, with links to
// where else to look (the other members' dashboards).
//
//   const banner = new GoneBanner(document.getElementById("gone"));
//   const live = connectLive("/ui/events", {
//     events: ["status"],
//     onEvent: (type, data) => render(data),
//     onState: (state) => badge.set(state === "live" ? "ok" : "warn", state),
//     banner,
//     elsewhere: () => peers.map((p) => ({ href: p.dashboard, label: `node ${p.id}` })),
//   });

/** @typedef {"connecting" | "live" | "reconnecting" | "gone"} LiveState */
/** @typedef {{ href: string, label: string }} Link */

/**
 * @typedef {object} LiveOptions
 * @property {string[]} [events] named SSE event types to listen to (besides "message")
 * @property {(type: string, data: unknown) => void} onEvent called with each event's JSON data
 * @property {(state: LiveState) => void} [onState]
 * @property {GoneBanner} [banner] shown while the server is gone
 * @property {() => Link[]} [elsewhere] links the banner offers
 * @property {string} [goneText] what the banner says ("This node is gone.")
 * @property {number} [retryMs] first reconnect delay, doubled up to maxRetryMs
 * @property {number} [maxRetryMs]
 * @property {number} [goneAfterMs] time without a connection before the server counts as gone
 */

/**
 * @param {string} url
 * @param {LiveOptions} opts
 * @returns {{ close(): void, readonly state: LiveState }}
 */
export function connectLive(url, opts) {
  const retryMs = opts.retryMs ?? 500;
  const maxRetryMs = opts.maxRetryMs ?? 5000;
  const goneAfterMs = opts.goneAfterMs ?? 3000;
  /** @type {LiveState} */
  let state = "connecting";
  /** @type {EventSource | null} */
  let source = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let delay = retryMs;
  let downSince = performance.now();
  let closed = false;

  /** @param {LiveState} next */
  const setState = (next) => {
    if (next === state) return;
    state = next;
    if (next === "gone")
      opts.banner?.show(
        opts.goneText ?? "The server of this page is gone.",
        opts.elsewhere?.() ?? [],
      );
    else if (next === "live") opts.banner?.hide();
    opts.onState?.(next);
  };

  /** @param {MessageEvent} e */
  const deliver = (e) => {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return; // not ours to crash on: the next event brings the whole state again
    }
    opts.onEvent(e.type, data);
  };

  const open = () => {
    timer = null;
    if (closed) return;
    const es = new EventSource(url);
    source = es;
    es.addEventListener("open", () => {
      delay = retryMs;
      setState("live");
    });
    es.addEventListener("message", deliver);
    for (const type of opts.events ?? []) es.addEventListener(type, deliver);
    es.addEventListener("error", () => {
      // EventSource would retry on its own schedule (or give up for good on an HTTP error):
      // close it and retry on ours.
      es.close();
      if (source !== es || closed) return;
      source = null;
      if (state === "live") downSince = performance.now();
      setState(performance.now() - downSince >= goneAfterMs ? "gone" : "reconnecting");
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, maxRetryMs);
    });
  };

  open();
  return {
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      source?.close();
      source = null;
    },
    get state() {
      return state;
    },
  };
}

/** A banner that says the page's server is gone and where else to go. */
export class GoneBanner {
  /** @param {HTMLElement} el an element with class kit-banner, hidden until needed */
  constructor(el) {
    this.el = el;
    this.el.classList.add("kit-banner");
    this.el.dataset.kind = "bad";
    this.el.setAttribute("role", "alert");
    this.el.hidden = true;
  }

  /**
   * @param {string} text
   * @param {Link[]} links
   */
  show(text, links) {
    this.el.replaceChildren(text);
    if (links.length > 0) {
      this.el.append(" Try: ");
      links.forEach((l, i) => {
        const a = document.createElement("a");
        a.href = l.href;
        a.textContent = l.label;
        this.el.append(...(i > 0 ? [", ", a] : [a]));
      });
    }
    this.el.hidden = false;
  }

  hide() {
    this.el.hidden = true;
  }
}
