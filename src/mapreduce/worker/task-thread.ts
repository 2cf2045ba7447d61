// Entry point of a task thread (worker_threads). User code runs here, off the worker's main
// thread, so a long map call never delays the heartbeats that keep the worker alive in the
// coordinator's eyes; the main thread forwards this thread's progress instead.
//
//   main thread  --{task}-->  task thread  --{progress}*, then {done} or {failed}-->  main

import { parentPort, workerData } from "node:worker_threads";
import { type App, errorText, forbidProcessExit, loadApp } from "../app/app.js";
import { HttpError } from "../protocol/http-client.js";
import type { MapAssignment, ReduceAssignment } from "../protocol/messages.js";
import { configureSecurity } from "../protocol/security.js";
import { FetchError, runMapTask, runReduceTask, taskLabel } from "./tasks.js";
import type {
  JobContext,
  LocalSection,
  ThreadData,
  ThreadReply,
  ThreadRequest,
} from "./thread-protocol.js";

const data = workerData as ThreadData;
configureSecurity(data.security);
const port = parentPort;
if (!port) throw new Error("task-thread.ts must run in a worker thread");

// process.exit in a worker thread would end just this thread; an app calling it is a bad app,
// so it fails the task with a clear error instead (and stops the app where it stands).
forbidProcessExit();

// The worker registers only once it knows whether the app loaded (a worker whose app cannot
// load is refused); should a task come anyway, it fails with the same error.
const app: Promise<App> = loadApp(data.appPath);
app.then(
  () => post({ type: "loaded" }),
  (err: unknown) => post({ type: "load-failed", error: errorText(err) }),
);

let lastPost = 0;
let pending = false;
function progress(): void {
  const now = Date.now();
  if (now - lastPost >= 100) {
    lastPost = now;
    post({ type: "progress" });
  } else {
    pending = true;
  }
}

function post(msg: ThreadReply): void {
  port?.postMessage(msg);
}

async function run(
  a: MapAssignment | ReduceAssignment,
  job: JobContext,
  local: LocalSection[] = [],
): Promise<ThreadReply> {
  const ctx = { ...job, scratch: data.scratch, progress };
  try {
    const loaded = await app;
    if (a.type === "map") {
      const out = await runMapTask(loaded, a, ctx);
      return { type: "map-done", file: out.file, offsets: out.offsets, counters: out.counters };
    }
    const out = await runReduceTask(loaded, a, ctx, local);
    return { type: "reduce-done", accepted: out.accepted, counters: out.counters };
  } catch (err) {
    if (err instanceof FetchError || err instanceof HttpError) {
      const mapTask = err instanceof FetchError ? err.mapTask : undefined;
      return { type: "failed", kind: "fetch", error: `${taskLabel(a)}: ${err.message}`, mapTask };
    }
    const text = errorText(err).replace(/^app [^:]*: /, "");
    return { type: "failed", kind: "app", error: `app ${data.appName}: ${taskLabel(a)}: ${text}` };
  }
}

port.on("message", (msg: ThreadRequest) => {
  void run(msg.assignment, msg.job, msg.local).then((reply) => {
    if (pending) post({ type: "progress" });
    pending = false;
    post(reply);
  });
});
