// Messages between a worker's main thread and its task thread (task-thread.ts).

import type { Counters, MapAssignment, ReduceAssignment } from "../protocol/messages.js";
import type { MrSecurity } from "../protocol/security.js";

/** What a task thread needs from the start: it loads the app before the first task comes. */
export interface ThreadData {
  appPath: string;
  appName: string;
  scratch: string;
  /** The worker's TLS and token settings: the thread fetches inputs and map output itself. */
  security: MrSecurity;
}

/** What a task needs that the worker learns only when it registers. */
export interface JobContext {
  coordinatorUrl: string;
  workerId: number;
  memoryBytes: number;
}

export interface ThreadRequest {
  assignment: MapAssignment | ReduceAssignment;
  job: JobContext;
  /** For a reduce task: the sources whose map output this worker holds itself, by map task. */
  local?: LocalSection[] | undefined;
}

/** Partition `assignment.partition` of a map output in this worker's scratch directory. */
export interface LocalSection {
  mapTask: number;
  file: string;
  start: number;
  end: number;
}

export type ThreadReply =
  /** Sent once, first: the app loaded, or why it did not (then every task fails with it). */
  | { type: "loaded" }
  | { type: "load-failed"; error: string }
  | { type: "progress" }
  | { type: "map-done"; file: string; offsets: number[]; counters: Counters }
  | { type: "reduce-done"; accepted: boolean; counters: Counters }
  | { type: "failed"; kind: "app" | "fetch"; error: string; mapTask?: number | undefined };

export type TaskOutcome = Exclude<ThreadReply, { type: "progress" | "loaded" | "load-failed" }>;
