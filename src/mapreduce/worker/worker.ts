// The worker process: load the app, register, then ask for a task, run it in the task thread,
// report, and repeat, while heartbeating on a timer and serving finished map output to
// reducers. How it ends is a WorkerExit: "done" when the coordinator says the job is done, or
// is gone after we worked for it; "no-coordinator" when none answers at start (within
// connectTimeoutMs); "refused" when the coordinator will not have us (our app failed to load,
// or differs from the job's); "interrupted" when `signal` aborts (SIGINT, SIGTERM). Whichever
// way it ends, the scratch directory is removed.

import { createReadStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type http from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { formatHostPort, type HostPort } from "../../util/host-port.js";
import type { Logger } from "../../util/logger.js";
import { appHash } from "../app/app.js";
import { readFileAt } from "../format/read-at.js";
import { HttpError, postJson, SMALL_BODY } from "../protocol/http-client.js";
import { closeNow, listen, sendJson } from "../protocol/http-server.js";
import type {
  Assignment,
  HeartbeatReply,
  MapAssignment,
  ReduceAssignment,
  RegisterReply,
} from "../protocol/messages.js";
import { createServer, currentSecurity, scheme } from "../protocol/security.js";
import { TaskRunner } from "./task-runner.js";
import type { JobContext, LocalSection, TaskOutcome } from "./thread-protocol.js";

export interface WorkerOptions {
  coordinator: HostPort;
  appPath: string;
  /** Parent of this worker's own scratch directory (default: the system's temp directory). */
  scratch?: string | undefined;
  /** Where map output is served to reducers (port 0: any free port). */
  listen: HostPort;
  /** The address announced to reducers; without a port, the port the worker listens on.
   * Default: the listen address. */
  advertise?: { host: string; port?: number | undefined } | undefined;
  memoryBytes: number;
  connectTimeoutMs: number;
  log: Logger;
  /** Aborting it stops the worker: it cleans up and ends "interrupted". */
  signal?: AbortSignal | undefined;
}

/** How a worker ended. */
export type WorkerExit =
  | { outcome: "done" }
  | { outcome: "no-coordinator"; reason: string }
  | { outcome: "refused"; reason: string }
  | { outcome: "interrupted" };

/** The coordinator is considered gone after this long without any answer. */
const GONE_MS = 3000;

/** Runs the worker until it ends; rejects with ListenError if it cannot serve on `listen`. */
export async function runWorker(opts: WorkerOptions): Promise<WorkerExit> {
  const { log, signal } = opts;
  const base = `${scheme()}://${formatHostPort(opts.coordinator)}`;
  const hash = appHash(opts.appPath);
  const appName = basename(opts.appPath);
  // Our own scratch directory, always fresh, removed on exit: nothing is shared with another
  // worker even when several are given the same --scratch.
  if (opts.scratch) mkdirSync(opts.scratch, { recursive: true });
  const scratch = mkdtempSync(join(opts.scratch ?? tmpdir(), "raftwork-mr-worker-"));
  const outputs = new Map<number, { file: string; offsets: number[] }>();
  const server = createServer((req, res) => serveOutput(outputs, req, res));
  server.keepAliveTimeout = 30_000;
  // The task thread loads the app while we start listening; we register once we know
  // whether it loaded, so that a worker whose app cannot load is refused, not handed tasks.
  const runner = new TaskRunner({
    appPath: opts.appPath,
    appName,
    scratch,
    security: currentSecurity(),
  });
  const loaded = runner.warm();
  let heartbeat: NodeJS.Timeout | undefined;
  let over: WorkerExit | undefined;
  let wake: (() => void) | undefined;
  const stop = (exit: WorkerExit) => {
    over ??= exit;
    runner.cancel();
    wake?.();
  };
  /** Resolves when the signal aborts: every wait races it. */
  const interrupted = new Promise<void>((resolve) => {
    const onAbort = () => {
      stop({ outcome: "interrupted" });
      resolve();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
  const pause = (ms: number) =>
    Promise.race([interrupted, new Promise<void>((r) => setTimeout(r, ms))]);
  try {
    const at = await listen(server, opts.listen, "map-output");
    const advertise = `${scheme()}://${formatHostPort({
      host: opts.advertise?.host ?? at.host,
      port: opts.advertise?.port ?? at.port,
    })}`;
    log.info({ scratch, serving: formatHostPort(at), advertise }, "worker starting");
    const load = await Promise.race([loaded, interrupted]);
    if (over || !load) return over ?? { outcome: "interrupted" };
    if (!load.ok) log.error({ app: appName }, `${load.error}: reporting it to the coordinator`);

    const register = async (deadline: number): Promise<RegisterReply | WorkerExit> => {
      const body = {
        appHash: hash,
        appName,
        advertise,
        appError: load.ok ? undefined : load.error,
      };
      for (;;) {
        try {
          return (await postJson(`${base}/v1/register`, body, {
            timeoutMs: 5000,
            signal,
          })) as RegisterReply;
        } catch (err) {
          if (over) return over;
          if (err instanceof HttpError && err.status === 409)
            return { outcome: "refused", reason: err.message };
          if (err instanceof HttpError && err.status !== 0) throw err;
          if (Date.now() >= deadline)
            return {
              outcome: "no-coordinator",
              reason: `no coordinator at ${formatHostPort(opts.coordinator)}: ${(err as Error).message}`,
            };
          await pause(250);
        }
      }
    };

    let reg = await register(Date.now() + opts.connectTimeoutMs);
    if ("outcome" in reg) return reg;
    let me: RegisterReply = reg;
    log.info({ workerId: me.workerId }, "registered");

    let current: (MapAssignment | ReduceAssignment) | undefined;
    let lastAnswer = Date.now();
    let reregister = false;
    /** Any answer proves the coordinator is there; long silence means it is gone. */
    const call = async (path: string, body: object): Promise<unknown> => {
      try {
        const r = await postJson(`${base}${path}`, body, {
          timeoutMs: Math.max(2000, GONE_MS),
          signal,
        });
        lastAnswer = Date.now();
        return r;
      } catch (err) {
        if (err instanceof HttpError && err.status !== 0) lastAnswer = Date.now();
        if (err instanceof HttpError && err.status === 410) {
          reregister = true;
          runner.cancel();
        }
        if (Date.now() - lastAnswer > GONE_MS) {
          log.info("coordinator gone: exiting");
          stop({ outcome: "done" });
        }
        throw err;
      }
    };

    const job = (): JobContext => ({
      coordinatorUrl: base,
      workerId: me.workerId,
      memoryBytes: Math.min(opts.memoryBytes, me.memoryBytes),
    });
    const beat = async () => {
      const a = current;
      const running = a ? { attempt: a.attempt, progress: runner.progress } : undefined;
      try {
        const r = (await call("/v1/heartbeat", {
          workerId: me.workerId,
          running,
          maxRssKiB: process.resourceUsage().maxRSS,
        })) as HeartbeatReply;
        if (r.done) stop({ outcome: "done" });
        else if (r.cancel && a && current === a) {
          log.info({ task: a.task, attempt: a.attempt }, "coordinator cancelled the task");
          runner.cancel();
        }
      } catch {
        // counted by call(); the next beat retries
      }
    };
    heartbeat = setInterval(() => void beat(), me.heartbeatMs);

    while (!over) {
      if (reregister) {
        reregister = false;
        reg = await register(Date.now() + GONE_MS);
        // Silence now, after we worked for it: the coordinator is gone, the job over for us.
        if ("outcome" in reg) return reg.outcome === "no-coordinator" ? { outcome: "done" } : reg;
        me = reg;
        log.warn({ workerId: me.workerId }, "coordinator had given us up: registered again");
        continue;
      }
      let a: Assignment;
      try {
        const maxRssKiB = process.resourceUsage().maxRSS;
        a = (await call("/v1/task", { workerId: me.workerId, maxRssKiB })) as Assignment;
      } catch {
        if (!over) await pause(100);
        continue;
      }
      if (over || a.type === "done") break;
      if (a.type === "wait") {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, a.ms);
        });
        continue;
      }
      current = a;
      const outcome = await runner.run(
        a,
        job(),
        a.type === "reduce" ? localSections(a) : undefined,
      );
      current = undefined;
      if (outcome && !over) await report(a, outcome);
    }
    return over ?? { outcome: "done" };

    /** The sources of a reduce task that are our own map outputs: read from disk, not HTTP. */
    function localSections(a: ReduceAssignment): LocalSection[] {
      const prefix = `${advertise}/v1/map-output/`;
      const local: LocalSection[] = [];
      for (const s of a.sources) {
        const out = s.url.startsWith(prefix)
          ? outputs.get(Number(s.url.slice(prefix.length)))
          : undefined;
        const start = out?.offsets[a.partition];
        const end = out?.offsets[a.partition + 1];
        if (out && start !== undefined && end !== undefined)
          local.push({ mapTask: s.mapTask, file: out.file, start, end });
      }
      return local;
    }

    async function report(a: MapAssignment | ReduceAssignment, o: TaskOutcome) {
      try {
        if (o.type === "map-done") {
          outputs.set(a.attempt, { file: o.file, offsets: o.offsets });
          const r = (await call("/v1/complete", {
            workerId: me.workerId,
            attempt: a.attempt,
            counters: o.counters,
          })) as { accepted: boolean };
          if (!r.accepted) {
            outputs.delete(a.attempt);
            rmSync(o.file, { force: true });
          }
        } else if (o.type === "failed") {
          log.warn({ task: a.task, attempt: a.attempt, kind: o.kind }, o.error);
          await call("/v1/fail", {
            workerId: me.workerId,
            attempt: a.attempt,
            kind: o.kind,
            error: o.error,
            mapTask: o.mapTask,
          });
        }
      } catch (err) {
        log.warn({ err }, "could not report a task");
      }
    }
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    wake = undefined;
    // The thread must be gone before the directory it writes into is removed.
    await runner.close();
    await closeNow(server);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** GET /v1/map-output/<attempt>/<r>: partition r of a finished map task, streamed. */
export function serveOutput(
  outputs: Map<number, { file: string; offsets: number[] }>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): void {
  req.resume();
  const m = /^\/v1\/map-output\/(\d+)\/(\d+)$/.exec(req.url ?? "");
  const out = m ? outputs.get(Number(m[1])) : undefined;
  const r = Number(m?.[2]);
  const start = out?.offsets[r];
  const end = out?.offsets[r + 1];
  if (req.method !== "GET" || !out || start === undefined || end === undefined) {
    sendJson(res, 404, { error: `no such map output: ${req.url}` });
    return;
  }
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": end - start });
  if (end - start <= SMALL_BODY) {
    let body: Buffer | undefined;
    try {
      body = readFileAt(out.file, start, end - start);
    } catch {
      // Gone (rejected as a late copy, say): the reducer sees a failed fetch and retries.
    }
    if (body?.length === end - start) res.end(body);
    else res.destroy();
    return;
  }
  pipeline(createReadStream(out.file, { start, end: end - 1 }), res).catch(() => res.destroy());
}
