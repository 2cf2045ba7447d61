// The sequential reference runner (`raftwork mr seq`): one process, one pass, no combiner,
// files mapped in the same line-aligned splits as a distributed job's (so no map call holds
// more than one split of text, however large the file), all pairs grouped under the same memory budget (spilling sorted
// runs if needed), reduced in UTF-8 key order into DIR/mr-out-0. Distributed runs are checked
// against it, so it shares the building blocks but none of the distributed machinery.

import { mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type App,
  AppError,
  errorText,
  forbidProcessExit,
  loadApp,
  runMap,
  runReduce,
} from "./app/app.js";
import { createOutDir } from "./coordinator/job-files.js";
import { planSplits } from "./coordinator/split.js";
import { SortingGrouper } from "./format/grouper.js";
import { LineWriter, outputName, tempOutputName } from "./format/output-file.js";
import { readFileAt } from "./format/read-at.js";

export interface SeqOptions {
  appPath: string;
  files: readonly string[];
  /** Created once the app loaded; an earlier mr-out-* in it is removed if `overwrite`. */
  outDir: string;
  overwrite: boolean;
  memoryBytes: number;
  /** Files larger than this are mapped in pieces cut at line boundaries. */
  splitSize: number;
}

export interface SeqResult {
  inputBytes: number;
  mapOutputPairs: number;
  outputPairs: number;
  spills: number;
}

/**
 * Runs the job; throws AppError (naming the app, and the input if it misbehaved in a call)
 * if the app cannot be used or misbehaves, JobFileError if the output directory cannot be
 * created.
 */
export async function runSequential(opts: SeqOptions): Promise<SeqResult> {
  const allowExit = forbidProcessExit();
  try {
    const app = await loadApp(opts.appPath);
    createOutDir(opts.outDir, opts.overwrite);
    return await run(app, opts);
  } finally {
    allowExit();
  }
}

async function run(app: App, opts: SeqOptions): Promise<SeqResult> {
  const scratch = mkdtempSync(join(tmpdir(), "raftwork-mr-seq-"));
  const grouper = new SortingGrouper({
    memoryBytes: opts.memoryBytes,
    spillDir: scratch,
    name: "seq",
  });
  const tmp = join(opts.outDir, tempOutputName(0, "seq"));
  try {
    let inputBytes = 0;
    const inputs = opts.files.map((path) => ({ path, size: statSync(path).size }));
    const sizes = new Map(inputs.map((i) => [i.path, i.size]));
    for (const s of planSplits(inputs, opts.splitSize, readFileAt)) {
      const contents = readFileAt(s.path, s.start, s.end - s.start);
      inputBytes += contents.length;
      const whole = s.start === 0 && s.end === sizes.get(s.path);
      const label = whole ? s.path : `${s.path} bytes ${s.start}-${s.end}`;
      await guard(`map (input ${label})`, () =>
        runMap(app, s.path, contents.toString("utf8"), (k, v) => {
          grouper.add(k, v);
          return undefined;
        }),
      );
    }
    const out = new LineWriter(tmp);
    try {
      for (const g of grouper.sorted()) {
        out.line(
          g.key,
          await guard(`reduce (key ${JSON.stringify(g.key)})`, async () =>
            runReduce(app, g.key, g.values),
          ),
        );
      }
    } finally {
      out.close();
    }
    renameSync(tmp, join(opts.outDir, outputName(0)));
    return {
      inputBytes,
      mapOutputPairs: grouper.values,
      outputPairs: out.lines,
      spills: grouper.spills,
    };

    async function guard<T>(what: string, f: () => Promise<T>): Promise<T> {
      try {
        return await f();
      } catch (err) {
        throw new AppError(`app ${app.name}: ${what}: ${errorText(err)}`);
      }
    }
  } finally {
    grouper.discard();
    rmSync(tmp, { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}
