// The coordinator process: the JobTracker behind an HTTP server. It serves map inputs, receives
// reduce outputs (temp file in the output directory, renamed to mr-out-<r> only for the first
// completion), and resolves `done` once the job succeeded or failed. An optional status server
// answers GET /status with the job's JobStatus (status-server.ts).
//
// Starting creates nothing until every server listens: a coordinator that cannot start leaves
// no output directory behind.

import { createReadStream, createWriteStream, renameSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { z } from "zod";
import type { HostPort } from "../../util/host-port.js";
import type { Logger } from "../../util/logger.js";
import { outputName, tempOutputName } from "../format/output-file.js";
import { readFileAt } from "../format/read-at.js";
import { readBody } from "../protocol/http-client.js";
import { closeNow, type EarlyServer, listenEarly, sendJson } from "../protocol/http-server.js";
import type { JobStatus } from "../protocol/messages.js";
import { createOutDir, type InputInfo, removeTempOutputs } from "./job-files.js";
import { JobTracker } from "./job-tracker.js";
import { planSplits } from "./split.js";
import { type StatusServer, startStatusServer } from "./status-server.js";

export interface CoordinatorOptions {
  /** Where workers connect: an address to listen on, or a server listening already. */
  listen: HostPort | EarlyServer;
  inputs: readonly InputInfo[];
  nReduce: number;
  /** Created once the coordinator listens; earlier mr-out-* in it removed if `overwrite`. */
  outDir: string;
  overwrite: boolean;
  taskTimeoutMs: number;
  splitSize: number;
  /** Memory budget per worker, announced to workers when they register. */
  memoryBytes: number;
  /** Where to serve GET /status and GET /metrics, if anywhere. */
  status?: HostPort | undefined;
  log: Logger;
}

export interface JobResult {
  ok: boolean;
  error?: string | undefined;
  elapsedMs: number;
  status: JobStatus;
}

export interface Coordinator {
  /** HOST:PORT workers connect to. */
  address: string;
  statusAddress: string | undefined;
  /** The job as it stands now. */
  status(): JobStatus;
  /** Fails the job from outside (its local workers keep dying, say). */
  abort(reason: string): void;
  /** Resolves when the job is over and every output is in place (or the job failed). */
  done: Promise<JobResult>;
  /** Stops serving and removes temporary outputs; mr-out-* files in place stay. */
  close(): Promise<void>;
}

/** Workers heartbeat this often: several times per timeout, at most once a second. */
function heartbeatInterval(taskTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(taskTimeoutMs / 4)));
}

/**
 * Listens, then creates the output directory, then serves. Rejects with ListenError if a
 * server cannot listen, or JobFileError if the output directory cannot be created; either
 * way nothing is left listening or created.
 */
export async function startCoordinator(opts: CoordinatorOptions): Promise<Coordinator> {
  const started = Date.now();
  // The request schemas (zod: ~60 ms to load) are loaded while the job is planned and the
  // workers start, not before: only requests wait for them.
  const messages = import("../protocol/messages.js");
  const heartbeatMs = heartbeatInterval(opts.taskTimeoutMs);
  const info = new Map(opts.inputs.map((i) => [i.path, i]));
  const splits = planSplits(opts.inputs, opts.splitSize, readFileAt).map((s) => {
    const i = info.get(s.path) as InputInfo;
    return { ...s, size: i.size, mtimeMs: i.mtimeMs };
  });
  const tracker = new JobTracker({
    splits,
    nReduce: opts.nReduce,
    taskTimeoutMs: opts.taskTimeoutMs,
    heartbeatMs,
  });
  const log = opts.log;
  log.info({ mapTasks: splits.length, reduceTasks: opts.nReduce }, "job planned");

  let finish: (r: JobResult) => void = () => {};
  const done = new Promise<JobResult>((resolve) => {
    finish = resolve;
  });
  let ended = false;
  let finishedAt: number | undefined;
  const drainEvents = () => {
    for (const e of tracker.events.splice(0)) {
      if (e.type === "task-failed") log.warn(e, "task attempt failed");
      else if (e.type === "worker-refused") log.warn(e, "worker refused");
      else if (e.type === "worker-lost" || e.type === "task-stalled") log.warn(e, e.type);
      else log.debug(e, e.type);
    }
  };
  // Long poll: a worker asking for a task when none is ready is answered the moment one is
  // (a map completing, the map phase ending, a task timing out), not after a sleep of its own.
  const parked = new Set<{ workerId: number; res: ServerResponse; until: number }>();
  const offerParked = () => {
    const now = Date.now();
    for (const p of parked) {
      const a = tracker.requestTask(p.workerId, now);
      if (a?.type === "wait" && now < p.until) continue;
      parked.delete(p);
      if (!a) sendJson(p.res, 410, { error: "unknown worker: register again" });
      else sendJson(p.res, 200, a.type === "wait" ? { type: "wait", ms: 0 } : a);
    }
  };
  const check = () => {
    offerParked();
    drainEvents();
    if (ended || !tracker.finished) return;
    // Give workers a moment to hear "done" from us rather than find us gone (both make them
    // exit 0, but the first is quicker and quieter).
    finishedAt ??= Date.now();
    if (!tracker.allToldDone() && Date.now() - finishedAt < 2 * heartbeatMs + 500) return;
    ended = true;
    const status = tracker.status(Date.now());
    finish({
      ok: tracker.succeeded,
      error: tracker.failure,
      elapsedMs: Date.now() - started,
      status,
    });
  };

  const handlers: Record<
    string,
    (req: IncomingMessage, res: ServerResponse, arg: string) => Promise<void>
  > = {
    "POST /v1/register": async (req, res) => {
      const body = await parse(req, res, (await messages).RegisterRequest);
      if (!body) return;
      const r = tracker.register(body, Date.now());
      if (!r.ok) return sendJson(res, 409, { error: r.error });
      sendJson(res, 200, {
        workerId: r.value.workerId,
        heartbeatMs,
        nReduce: opts.nReduce,
        memoryBytes: opts.memoryBytes,
      });
    },
    "POST /v1/task": async (req, res) => {
      const body = await parse(req, res, (await messages).TaskRequest);
      if (!body) return;
      const a = tracker.requestTask(body.workerId, Date.now(), body.maxRssKiB);
      if (!a) return sendJson(res, 410, { error: "unknown worker: register again" });
      if (a.type !== "wait") return sendJson(res, 200, a);
      // Held at most one heartbeat interval: the worker's request times out far later.
      const p = { workerId: body.workerId, res, until: Date.now() + heartbeatMs };
      parked.add(p);
      // A worker that hung up (gone, or timed out) must not be handed a task it never sees.
      res.on("close", () => parked.delete(p));
    },
    "POST /v1/heartbeat": async (req, res) => {
      const body = await parse(req, res, (await messages).HeartbeatRequest);
      if (!body) return;
      const r = tracker.heartbeat(body.workerId, body.running, Date.now(), body.maxRssKiB);
      if (!r) return sendJson(res, 410, { error: "unknown worker: register again" });
      sendJson(res, 200, r);
    },
    "POST /v1/complete": async (req, res) => {
      const body = await parse(req, res, (await messages).CompleteRequest);
      if (!body) return;
      const accepted = tracker.completeMap(body.workerId, body.attempt, body.counters, Date.now());
      sendJson(res, 200, { accepted });
    },
    "POST /v1/fail": async (req, res) => {
      const body = await parse(req, res, (await messages).FailRequest);
      if (!body) return;
      tracker.fail(body.workerId, body.attempt, body.kind, body.error, body.mapTask, Date.now());
      sendJson(res, 200, {});
    },
    "GET /v1/input": async (_req, res, arg) => {
      const split = tracker.split(Number(arg));
      if (!/^\d+$/.test(arg) || !split) return sendJson(res, 404, { error: `no map task ${arg}` });
      res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": split.end - split.start,
      });
      if (split.end === split.start) {
        res.end();
        return;
      }
      await pipeline(createReadStream(split.path, { start: split.start, end: split.end - 1 }), res);
    },
    "PUT /v1/output": async (req, res, arg) => {
      const url = new URL(req.url ?? "/", "http://x");
      const q = (await messages).OutputQuery.safeParse(Object.fromEntries(url.searchParams));
      if (!/^\d+$/.test(arg) || !q.success) {
        req.resume();
        return sendJson(res, 400, {
          error: "bad output upload: expected /v1/output/<attempt>?workerId=...&counters",
        });
      }
      const attempt = Number(arg);
      const { workerId, ...counters } = q.data;
      const r = tracker.canAcceptOutput(workerId, attempt, Date.now());
      if (r === undefined) {
        req.resume();
        await new Promise((resolve) => req.on("end", resolve).on("error", resolve));
        return sendJson(res, 200, { accepted: false });
      }
      const tmp = join(opts.outDir, tempOutputName(r, String(attempt)));
      try {
        await pipeline(req, createWriteStream(tmp));
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
      // Accept only the first completion; rename is atomic, so mr-out-r is complete or absent.
      if (tracker.canAcceptOutput(workerId, attempt, Date.now()) === r) {
        renameSync(tmp, join(opts.outDir, outputName(r)));
        tracker.completeReduce(workerId, attempt, counters, Date.now());
        sendJson(res, 200, { accepted: true });
      } else {
        rmSync(tmp, { force: true });
        sendJson(res, 200, { accepted: false });
      }
      check();
    },
  };

  const early = "serve" in opts.listen ? opts.listen : await listenEarly(opts.listen, "control");
  const server = early.server;
  let statusServer: StatusServer | undefined;
  try {
    if (opts.status)
      statusServer = await startStatusServer(opts.status, () => tracker.status(Date.now()));
    createOutDir(opts.outDir, opts.overwrite);
  } catch (err) {
    // Nobody will close a coordinator that never started: its servers must not keep the
    // process alive.
    await closeNow(server);
    if (statusServer) await closeNow(statusServer.server);
    throw err;
  }
  early.serve((req, res) => {
    const path = (req.url ?? "/").split("?")[0] as string;
    const m = /^(\/v1\/[a-z-]+)(?:\/([^/]*))?$/.exec(path);
    const handler = m ? handlers[`${req.method} ${m[1]}`] : undefined;
    if (!handler) {
      req.resume();
      return sendJson(res, 404, { error: `no such endpoint: ${req.method} ${path}` });
    }
    handler(req, res, m?.[2] ?? "")
      .catch((err: Error) => {
        log.warn({ err, path }, "request failed");
        if (!res.headersSent) sendJson(res, 500, { error: err.message });
        else res.destroy();
      })
      .finally(check);
  });
  server.keepAliveTimeout = 30_000;

  const timer = setInterval(
    () => {
      tracker.tick(Date.now());
      check();
    },
    Math.max(25, heartbeatMs / 2),
  );

  const close = async () => {
    clearInterval(timer);
    await closeNow(server);
    await statusServer?.close();
    removeTempOutputs(opts.outDir);
  };
  return {
    address: early.address,
    statusAddress: statusServer?.address,
    status: () => tracker.status(Date.now()),
    abort: (reason) => {
      tracker.abort(reason);
      check();
    },
    done,
    close,
  };
}

async function parse<S extends z.ZodType>(
  req: IncomingMessage,
  res: ServerResponse,
  schema: S,
): Promise<z.infer<S> | undefined> {
  let body: unknown;
  try {
    body = JSON.parse((await readBody(req, 1 << 20)).toString("utf8"));
  } catch (err) {
    sendJson(res, 400, { error: `request body is not JSON: ${(err as Error).message}` });
    return undefined;
  }
  const r = schema.safeParse(body);
  if (!r.success) {
    sendJson(res, 400, {
      error: `bad request: ${r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`,
    });
    return undefined;
  }
  return r.data;
}
