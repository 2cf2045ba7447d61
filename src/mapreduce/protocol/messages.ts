// The coordinator's control protocol: HTTP/1.1 + JSON, one POST per request. Bulk data
// (inputs, map output, reduce output) travels as plain streamed HTTP bodies instead, without
// per-record JSON. Every request body is parsed with these schemas before use: a bad request
// gets a 400, never a crash.
//
//   worker                         coordinator
//     POST /v1/register   ------>  {workerId, heartbeatMs}  (409: app failed to load, or differs)
//     POST /v1/task       ------>  map | reduce | wait | done
//     POST /v1/heartbeat  ------>  {cancel, done}           (every heartbeatMs, always)
//     POST /v1/complete   ------>  {accepted}               (map tasks)
//     PUT  /v1/output/:a  ------>  {accepted}               (reduce output; completes the task)
//     POST /v1/fail       ------>  {}
//     GET  /v1/input/:t   <------  the split's bytes
//   reducer -> map worker: GET /v1/map-output/:attempt/:r  <------  partition r's groups
//
// The coordinator's status server (--http) answers GET /status with a JobStatus.

import type * as Zod from "zod";
import { requireOptional } from "../../util/optional.js";

const { z } = requireOptional<typeof Zod>("zod", "raftwork's MapReduce coordinator and workers");

const id = z.number().int().nonnegative();

export const RegisterRequest = z.object({
  appHash: z.string().regex(/^[0-9a-f]{64}$/),
  appName: z.string().max(1024),
  /** Base URL where this worker serves its map output: http://HOST:PORT (https with TLS) */
  advertise: z.string().regex(/^https?:\/\/[^/\s]+:\d{1,5}$/),
  /** Set when the worker's app failed to load: the coordinator refuses the worker with it. */
  appError: z
    .string()
    .max(64 * 1024)
    .optional(),
});
export type RegisterRequest = Zod.infer<typeof RegisterRequest>;

export interface RegisterReply {
  workerId: number;
  heartbeatMs: number;
  nReduce: number;
  /** The job's memory budget per worker (--memory); a worker uses the smaller of it and its own. */
  memoryBytes: number;
}

export const TaskRequest = z.object({ workerId: id, maxRssKiB: id.optional() });

export const Counters = z.object({
  inputBytes: id,
  inputRecords: id,
  outputPairs: id,
  spills: id,
});
export type Counters = Zod.infer<typeof Counters>;

export interface MapAssignment {
  type: "map";
  attempt: number;
  task: number;
  nReduce: number;
  /** The split: the worker reads it locally when size and mtime match, else from /v1/input. */
  input: { path: string; start: number; end: number; size: number; mtimeMs: number };
}

export interface ReduceAssignment {
  type: "reduce";
  attempt: number;
  task: number;
  /** Partition index r: output goes to mr-out-<r>. */
  partition: number;
  /** Where each map task's output lives: GET `${url}/${partition}`. */
  sources: { mapTask: number; url: string }[];
}

export type Assignment =
  | MapAssignment
  | ReduceAssignment
  | { type: "wait"; ms: number }
  | { type: "done" };

export const HeartbeatRequest = z.object({
  workerId: id,
  /** The attempt this worker runs and its progress counter (monotonic per attempt). */
  running: z.object({ attempt: id, progress: id }).optional(),
  /** The worker process's peak resident set size so far (a counter for the job's status). */
  maxRssKiB: id.optional(),
});
export type HeartbeatRequest = Zod.infer<typeof HeartbeatRequest>;

export interface HeartbeatReply {
  /** The running attempt is no longer wanted (stalled, or another copy won). */
  cancel: boolean;
  /** The job is over: exit. */
  done: boolean;
}

export const CompleteRequest = z.object({ workerId: id, attempt: id, counters: Counters });
export type CompleteRequest = Zod.infer<typeof CompleteRequest>;

export const FailRequest = z.object({
  workerId: id,
  attempt: id,
  /** app: the app misbehaved (counts toward the job's failure limit); fetch: a map output
   * could not be fetched (does not count: its worker is probably lost). */
  kind: z.enum(["app", "fetch"]),
  error: z.string().max(64 * 1024),
  mapTask: id.optional(),
});
export type FailRequest = Zod.infer<typeof FailRequest>;

export const OutputQuery = z.object({
  workerId: z.coerce.number().int().nonnegative(),
  inputRecords: z.coerce.number().int().nonnegative(),
  inputBytes: z.coerce.number().int().nonnegative(),
  outputPairs: z.coerce.number().int().nonnegative(),
  spills: z.coerce.number().int().nonnegative(),
});

export type TaskKind = "map" | "reduce";
export type TaskState = "idle" | "running" | "done";

/**
 * GET /status: the whole job in one JSON object, computed on request. Everything a progress
 * bar, a summary or a job page shows comes from here.
 */
export interface JobStatus {
  phase: "map" | "reduce" | "done" | "failed";
  /** Why the job failed, or null. */
  error: string | null;
  /** Live and lost workers. */
  workers: number;
  lostWorkers: number;
  /** Workers refused at registration (app failed to load, or differs from the job's). */
  refusedWorkers: number;
  lastRefusal: string | null;
  workerList: {
    id: number;
    url: string;
    lost: boolean;
    maxRssKiB: number | null;
    /** Time since the worker's last request (heartbeat, task request, completion). */
    heartbeatAgeMs: number;
    /** The task it runs now, if any. */
    task: number | null;
  }[];
  map: TaskCounts;
  reduce: TaskCounts;
  counters: {
    inputBytes: number;
    inputRecords: number;
    mapOutputPairs: number;
    outputPairs: number;
    spills: number;
    attempts: number;
    retries: number;
    backups: number;
    failures: number;
  };
  tasks: {
    id: number;
    kind: TaskKind;
    /** Split index (map) or partition (reduce). */
    index: number;
    state: TaskState;
    attempts: number;
    backups: number;
    failures: number;
    running: { attempt: number; worker: number; runningMs: number }[];
    durationMs: number | null;
    /** The worker whose attempt completed the task (null until it is done). */
    worker: number | null;
    counters: Counters | null;
    lastError: string | null;
  }[];
}

export interface TaskCounts {
  total: number;
  done: number;
  running: number;
}
