// The worker process: register, then ask for a task, run it in the task thread, report, and
// repeat, while heartbeating on a timer and serving finished map output to reducers.
// Exit: 0 when the coordinator says the job is done or is gone after we worked for it; 3 when
// no coordinator answers at start (within connectTimeoutMs); 1 when our app is refused.

import { createReadStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Logger } from "pino";
import { appHash } from "./app.js";
import { HttpError, listen, postJson, SMALL_BODY, sendJson } from "./http.js";
import type {
  Assignment,
  HeartbeatReply,
  MapAssignment,
  ReduceAssignment,
  RegisterReply,
} from "./protocol.js";
import { readFileAt } from "./split.js";
import { TaskRunner } from "./task-runner.js";
import type { JobContext, LocalSection, TaskOutcome } from "./thread-protocol.js";

export interface WorkerOptions {
  coordinator: string; // HOST:PORT
  appPath: string;
  scratch?: string | undefined;
  listen: { host: string; port: number };
  advertise?: string | undefined; // HOST:PORT
  memoryBytes: number;
  connectTimeoutMs: number;
  log: Logger;
}

/** How a worker ended. */
export type WorkerExit = { code: 0 } | { code: 1 | 3; message: string };

/** The coordinator is considered gone after this long without any answer. */
const GONE_MS = 3000;

export async function runWorker(opts: WorkerOptions): Promise<WorkerExit> {
  const log = opts.log;
  const base = `http://${opts.coordinator}`;
  const hash = appHash(opts.appPath);
  const appName = basename(opts.appPath);
  // Our own scratch directory, always fresh, removed on exit: nothing is shared with another
  // worker even when several are given the same --scratch.
  if (opts.scratch) mkdirSync(opts.scratch, { recursive: true });
  const scratch = mkdtempSync(join(opts.scratch ?? tmpdir(), "raftwork-mr-worker-"));
  const outputs = new Map<number, { file: string; offsets: number[] }>();
  const server = http.createServer((req, res) => serveOutput(outputs, req, res));
  server.keepAliveTimeout = 30_000;
  // The task thread loads the app while we register: the first task finds it ready.
  const runner = new TaskRunner({ appPath: opts.appPath, appName, scratch });
  runner.warm();
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    const listenAddr = await listen(server, opts.listen.host, opts.listen.port);
    const advertise = `http://${opts.advertise ?? listenAddr}`;
    log.info({ scratch, serving: listenAddr, advertise }, "worker starting");

    const register = async (deadline: number): Promise<RegisterReply | WorkerExit> => {
      for (;;) {
        try {
          return (await postJson(
            `${base}/v1/register`,
            { appHash: hash, appName, advertise },
            5000,
          )) as RegisterReply;
        } catch (err) {
          if (err instanceof HttpError && err.status === 409)
            return { code: 1, message: err.message };
          if (err instanceof HttpError && err.status !== 0) throw err;
          if (Date.now() >= deadline)
            return {
              code: 3,
              message: `no coordinator at ${opts.coordinator}: ${(err as Error).message}`,
            };
          await sleep(250);
        }
      }
    };

    let reg = await register(Date.now() + opts.connectTimeoutMs);
    if ("code" in reg) return reg;
    let me: RegisterReply = reg;
    log.info({ workerId: me.workerId }, "registered");

    let current: (MapAssignment | ReduceAssignment) | undefined;
    let lastAnswer = Date.now();
    let over: WorkerExit | undefined;
    let reregister = false;
    let wake: (() => void) | undefined;
    const stop = (exit: WorkerExit) => {
      over ??= exit;
      runner.cancel();
      wake?.();
    };
    /** Any answer proves the coordinator is there; long silence means it is gone. */
    const call = async (path: string, body: object): Promise<unknown> => {
      try {
        const r = await postJson(`${base}${path}`, body, Math.max(2000, GONE_MS));
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
          stop({ code: 0 });
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
        if (r.done) stop({ code: 0 });
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
        if ("code" in reg) return reg.code === 3 ? { code: 0 } : reg;
        me = reg;
        log.warn({ workerId: me.workerId }, "coordinator had given us up: registered again");
        continue;
      }
      let a: Assignment;
      try {
        const maxRssKiB = process.resourceUsage().maxRSS;
        a = (await call("/v1/task", { workerId: me.workerId, maxRssKiB })) as Assignment;
      } catch {
        if (!over) await sleep(100);
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
      if (outcome) await report(a, outcome);
    }
    return over ?? { code: 0 };

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
        log.warn({ err: (err as Error).message }, "could not report a task");
      }
    }
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    await runner.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
