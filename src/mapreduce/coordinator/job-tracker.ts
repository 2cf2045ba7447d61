// The coordinator's bookkeeping, free of I/O: tasks, attempts, workers and the rules that move
// them (MapReduce paper, section 3.2 "Master Data Structures", 3.3 "Fault Tolerance" and 3.6
// "Backup Tasks"). Time comes in as a `now` argument, so tests drive it directly.
//
//   task:  idle --assign--> running --first completion--> done
//           ^                 |  (attempt failed, stalled, or its worker lost, and no other
//           +-----------------+   attempt still running)
//   done map task --its worker lost while some reduce task is not done--> idle
//
// Reduce tasks are handed out only while every map task is done.

import { err, ok, type Result } from "../../util/result.js";
import type {
  Assignment,
  Counters,
  JobStatus,
  RegisterRequest,
  TaskKind,
  TaskState,
} from "../protocol/messages.js";
import type { InputInfo } from "./job-files.js";
import type { Split } from "./split.js";

export interface JobTrackerOptions {
  splits: readonly (Split & Pick<InputInfo, "size" | "mtimeMs">)[];
  nReduce: number;
  /** A worker without heartbeat, or an attempt without progress, for this long is given up. */
  taskTimeoutMs: number;
  heartbeatMs: number;
  /** App failures of one task that fail the job (README, "MapReduce": 4). */
  maxFailures?: number;
  /** Backup tasks: an attempt running longer than max(factor x median, min) gets a copy. */
  backupFactor?: number;
  backupMinMs?: number;
}

interface Task {
  id: number;
  kind: TaskKind;
  /** Split index (map) or partition (reduce). */
  index: number;
  state: TaskState;
  running: Set<Attempt>;
  attempts: number;
  backups: number;
  failures: number;
  lastError?: string | undefined;
  /** Map task: the attempt whose output reducers fetch. */
  output?: Attempt | undefined;
  counters?: Counters | undefined;
  durationMs?: number | undefined;
  /** The worker whose attempt completed the task. */
  doneBy?: number | undefined;
}

interface Attempt {
  id: number;
  task: Task;
  worker: WorkerState;
  startedAt: number;
  lastProgressAt: number;
  progress: number;
  live: boolean;
}

interface WorkerState {
  id: number;
  url: string;
  lastHeartbeat: number;
  attempt?: Attempt | undefined;
  lost: boolean;
  toldDone: boolean;
  maxRssKiB?: number | undefined;
}

export type Event =
  | { type: "worker-joined"; worker: number; url: string }
  | { type: "worker-refused"; app: string; reason: string }
  | { type: "worker-lost"; worker: number; rerunMaps: number[] }
  | {
      type: "task-started";
      task: number;
      kind: TaskKind;
      attempt: number;
      worker: number;
      backup: boolean;
    }
  | { type: "task-done"; task: number; kind: TaskKind; attempt: number; worker: number }
  | { type: "task-stalled"; task: number; attempt: number; worker: number }
  | {
      type: "task-failed";
      task: number;
      attempt: number;
      worker: number;
      error: string;
      counts: boolean;
    };

/** Tracks a job's tasks, their attempts and the workers running them. */
export class JobTracker {
  readonly tasks: Task[] = [];
  private readonly attempts = new Map<number, Attempt>();
  private readonly workers = new Map<number, WorkerState>();
  private nextAttempt = 1;
  private nextWorker = 1;
  private appHash: string | undefined;
  private doneReduces = 0;
  private refused = 0;
  private lastRefusal: string | undefined;
  /** Set once the job failed; the message is the app error that failed it. */
  failure: string | undefined;
  readonly events: Event[] = [];
  private readonly maxFailures: number;
  private readonly backupFactor: number;
  private readonly backupMinMs: number;

  constructor(private readonly opts: JobTrackerOptions) {
    this.maxFailures = opts.maxFailures ?? 4;
    this.backupFactor = opts.backupFactor ?? 3;
    this.backupMinMs = opts.backupMinMs ?? 5000;
    for (let i = 0; i < opts.splits.length; i++)
      this.tasks.push(newTask(this.tasks.length, "map", i));
    for (let r = 0; r < opts.nReduce; r++) this.tasks.push(newTask(this.tasks.length, "reduce", r));
  }

  get finished(): boolean {
    return this.failure !== undefined || this.doneReduces === this.opts.nReduce;
  }

  get succeeded(): boolean {
    return this.failure === undefined && this.doneReduces === this.opts.nReduce;
  }

  /** Fails the job from outside (e.g. its local workers keep dying). */
  abort(reason: string): void {
    if (!this.finished) this.failure = reason;
  }

  /**
   * A worker joins. One whose app failed to load is refused with its own reason; the first
   * worker that loaded its app fixes the job's app, and later ones must run the same bytes.
   * A refusal is not a task failure: it does not count toward the job's failure limit.
   */
  register(req: RegisterRequest, now: number): Result<{ workerId: number }> {
    let refusal: string | undefined;
    if (req.appError !== undefined) refusal = req.appError;
    else if (this.appHash !== undefined && this.appHash !== req.appHash)
      refusal = `app ${req.appName} differs from the job's app (sha256 ${req.appHash.slice(0, 12)}... vs ${this.appHash.slice(0, 12)}...): every worker must run the same app`;
    if (refusal !== undefined) {
      this.refused++;
      this.lastRefusal = refusal;
      this.events.push({ type: "worker-refused", app: req.appName, reason: refusal });
      return err(refusal);
    }
    this.appHash ??= req.appHash;
    const w: WorkerState = {
      id: this.nextWorker++,
      url: req.advertise,
      lastHeartbeat: now,
      lost: false,
      toldDone: false,
    };
    this.workers.set(w.id, w);
    this.events.push({ type: "worker-joined", worker: w.id, url: w.url });
    return ok({ workerId: w.id });
  }

  /** A live worker, or undefined if unknown or declared lost (it must register again). */
  private worker(id: number, now: number): WorkerState | undefined {
    const w = this.workers.get(id);
    if (!w || w.lost) return undefined;
    w.lastHeartbeat = now;
    return w;
  }

  /** An idle worker asks for work. undefined = unknown worker. */
  requestTask(workerId: number, now: number, maxRssKiB?: number): Assignment | undefined {
    const w = this.worker(workerId, now);
    if (!w) return undefined;
    if (maxRssKiB !== undefined) w.maxRssKiB = maxRssKiB;
    if (this.finished) {
      w.toldDone = true;
      return { type: "done" };
    }
    // A worker asks only when idle: whatever it ran before is over.
    if (w.attempt) this.endAttempt(w.attempt);
    const kind: TaskKind = this.mapsDone() ? "reduce" : "map";
    const idle = this.tasks.find((t) => t.kind === kind && t.state === "idle");
    if (idle) return this.start(idle, w, now, false);
    const slow = this.backupCandidate(kind, now);
    if (slow) return this.start(slow, w, now, true);
    return { type: "wait", ms: Math.min(100, this.opts.heartbeatMs) };
  }

  heartbeat(
    workerId: number,
    running: { attempt: number; progress: number } | undefined,
    now: number,
    maxRssKiB?: number,
  ) {
    const w = this.worker(workerId, now);
    if (!w) return undefined;
    if (maxRssKiB !== undefined) w.maxRssKiB = maxRssKiB;
    let cancel = false;
    if (running) {
      const a = this.attempts.get(running.attempt);
      if (!a || a.worker !== w || !a.live) cancel = true;
      else if (running.progress > a.progress) {
        a.progress = running.progress;
        a.lastProgressAt = now;
      }
    }
    if (this.finished) w.toldDone = true;
    return { cancel, done: this.finished };
  }

  /** A map attempt finished: the first completion of a task wins. */
  completeMap(workerId: number, attemptId: number, counters: Counters, now: number): boolean {
    const a = this.attemptOf(workerId, attemptId, now);
    if (a?.task.kind !== "map" || a.task.state === "done") return false;
    this.complete(a, counters, now);
    a.task.output = a;
    return true;
  }

  /** May this reduce attempt's output become mr-out-<r>? (checked before the rename) */
  canAcceptOutput(workerId: number, attemptId: number, now: number): number | undefined {
    const a = this.attemptOf(workerId, attemptId, now);
    if (a?.task.kind !== "reduce" || a.task.state === "done" || this.finished) return undefined;
    return a.task.index;
  }

  /** The reduce attempt's output was renamed into place. */
  completeReduce(workerId: number, attemptId: number, counters: Counters, now: number): void {
    const a = this.attemptOf(workerId, attemptId, now);
    if (a?.task.kind !== "reduce" || a.task.state === "done") return;
    this.complete(a, counters, now);
    this.doneReduces++;
  }

  fail(
    workerId: number,
    attemptId: number,
    kind: "app" | "fetch",
    error: string,
    mapTask: number | undefined,
    now: number,
  ): void {
    const w = this.worker(workerId, now);
    const a = this.attempts.get(attemptId);
    if (!w || !a || a.worker !== w || !a.live) return;
    const task = a.task;
    this.endAttempt(a);
    const counts = kind === "app";
    this.events.push({
      type: "task-failed",
      task: task.id,
      attempt: a.id,
      worker: w.id,
      error,
      counts,
    });
    if (counts) {
      task.failures++;
      task.lastError = error;
      if (task.failures >= this.maxFailures && task.state !== "done" && this.failure === undefined)
        this.failure = `${error} (failed ${task.failures} times: giving up on the job)`;
    }
    // A reducer could not fetch a map output: if that worker has been quiet for a while it is
    // probably dead; declare it lost now instead of making every reducer wait for the timeout.
    if (mapTask !== undefined) {
      const holder = this.tasks[mapTask]?.output?.worker;
      if (holder && !holder.lost && now - holder.lastHeartbeat > 2 * this.opts.heartbeatMs)
        this.lose(holder);
    }
  }

  /** Periodic check: lost workers and stalled attempts (section 3.3, "Worker Failure"). */
  tick(now: number): void {
    for (const w of this.workers.values()) {
      if (!w.lost && now - w.lastHeartbeat > this.opts.taskTimeoutMs) this.lose(w);
    }
    for (const a of [...this.attempts.values()]) {
      if (a.live && now - a.lastProgressAt > this.opts.taskTimeoutMs) {
        this.events.push({
          type: "task-stalled",
          task: a.task.id,
          attempt: a.id,
          worker: a.worker.id,
        });
        this.endAttempt(a);
      }
    }
  }

  /** Where reducers fetch each map task's output (valid while every map task is done). */
  reduceSources(): { mapTask: number; url: string }[] {
    return this.tasks
      .filter((t) => t.kind === "map")
      .map((t) => ({
        mapTask: t.id,
        url: `${t.output?.worker.url}/v1/map-output/${t.output?.id}`,
      }));
  }

  /** True when every live worker has been told the job is over. */
  allToldDone(): boolean {
    for (const w of this.workers.values()) if (!w.lost && !w.toldDone) return false;
    return true;
  }

  split(taskId: number) {
    const t = this.tasks[taskId];
    return t?.kind === "map" ? this.opts.splits[t.index] : undefined;
  }

  status(now: number): JobStatus {
    const count = (kind: TaskKind, state?: TaskState) =>
      this.tasks.filter((t) => t.kind === kind && (!state || t.state === state)).length;
    const sum = (f: (t: Task) => number) => this.tasks.reduce((s, t) => s + f(t), 0);
    return {
      phase: this.failure ? "failed" : this.succeeded ? "done" : this.mapsDone() ? "reduce" : "map",
      error: this.failure ?? null,
      workers: [...this.workers.values()].filter((w) => !w.lost).length,
      lostWorkers: [...this.workers.values()].filter((w) => w.lost).length,
      refusedWorkers: this.refused,
      lastRefusal: this.lastRefusal ?? null,
      workerList: [...this.workers.values()].map((w) => ({
        id: w.id,
        url: w.url,
        lost: w.lost,
        maxRssKiB: w.maxRssKiB ?? null,
        heartbeatAgeMs: now - w.lastHeartbeat,
        task: w.attempt?.task.id ?? null,
      })),
      map: { total: count("map"), done: count("map", "done"), running: count("map", "running") },
      reduce: {
        total: count("reduce"),
        done: count("reduce", "done"),
        running: count("reduce", "running"),
      },
      counters: {
        inputBytes: sum((t) => (t.kind === "map" ? (t.counters?.inputBytes ?? 0) : 0)),
        inputRecords: sum((t) => (t.kind === "map" ? (t.counters?.inputRecords ?? 0) : 0)),
        mapOutputPairs: sum((t) => (t.kind === "map" ? (t.counters?.outputPairs ?? 0) : 0)),
        outputPairs: sum((t) => (t.kind === "reduce" ? (t.counters?.outputPairs ?? 0) : 0)),
        spills: sum((t) => t.counters?.spills ?? 0),
        attempts: sum((t) => t.attempts),
        retries: sum((t) => Math.max(0, t.attempts - 1 - t.backups)),
        backups: sum((t) => t.backups),
        failures: sum((t) => t.failures),
      },
      tasks: this.tasks.map((t) => ({
        id: t.id,
        kind: t.kind,
        index: t.index,
        state: t.state,
        attempts: t.attempts,
        backups: t.backups,
        failures: t.failures,
        running: [...t.running].map((a) => ({
          attempt: a.id,
          worker: a.worker.id,
          runningMs: now - a.startedAt,
        })),
        durationMs: t.durationMs ?? null,
        worker: t.state === "done" ? (t.doneBy ?? null) : null,
        counters: t.counters ?? null,
        lastError: t.lastError ?? null,
      })),
    };
  }

  private mapsDone(): boolean {
    return this.tasks.every((t) => t.kind !== "map" || t.state === "done");
  }

  private start(task: Task, w: WorkerState, now: number, backup: boolean): Assignment {
    const a: Attempt = {
      id: this.nextAttempt++,
      task,
      worker: w,
      startedAt: now,
      lastProgressAt: now,
      progress: 0,
      live: true,
    };
    this.attempts.set(a.id, a);
    task.running.add(a);
    task.state = "running";
    task.attempts++;
    if (backup) task.backups++;
    w.attempt = a;
    this.events.push({
      type: "task-started",
      task: task.id,
      kind: task.kind,
      attempt: a.id,
      worker: w.id,
      backup,
    });
    if (task.kind === "map") {
      const s = this.opts.splits[task.index] as JobTrackerOptions["splits"][number];
      return {
        type: "map",
        attempt: a.id,
        task: task.id,
        nReduce: this.opts.nReduce,
        input: { path: s.path, start: s.start, end: s.end, size: s.size, mtimeMs: s.mtimeMs },
      };
    }
    return {
      type: "reduce",
      attempt: a.id,
      task: task.id,
      partition: task.index,
      sources: this.reduceSources(),
    };
  }

  /**
   * Section 3.6: when no unassigned work is left, an attempt that has run far longer than is
   * usual for its kind gets a backup copy. Needs at least one finished task to judge "usual".
   */
  private backupCandidate(kind: TaskKind, now: number): Task | undefined {
    const durations = this.tasks
      .filter((t) => t.kind === kind && t.durationMs !== undefined)
      .map((t) => t.durationMs as number)
      .sort((x, y) => x - y);
    if (durations.length === 0) return undefined;
    const median = durations[durations.length >> 1] as number;
    const threshold = Math.max(this.backupFactor * median, this.backupMinMs);
    return this.tasks.find((t) => {
      if (t.kind !== kind || t.state !== "running" || t.running.size !== 1 || t.backups > 0)
        return false;
      const [a] = t.running as Set<Attempt>;
      return a !== undefined && now - a.startedAt > threshold;
    });
  }

  private attemptOf(workerId: number, attemptId: number, now: number): Attempt | undefined {
    const w = this.worker(workerId, now);
    const a = this.attempts.get(attemptId);
    return w && a && a.worker === w ? a : undefined;
  }

  private complete(a: Attempt, counters: Counters, now: number): void {
    const task = a.task;
    task.state = "done";
    task.counters = counters;
    task.durationMs = now - a.startedAt;
    task.doneBy = a.worker.id;
    this.endAttempt(a);
    // The other copies lose the race: their workers hear "cancel" on their next heartbeat.
    for (const other of [...task.running]) this.endAttempt(other);
    this.events.push({
      type: "task-done",
      task: task.id,
      kind: task.kind,
      attempt: a.id,
      worker: a.worker.id,
    });
  }

  private endAttempt(a: Attempt): void {
    a.live = false;
    this.attempts.delete(a.id);
    a.task.running.delete(a);
    if (a.worker.attempt === a) a.worker.attempt = undefined;
    if (a.task.state === "running" && a.task.running.size === 0) a.task.state = "idle";
  }

  /**
   * Section 3.3: a lost worker's running attempts are given up, and its completed map tasks
   * run again, because their output lived on its disk, unless every reducer already has it.
   */
  private lose(w: WorkerState): void {
    w.lost = true;
    if (w.attempt) this.endAttempt(w.attempt);
    const rerun: number[] = [];
    if (this.doneReduces < this.opts.nReduce) {
      for (const t of this.tasks) {
        if (t.kind === "map" && t.state === "done" && t.output?.worker === w) {
          t.state = "idle";
          t.output = undefined;
          rerun.push(t.id);
        }
      }
    }
    this.events.push({ type: "worker-lost", worker: w.id, rerunMaps: rerun });
  }
}

function newTask(id: number, kind: TaskKind, index: number): Task {
  return {
    id,
    kind,
    index,
    state: "idle",
    running: new Set(),
    attempts: 0,
    backups: 0,
    failures: 0,
  };
}
