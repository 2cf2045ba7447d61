// @ts-check
// The MapReduce job page (GET /ui on the coordinator's --http): follows the coordinator's
// "job" events (the JobStatus of src/mapreduce/protocol/messages.ts, twice a second) until the
// job is done or failed; then the page keeps the final state and stops listening. If the
// coordinator goes away before that, the banner says so.

import { Badge } from "../kit/badge.js";
import { byId, formatDuration, formatNumber, h, renderTable, replaceChildren } from "../kit/dom.js";
import { connectLive, GoneBanner } from "../kit/live.js";

/**
 * @typedef {import("../../dist/mapreduce/protocol/messages.js").JobStatus} JobStatus
 * @typedef {JobStatus["tasks"][number]} Task
 * @typedef {JobStatus["workerList"][number]} Worker
 */

const phaseBadge = new Badge(byId("phase-badge", HTMLElement), "the job's phase");
const liveBadge = new Badge(byId("live-badge", HTMLElement), "connection to the coordinator");
const tasksTable = byId("tasks", HTMLTableElement);
const workersTable = byId("workers", HTMLTableElement);
const dash = "–";

/** @param {string} id @param {string} value */
function text(id, value) {
  const el = byId(id, HTMLElement);
  if (el.textContent !== value) el.textContent = value;
}

/** @param {Task} t */
const taskName = (t) => `${t.kind} ${t.index}`;

/** One badge per task, kept across redraws. @type {Map<number, Badge>} */
const badges = new Map();
/** @param {Task} t */
function stateBadge(t) {
  let b = badges.get(t.id);
  if (!b) {
    b = new Badge(undefined, `state of ${taskName(t)}`);
    badges.set(t.id, b);
  }
  if (t.state === "done") b.set("ok", "done");
  else if (t.state === "running") b.set("warn", t.running.length > 1 ? "running ×2" : "running");
  else b.set(t.failures > 0 ? "bad" : "idle", t.failures > 0 ? "idle (failed)" : "idle");
  return b.el;
}

/** @param {Task} t */
function workersOf(t) {
  if (t.state === "done") return t.worker === null ? dash : `worker ${t.worker}`;
  if (t.running.length === 0) return dash;
  return t.running.map((a) => `worker ${a.worker}`).join(", ");
}

/** @param {Task} t */
function durationOf(t) {
  if (t.durationMs !== null && t.state === "done") return formatDuration(t.durationMs);
  const longest = Math.max(0, ...t.running.map((a) => a.runningMs));
  return t.running.length > 0 ? `${formatDuration(longest)} so far` : dash;
}

/** @param {Task} t */
function countersOf(t) {
  const c = t.counters;
  if (!c) return dash;
  return t.kind === "map"
    ? `${formatNumber(c.inputBytes)} B in, ${formatNumber(c.outputPairs)} pairs`
    : `${formatNumber(c.outputPairs)} lines`;
}

/** @type {import("../kit/dom.js").Column[]} */
const TASK_COLUMNS = [
  { label: "Task", cell: taskName },
  { label: "State", cell: stateBadge },
  { label: "Worker", cell: workersOf },
  { label: "Attempts", num: true, cell: (t) => t.attempts },
  { label: "Backups", num: true, cell: (t) => t.backups },
  { label: "Failures", num: true, cell: (t) => t.failures },
  { label: "Duration", num: true, cell: durationOf },
  { label: "Output", cell: countersOf },
];

/** @param {number} kib */
const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;

/** @param {JobStatus} s */
function workerColumns(s) {
  const names = new Map(s.tasks.map((t) => [t.id, taskName(t)]));
  /** @type {import("../kit/dom.js").Column[]} */
  return [
    { label: "Worker", cell: (w) => `worker ${w.id}` },
    { label: "Address", cell: (w) => w.url.replace(/^http:\/\//, "") },
    { label: "State", cell: (w) => (w.lost ? "lost" : "live") },
    { label: "Task", cell: (w) => (w.task === null ? dash : (names.get(w.task) ?? dash)) },
    {
      label: "Last heard",
      num: true,
      cell: (w) => (w.lost ? dash : `${formatDuration(Math.round(w.heartbeatAgeMs))} ago`),
    },
    { label: "Peak RSS", num: true, cell: (w) => (w.maxRssKiB === null ? dash : mib(w.maxRssKiB)) },
  ];
}

/** @param {JobStatus} s */
function renderProgress(s) {
  for (const [kind, c] of /** @type {const} */ ([
    ["map", s.map],
    ["reduce", s.reduce],
  ])) {
    const bar = byId(`${kind}-progress`, HTMLProgressElement);
    bar.max = Math.max(1, c.total);
    bar.value = c.done;
    const words = `${c.done} of ${c.total} done, ${c.running} running`;
    text(`${kind}-text`, words);
    bar.setAttribute("aria-valuetext", words);
  }
  const total = s.map.total + s.reduce.total;
  text(
    "summary",
    `${s.map.done + s.reduce.done}/${total} tasks · ${s.workers} worker${s.workers === 1 ? "" : "s"}`,
  );
}

/** @param {JobStatus} s */
function renderCounters(s) {
  const k = s.counters;
  /** @type {[string, string][]} */
  const rows = [
    ["Input", `${formatNumber(k.inputBytes)} bytes, ${formatNumber(k.inputRecords)} lines`],
    ["Map output", `${formatNumber(k.mapOutputPairs)} pairs`],
    ["Output", `${formatNumber(k.outputPairs)} lines`],
    ["Spills to disk", formatNumber(k.spills)],
    ["Attempts", formatNumber(k.attempts)],
    ["Retries", formatNumber(k.retries)],
    ["Backup tasks", formatNumber(k.backups)],
    ["App failures", formatNumber(k.failures)],
    ["Workers lost", formatNumber(s.lostWorkers)],
    ["Workers refused", formatNumber(s.refusedWorkers)],
  ];
  const dl = byId("counters", HTMLElement);
  if (dl.children.length !== rows.length * 2)
    replaceChildren(dl, ...rows.flatMap(([label]) => [h("dt", {}, label), h("dd", {})]));
  rows.forEach(([, value], i) => {
    const dd = dl.children[2 * i + 1];
    if (dd && dd.textContent !== value) dd.textContent = value;
  });
  const refusal = byId("refusal", HTMLElement);
  refusal.hidden = s.lastRefusal === null;
  if (s.lastRefusal !== null) refusal.textContent = `Last refused: ${s.lastRefusal}`;
}

/** @param {JobStatus} s */
function renderFailures(s) {
  const failed = s.tasks.filter((t) => t.lastError !== null);
  const list = byId("failures", HTMLElement);
  const key = failed.map((t) => `${t.id}:${t.failures}:${t.lastError}`).join("\n");
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  if (failed.length === 0) replaceChildren(list, h("li", { class: "kit-muted" }, "None."));
  else
    replaceChildren(
      list,
      ...failed.map((t) =>
        h(
          "li",
          {},
          `${taskName(t)} failed ${t.failures} time${t.failures === 1 ? "" : "s"}: `,
          h("code", {}, t.lastError),
        ),
      ),
    );
}

/** @param {JobStatus} s */
function renderPhase(s) {
  document.title = `${s.phase === "done" || s.phase === "failed" ? `job ${s.phase}` : `${s.phase} phase`} · raftwork MapReduce`;
  if (s.phase === "done") phaseBadge.set("ok", "job done");
  else if (s.phase === "failed") phaseBadge.set("bad", "job failed");
  else phaseBadge.set("warn", `${s.phase} phase`);
  const error = byId("job-error", HTMLElement);
  error.hidden = s.error === null;
  if (s.error !== null) error.textContent = `The job failed: ${s.error}`;
}

/** @param {JobStatus} s */
function render(s) {
  renderPhase(s);
  renderProgress(s);
  renderTable(tasksTable, TASK_COLUMNS, s.tasks);
  const rows = tasksTable.tBodies[0]?.rows ?? [];
  s.tasks.forEach((t, i) => {
    const tr = rows[i];
    if (tr) tr.dataset.task = taskName(t);
  });
  renderTable(workersTable, workerColumns(s), s.workerList);
  const wrows = workersTable.tBodies[0]?.rows ?? [];
  s.workerList.forEach((w, i) => {
    wrows[i]?.classList.toggle("lost", w.lost);
  });
  renderCounters(s);
  renderFailures(s);
}

let over = false;
const live = connectLive("/ui/events", {
  events: ["job"],
  onEvent: (_type, data) => {
    if (over) return;
    const s = /** @type {JobStatus} */ (data);
    render(s);
    if (s.phase === "done" || s.phase === "failed") {
      // The coordinator exits once the job is over: this is its last word, not an outage.
      over = true;
      live.close();
      liveBadge.set("idle", "final");
      document.body.dataset.state = "done";
    } else document.body.dataset.state = "live";
  },
  onState: (state) => {
    if (over) return;
    liveBadge.set(state === "live" ? "ok" : state === "gone" ? "bad" : "warn", state);
    if (state === "gone") document.body.dataset.state = "gone";
  },
  banner: new GoneBanner(byId("gone", HTMLElement)),
  goneText:
    "The coordinator is gone before the job ended (interrupted, or its process died): what is shown is its last status.",
});
