// The data work of one task, run inside a task thread (task-thread.ts): read the input, call
// the app, partition, combine, sort and write (map); fetch, merge, reduce and upload
// (reduce). Everything the app touches is checked (../app/app.ts); the caller reports the
// outcome.

import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { RaftworkError } from "../../util/errors.js";
import { type App, guardedCombine, partitioner, runMap, runReduce } from "../app/app.js";
import { MapOutputCollector } from "../format/collector.js";
import { defaultPartition } from "../format/keys.js";
import { mergeGroups } from "../format/merge.js";
import { LineWriter } from "../format/output-file.js";
import { readFileAt } from "../format/read-at.js";
import { GroupReader } from "../format/records.js";
import { getBuffer, getBufferOrFile, uploadFile } from "../protocol/http-client.js";
import type { Counters, MapAssignment, ReduceAssignment } from "../protocol/messages.js";
import type { LocalSection } from "./thread-protocol.js";

export interface TaskContext {
  coordinatorUrl: string;
  workerId: number;
  scratch: string;
  memoryBytes: number;
  /** Called whenever the task moved forward (an app call returned, output was yielded, bytes
   * moved); cheap, the caller throttles what it forwards. */
  progress: () => void;
}

export interface MapOutput {
  file: string;
  /** Section offsets: partition r is bytes [offsets[r], offsets[r+1]). */
  offsets: number[];
  counters: Counters;
}

export interface ReduceOutput {
  accepted: boolean;
  counters: Counters;
}

/** A map output (or the input, or the upload) could not be moved: its worker is probably gone
 * (does not count as an app failure; the coordinator reruns the map task if the worker is lost). */
export class FetchError extends RaftworkError {
  readonly code = "MR_FETCH_FAILED";

  constructor(
    readonly mapTask: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** "map task 3 (input a.txt bytes 0-1024)" / "reduce task 2 (partition 2)", for messages. */
export function taskLabel(a: MapAssignment | ReduceAssignment): string {
  if (a.type === "map") {
    const { path, start, end, size } = a.input;
    const range = start === 0 && end === size ? "" : ` bytes ${start}-${end}`;
    return `map task ${a.task} (input ${path}${range})`;
  }
  return `reduce task ${a.task} (partition ${a.partition}, mr-out-${a.partition})`;
}

export async function runMapTask(app: App, a: MapAssignment, ctx: TaskContext): Promise<MapOutput> {
  const input = await readInput(a, ctx);
  ctx.progress();
  const name = `map-${a.task}.${a.attempt}`;
  const collector = new MapOutputCollector({
    nReduce: a.nReduce,
    partition: partitioner(app, a.nReduce, defaultPartition),
    combine: guardedCombine(app),
    // The input text lives in memory too (as UTF-16, up to twice its bytes).
    memoryBytes: Math.max(16 << 20, ctx.memoryBytes - 3 * input.length),
    spillDir: ctx.scratch,
    name,
  });
  try {
    const meter = new ProgressMeter(ctx.progress);
    try {
      await runMap(app, a.input.path, input.toString("utf8"), (key, value) => {
        meter.tick();
        return collector.add(key, value);
      });
    } finally {
      meter.stop();
    }
    ctx.progress();
    const tmp = join(ctx.scratch, `${name}.tmp`);
    const file = join(ctx.scratch, `${name}.out`);
    const offsets = await collector.finish(tmp);
    renameSync(tmp, file);
    ctx.progress();
    return {
      file,
      offsets,
      counters: {
        inputBytes: input.length,
        inputRecords: countLines(input),
        outputPairs: collector.pairs,
        spills: collector.spills,
      },
    };
  } finally {
    collector.discard();
  }
}

/** The split's bytes: from the local file when it is visibly the same file, else from the
 * coordinator (no shared filesystem is needed). */
async function readInput(a: MapAssignment, ctx: TaskContext): Promise<Buffer> {
  const { path, start, end, size, mtimeMs } = a.input;
  try {
    const st = statSync(path);
    if (st.isFile() && st.size === size && st.mtimeMs === mtimeMs) {
      const buf = readFileAt(path, start, end - start);
      if (buf.length === end - start) return buf;
    }
  } catch {
    // Not readable here: fetch it.
  }
  try {
    return await getBuffer(`${ctx.coordinatorUrl}/v1/input/${a.task}`, ctx.progress);
  } catch (err) {
    throw new FetchError(undefined, `cannot fetch the input: ${(err as Error).message}`);
  }
}

/**
 * Reports progress for a stream of events (pairs yielded, keys reduced) without reading the
 * clock on every event. An app that awaits between events lets the event loop run, and a
 * timer marks a report as due; an app that yields synchronously never lets it run, so every
 * 4096th event reports regardless (the task thread throttles what reaches the coordinator).
 */
class ProgressMeter {
  private n = 0;
  private due = false;
  private readonly timer = setInterval(() => {
    this.due = true;
  }, 50);

  constructor(private readonly report: () => void) {
    this.timer.unref();
  }

  tick(): void {
    if (!this.due && ++this.n < 4096) return;
    this.n = 0;
    this.due = false;
    this.report();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
  return buf.length > 0 && buf[buf.length - 1] !== 10 ? n + 1 : n;
}

const FETCH_TRIES = 3;
const FETCH_CONCURRENCY = 4;

export async function runReduceTask(
  app: App,
  a: ReduceAssignment,
  ctx: TaskContext,
  local: readonly LocalSection[] = [],
): Promise<ReduceOutput> {
  const dir = join(ctx.scratch, `reduce-${a.task}.${a.attempt}`);
  mkdirSync(dir, { recursive: true });
  try {
    // Every section is sorted by key with one group per key (../format/collector.ts), so a
    // k-way merge streams the groups in key order straight into reduce: only one key's
    // values, plus one pending group per section, are held beyond the fetched bytes
    // (MapReduce paper, section 3.1 step 5; the sort happened on the map side).
    const sections = await fetchPartitions(a, dir, ctx, local);
    const readers = sections.map((s) =>
      Buffer.isBuffer(s) ? new GroupReader(s) : new GroupReader(s.path, s.start, s.end),
    );
    const meter = new ProgressMeter(ctx.progress);
    let records = 0;
    const outPath = join(dir, "out");
    const out = new LineWriter(outPath);
    try {
      const merged = mergeGroups(readers);
      for (let g = merged.next(); g; g = merged.next()) {
        records += g.values.length;
        const value = runReduce(app, g.key, g.values);
        out.line(g.key, typeof value === "string" ? value : await value);
        meter.tick();
      }
    } finally {
      meter.stop();
      out.close();
      for (const r of readers) r.close();
    }
    ctx.progress();
    const counters = {
      inputBytes: sections.reduce(
        (n, s) => n + (Buffer.isBuffer(s) ? s.length : s.end - s.start),
        0,
      ),
      inputRecords: records,
      outputPairs: out.lines,
      // Fetched sections too large to hold in memory are read from disk: those are spills.
      spills: sections.filter((s) => !Buffer.isBuffer(s) && s.fetched).length,
    };
    const query = new URLSearchParams({ workerId: String(ctx.workerId) });
    for (const [k, v] of Object.entries(counters)) query.set(k, String(v));
    let reply: unknown;
    try {
      // Moving bytes is progress too: a large output on a slow link is not a stalled task.
      reply = await uploadFile(
        `${ctx.coordinatorUrl}/v1/output/${a.attempt}?${query}`,
        outPath,
        ctx.progress,
      );
    } catch (err) {
      throw new FetchError(undefined, `cannot upload the output: ${(err as Error).message}`);
    }
    return { accepted: (reply as { accepted?: unknown })?.accepted === true, counters };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A section held in memory, or a byte range of a file (fetched to disk, or our own). */
type Section = Buffer | { path: string; start: number; end: number; fetched: boolean };

/**
 * Fetches partition `a.partition` of every map output (a few at a time, with retries): into
 * memory while they fit in half the memory budget, else to a file in `dir`. Map outputs this
 * worker holds itself (`local`) are read where they are.
 */
async function fetchPartitions(
  a: ReduceAssignment,
  dir: string,
  ctx: TaskContext,
  local: readonly LocalSection[],
): Promise<Section[]> {
  const files = a.sources.map((s) => join(dir, `from-map-${s.mapTask}`));
  const sections: Section[] = [];
  const maxInMemory = Math.floor(ctx.memoryBytes / 2 / Math.max(1, files.length));
  const mine = new Map(local.map((l) => [l.mapTask, l]));
  let next = 0;
  const fetchOne = async (i: number) => {
    const src = a.sources[i] as ReduceAssignment["sources"][number];
    const own = mine.get(src.mapTask);
    if (own && existsSync(own.file)) {
      sections[i] = { path: own.file, start: own.start, end: own.end, fetched: false };
      return;
    }
    for (let tryNo = 1; ; tryNo++) {
      try {
        const got = await getBufferOrFile(
          `${src.url}/${a.partition}`,
          maxInMemory,
          files[i] as string,
          ctx.progress,
        );
        sections[i] = Buffer.isBuffer(got)
          ? got
          : { path: got, start: 0, end: statSync(got).size, fetched: true };
        return;
      } catch (err) {
        if (tryNo >= FETCH_TRIES)
          throw new FetchError(
            src.mapTask,
            `cannot fetch map task ${src.mapTask}'s output from ${src.url}: ${(err as Error).message}`,
          );
        await new Promise((r) => setTimeout(r, 200 * tryNo));
      }
    }
  };
  const lanes = Array.from({ length: Math.min(FETCH_CONCURRENCY, files.length) }, async () => {
    while (next < files.length) await fetchOne(next++);
  });
  await Promise.all(lanes);
  return sections;
}
