// The main-thread side of a task thread: starts it, hands it tasks one at a time, counts its
// progress, and replaces it when it dies (an app that crashed it) or must be stopped (a task
// the coordinator no longer wants, possibly stuck in an endless loop).

import { Worker } from "node:worker_threads";
import { err, ok, type Result } from "../../util/result.js";
import type { MapAssignment, ReduceAssignment } from "../protocol/messages.js";
import { taskLabel } from "./tasks.js";
import type {
  JobContext,
  LocalSection,
  TaskOutcome,
  ThreadData,
  ThreadReply,
  ThreadRequest,
} from "./thread-protocol.js";

// Compiled, this file is task-runner.js next to task-thread.js; run from source through tsx,
// both are .ts and the thread inherits tsx's --import from process.execArgv.
const THREAD_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./task-thread.ts" : "./task-thread.js",
  import.meta.url,
);

interface Running {
  assignment: MapAssignment | ReduceAssignment;
  resolve: (o: TaskOutcome | undefined) => void;
}

export class TaskRunner {
  private thread: Worker | undefined;
  private running: Running | undefined;
  /** Threads told to stop that have not stopped yet. */
  private readonly terminating = new Set<Promise<unknown>>();
  /** Progress counter of the current task (reported in heartbeats). */
  progress = 0;

  constructor(private readonly data: ThreadData) {}

  /**
   * Starts the thread now, so that it has loaded the app by the time the first task comes;
   * resolves once the app loaded, or with the reason it did not.
   */
  warm(): Promise<Result<void>> {
    const thread = this.thread ?? this.start();
    return new Promise((resolve) => {
      const onMessage = (msg: ThreadReply) => {
        if (msg.type === "loaded") done(ok(undefined));
        else if (msg.type === "load-failed") done(err(msg.error));
      };
      const onExit = (code: number) =>
        done(
          err(`app ${this.data.appName}: the task thread exited (code ${code}) while loading it`),
        );
      const done = (r: Result<void>) => {
        thread.off("message", onMessage).off("exit", onExit);
        resolve(r);
      };
      thread.on("message", onMessage).on("exit", onExit);
    });
  }

  /** Runs one task; resolves with its outcome, or undefined if it was cancelled. */
  run(
    assignment: MapAssignment | ReduceAssignment,
    job: JobContext,
    local?: LocalSection[],
  ): Promise<TaskOutcome | undefined> {
    if (this.running) throw new Error("TaskRunner runs one task at a time");
    const thread = this.thread ?? this.start();
    this.progress = 0;
    return new Promise((resolve) => {
      this.running = { assignment, resolve };
      thread.postMessage({ assignment, job, local } satisfies ThreadRequest);
    });
  }

  /** Stops the current task (terminating its thread, whatever the app is doing). */
  cancel(): void {
    const r = this.running;
    if (!r) return;
    this.running = undefined;
    this.kill();
    r.resolve(undefined);
  }

  /** Stops the thread; resolves once it is gone (it writes no more files after). */
  async close(): Promise<void> {
    this.cancel();
    this.kill();
    await Promise.all(this.terminating);
  }

  private start(): Worker {
    const thread = new Worker(THREAD_URL, { workerData: this.data });
    thread.unref();
    thread.on("message", (msg: ThreadReply) => {
      if (thread !== this.thread) return;
      if (msg.type === "loaded" || msg.type === "load-failed") return;
      if (msg.type === "progress") {
        this.progress++;
        return;
      }
      this.finish(msg);
      // A failed task may have left the app in any state: start the next one afresh.
      if (msg.type === "failed") this.kill();
    });
    const died = (why: string) => {
      if (thread !== this.thread) return;
      this.thread = undefined;
      const r = this.running;
      if (r) {
        const label = taskLabel(r.assignment);
        this.finish({
          type: "failed",
          kind: "app",
          error: `app ${this.data.appName}: ${label}: ${why}`,
        });
      }
    };
    thread.on("error", (err) =>
      died(`uncaught ${err instanceof Error ? err.message : String(err)}`),
    );
    thread.on("exit", (code) => died(`the task thread exited (code ${code})`));
    this.thread = thread;
    return thread;
  }

  private finish(outcome: TaskOutcome): void {
    const r = this.running;
    this.running = undefined;
    r?.resolve(outcome);
  }

  private kill(): void {
    const t = this.thread;
    this.thread = undefined;
    if (!t) return;
    const p = t.terminate().finally(() => this.terminating.delete(p));
    this.terminating.add(p);
  }
}
