// @ts-check
// The cluster dashboard (GET /ui on every KV node): follows the node's "cluster" events
// (src/kv/dashboard/routes.ts: every member's status as this node gathers it, the leader's
// view of each follower's progress, this node's leader changes) and plots this node's last
// minutes from /ui/api/metrics plus one sample per event. When the node goes away the banner
// says so and links to the other members' dashboards.

import { Badge } from "../kit/badge.js";
import { byId, formatDuration, formatNumber, h, renderTable } from "../kit/dom.js";
import { connectLive, GoneBanner } from "../kit/live.js";
import { LineChart, spanText } from "./chart.js";
import { KeyBrowser } from "./keys.js";

/**
 * @typedef {{ t: number, requests: number, errors: number, latencyP50: number | null, latencyP99: number | null, fsyncs: number, fsyncP50: number | null, fsyncP99: number | null }} Sample
 * @typedef {{ id: number, match: number, next: number, state: string, lag: number }} Progress
 * @typedef {{ voters: number[], learners: number[], votersOutgoing: number[], learnersNext: number[] }} Conf
 * @typedef {{ id: number, role: string, term: number, leader: number | null, commitIndex: number, appliedIndex: number, members: number[], conf?: Conf, progress?: Progress[] }} Status
 * @typedef {{ id: number, http: string | null, self: boolean, reachable: boolean, error: string | null, status: Status | null, sample: Sample | null }} Member
 * @typedef {{ t: number, leader: number | null, term: number }} LeaderChange
 * @typedef {{ t: number, self: number, members: Member[], leaders: LeaderChange[] }} ClusterView
 */

/** The longest span a chart shows: samples older than that are dropped. */
const SPAN_MS = 5 * 60_000;
const A = "#1f5fae";
const B = "#b3261e";

const liveBadge = new Badge(byId("live-badge", HTMLElement), "connection to this node");
const leaderBadge = new Badge(byId("leader-badge", HTMLElement), "the cluster's leader");
const banner = new GoneBanner(byId("gone", HTMLElement));
const membersTable = byId("members", HTMLTableElement);
const historyTable = byId("history", HTMLTableElement);
const text = (/** @type {string} */ id, /** @type {string} */ value) => {
  const el = byId(id, HTMLElement);
  if (el.textContent !== value) el.textContent = value;
};

/** @param {number} v */
const ms = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
/** @param {number} v */
const rate = (v) => formatNumber(Math.round(v));

/**
 * A chart of two series of samples, drawn in the page's two colours (the legend's).
 * @param {string} id @param {string} title @param {string} unit @param {(v: number) => string} format
 * @param {[string, (s: Sample) => number | null]} a @param {[string, (s: Sample) => number | null]} b
 */
const chart = (id, title, unit, format, a, b) =>
  new LineChart(byId(id, HTMLCanvasElement), {
    title,
    unit,
    spanMs: SPAN_MS,
    format,
    series: [
      { label: a[0], color: A, value: a[1] },
      { label: b[0], color: B, value: b[1] },
    ],
  });

const charts = {
  rate: chart(
    "chart-rate",
    "Requests per second",
    "/s",
    rate,
    ["requests", (s) => s.requests],
    ["errors", (s) => s.errors],
  ),
  latency: chart(
    "chart-latency",
    "Request latency",
    " ms",
    ms,
    ["median", (s) => s.latencyP50],
    ["99th percentile", (s) => s.latencyP99],
  ),
  fsync: chart(
    "chart-fsync",
    "fsync latency",
    " ms",
    ms,
    ["median", (s) => s.fsyncP50],
    ["99th percentile", (s) => s.fsyncP99],
  ),
};

/** This node's samples, oldest first, one a second. @type {Sample[]} */
let samples = [];
/** The latest view, kept for the "gone" banner's links. @type {ClusterView | null} */
let view = null;

/**
 * Where a member's dashboard is, from the HTTP address it announced. A wildcard address
 * (0.0.0.0, [::]) means "every interface": use the host this page came from.
 * @param {string} http
 */
function dashboardUrl(http) {
  const m = /^(\[[^\]]*\]|[^:]+):(\d+)$/.exec(http);
  if (!m) return null;
  const host = m[1] === "0.0.0.0" || m[1] === "[::]" ? location.hostname : m[1];
  // Every member serves its API the same way: over TLS when this one does.
  return `${location.protocol}//${host}:${m[2]}/ui`;
}

/** Cells that hold elements: the same element every redraw, so focus stays on a link. */
const cells = new Map();
/** @param {Member} m */
function memberCells(m) {
  let c = cells.get(m.id);
  if (!c) {
    c = { link: h("a", {}), role: new Badge(undefined, `role of node ${m.id}`) };
    c.role.el.classList.add("dash-role");
    cells.set(m.id, c);
  }
  const url = m.http && !m.self ? dashboardUrl(m.http) : null;
  const label = `node ${m.id}${m.self ? " (this node)" : ""}`;
  if (c.link.textContent !== label) c.link.textContent = label;
  if (url) c.link.setAttribute("href", url);
  else c.link.removeAttribute("href");
  c.link.title = url ? `open node ${m.id}'s dashboard (${m.http})` : (m.http ?? "");
  const role = m.status?.role;
  if (!m.reachable) c.role.set("bad", m.error ? `down: ${m.error}` : "down");
  else if (role === "leader") c.role.set("ok", "leader");
  else if (role === "candidate" || role === "precandidate") c.role.set("warn", role);
  else c.role.set("idle", role ?? "unknown");
  return c;
}

/** The leader's view of every follower (match, lag), from whichever member leads. */
function progressOf(/** @type {ClusterView} */ v) {
  const leader = v.members.find((m) => m.reachable && m.status?.role === "leader");
  /** @type {Map<number, Progress>} */
  const by = new Map();
  for (const p of leader?.status?.progress ?? []) by.set(p.id, p);
  return { leader, by };
}

/** @param {ClusterView} v */
function renderMembers(v) {
  const { leader, by } = progressOf(v);
  const dash = "–";
  /** @type {import("../kit/dom.js").Column[]} */
  const columns = [
    { label: "Member", cell: (m) => memberCells(m).link },
    { label: "Role", cell: (m) => memberCells(m).role.el },
    { label: "Term", num: true, cell: (m) => m.status?.term ?? dash },
    { label: "Commit", num: true, cell: (m) => m.status?.commitIndex ?? dash },
    { label: "Applied", num: true, cell: (m) => m.status?.appliedIndex ?? dash },
    { label: "Match", num: true, cell: (m) => by.get(m.id)?.match ?? dash },
    {
      label: "Lag",
      num: true,
      cell: (m) => {
        const p = by.get(m.id);
        if (!p) return dash;
        return p.state === "replicate" ? p.lag : `${p.lag} (${p.state})`;
      },
    },
    { label: "Requests/s", num: true, cell: (m) => (m.sample ? rate(m.sample.requests) : dash) },
  ];
  renderTable(membersTable, columns, v.members);
  const rows = membersTable.tBodies[0]?.rows ?? [];
  v.members.forEach((m, i) => {
    const tr = rows[i];
    if (!tr) return;
    tr.classList.toggle("down", !m.reachable);
    tr.dataset.member = String(m.id);
    tr.cells[6]?.classList.toggle("lagging", (by.get(m.id)?.lag ?? 0) > 0 && m !== leader);
  });
}

/** @param {number} d */
const ago = (d) => (d < 120_000 ? `${Math.round(d / 1000)} s ago` : `${formatDuration(d)} ago`);
/** @param {number} t */
const clock = (t) => new Date(t).toLocaleTimeString("en-GB", { hour12: false });

/** @param {ClusterView} v */
function renderLeader(v) {
  const self = v.members.find((m) => m.self);
  const { leader } = progressOf(v);
  const s = leader?.status ?? null;
  // Without a reachable leader, the highest term any member is in says how far elections got.
  const term = Math.max(0, ...v.members.map((m) => m.status?.term ?? 0));
  if (s) {
    leaderBadge.set("ok", `leader: node ${s.id}, term ${s.term}`);
    text("leader", `node ${s.id}`);
    text("term", String(s.term));
    text("commit", formatNumber(s.commitIndex));
  } else {
    leaderBadge.set("warn", `no leader (term ${term})`);
    text("leader", "none reachable");
    text("term", String(term));
    text("commit", "-");
  }
  const since = [...v.leaders].reverse().find((c) => c.leader !== null);
  text(
    "leader-since",
    s && since?.leader === s.id ? `${clock(since.t)} (${ago(v.t - since.t)})` : "-",
  );
  // The configuration this node has in effect (joint consensus: the outgoing voters are the
  // old half while a change is in progress; learners replicate but do not vote).
  const nodes = (/** @type {number[]} */ ids) =>
    ids.length === 0 ? "none" : ids.map((id) => `node ${id}`).join(", ");
  const conf = self?.status?.conf;
  text("voters", self?.status ? nodes(conf ? conf.voters : self.status.members) : "-");
  text("learners", conf ? nodes([...new Set([...conf.learners, ...conf.learnersNext])]) : "-");
  text(
    "outgoing",
    conf
      ? conf.votersOutgoing.length > 0
        ? nodes(conf.votersOutgoing)
        : "none (no change in progress)"
      : "-",
  );
  text("self", `node ${v.self}${self?.http ? ` at ${self.http}` : ""}`);
  text("updated", clock(v.t));
  renderTable(
    historyTable,
    [
      { label: "Time", cell: (c) => clock(c.t) },
      { label: "Leader", cell: (c) => (c.leader === null ? "none" : `node ${c.leader}`) },
      { label: "Term", num: true, cell: (c) => c.term },
    ],
    [...v.leaders].reverse(),
  );
}

const spanSelect = byId("span", HTMLSelectElement);
spanSelect.addEventListener("change", () => {
  const ms = Number(spanSelect.value) * 1000;
  text("charts-title", `This node, last ${spanText(ms)}`);
  for (const c of Object.values(charts)) c.setSpan(ms);
});

function renderCharts() {
  const now = samples.at(-1)?.t ?? Date.now();
  charts.rate.update(samples, now);
  charts.latency.update(samples, now);
  charts.fsync.update(samples, now);
  const last = samples.at(-1);
  if (!last) return;
  text("rate-now", `${rate(last.requests)}/s now`);
  text("latency-now", last.latencyP99 === null ? "idle" : `p99 ${ms(last.latencyP99)} ms`);
  text("fsync-now", last.fsyncP99 === null ? "idle" : `p99 ${ms(last.fsyncP99)} ms`);
}

/** @param {Sample | null} s */
function addSample(s) {
  if (!s || (samples.length > 0 && s.t <= /** @type {Sample} */ (samples.at(-1)).t)) return;
  samples.push(s);
  const cut = s.t - SPAN_MS;
  while (samples.length > 0 && /** @type {Sample} */ (samples[0]).t < cut) samples.shift();
}

/** Fetches this node's whole window (after every (re)connect: the gap is filled). */
async function backfill() {
  try {
    const res = await fetch("/ui/api/metrics", { cache: "no-store" });
    if (!res.ok) return;
    const body = /** @type {{ samples: Sample[] }} */ (await res.json());
    const known = samples;
    samples = body.samples;
    for (const s of known) if (s.t > (samples.at(-1)?.t ?? 0)) samples.push(s);
    renderCharts();
  } catch {
    // The event stream notices a dead node too; the charts just stay as they are.
  }
}

/** @param {ClusterView} v */
function render(v) {
  view = v;
  const self = v.members.find((m) => m.self);
  text("served-by", `served by node ${v.self}${self?.http ? ` (${self.http})` : ""}`);
  // Several members' dashboards in tabs: the tab says whose it is.
  document.title = `node ${v.self} · raftwork cluster`;
  renderMembers(v);
  renderLeader(v);
  addSample(self?.sample ?? null);
  renderCharts();
  document.body.dataset.state = "live";
}

/**
 * With auth on, a session that expired ends the event stream as a dead node would: this tells
 * the two apart (the node answers 401), and then the login page is the way back.
 */
async function sessionEnded() {
  try {
    const res = await fetch("/ui/api/metrics", { cache: "no-store" });
    await res.body?.cancel();
    return res.status === 401;
  } catch {
    return false;
  }
}

/** While the stream is down, asks now and every 2 s (a restarting node answers only later). */
let sessionTimer = /** @type {ReturnType<typeof setInterval> | null} */ (null);
/** @param {boolean} live */
function watchSession(live) {
  if (live) {
    if (sessionTimer !== null) clearInterval(sessionTimer);
    sessionTimer = null;
    return;
  }
  if (sessionTimer !== null) return;
  const check = () =>
    void sessionEnded().then((ended) => {
      if (ended) location.assign("/ui/login");
    });
  check();
  sessionTimer = setInterval(check, 2000);
}

connectLive("/ui/events", {
  events: ["cluster"],
  onEvent: (_type, data) => render(/** @type {ClusterView} */ (data)),
  onState: (state) => {
    liveBadge.set(state === "live" ? "ok" : state === "gone" ? "bad" : "warn", state);
    if (state === "live") void backfill();
    watchSession(state === "live");
    if (state === "gone") {
      document.body.dataset.state = "gone";
      // What the page shows is this node's last word: say so where it matters most.
      leaderBadge.set("idle", "leader: unknown (this node is gone)");
    }
  },
  banner,
  goneText:
    "This node is gone: its dashboard stopped answering (the process died, or the network is cut).",
  elsewhere: () =>
    (view?.members ?? [])
      .filter((m) => !m.self && m.http)
      .map((m) => ({
        href: dashboardUrl(/** @type {string} */ (m.http)) ?? "",
        label: `node ${m.id}'s dashboard`,
      }))
      .filter((l) => l.href !== ""),
});

new KeyBrowser();
