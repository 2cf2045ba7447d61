// A job's files on the coordinator's side: its inputs, checked before anything starts, and its
// output directory, checked before anything starts and created only once the coordinator is
// listening, so a job that cannot start leaves nothing behind. Problems are values
// (JobFileError, with a stable code) that name paths, never command-line flags: the CLI words
// them in its own terms.

import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { RaftworkError } from "../../util/errors.js";
import { err, ok, type Result } from "../../util/result.js";
import { OUTPUT_NAME, TEMP_OUTPUT_NAME } from "../format/output-file.js";

export type JobFileErrorCode =
  /** No input file was given. */
  | "MR_NO_INPUTS"
  /** An input path does not exist. */
  | "MR_INPUT_MISSING"
  /** An input path is not a regular file. */
  | "MR_INPUT_NOT_FILE"
  /** An input file cannot be opened for reading. */
  | "MR_INPUT_UNREADABLE"
  /** The output path, or the nearest existing parent of it, is not a directory. */
  | "MR_OUT_NOT_DIRECTORY"
  /** The output directory cannot be written or created. */
  | "MR_OUT_NOT_WRITABLE"
  /** The output directory holds mr-out-* files already (and overwriting was not asked for). */
  | "MR_OUT_HAS_OUTPUTS";

export class JobFileError extends RaftworkError {
  constructor(
    readonly code: JobFileErrorCode,
    /** The input file or output directory at fault. */
    readonly path: string,
    message: string,
    /** MR_OUT_HAS_OUTPUTS: the output files already there. */
    readonly existing: readonly string[] = [],
  ) {
    super(message);
  }
}

export interface InputInfo {
  path: string;
  size: number;
  mtimeMs: number;
}

/** Stats every input file; the first missing or unreadable one is the error. */
export function checkInputs(files: readonly string[]): Result<InputInfo[], JobFileError> {
  if (files.length === 0) return err(new JobFileError("MR_NO_INPUTS", "", "no input files given"));
  const inputs: InputInfo[] = [];
  for (const path of files) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch {
      return err(new JobFileError("MR_INPUT_MISSING", path, `input file ${path} does not exist`));
    }
    if (!st.isFile())
      return err(
        new JobFileError("MR_INPUT_NOT_FILE", path, `input ${path} is not a regular file`),
      );
    try {
      closeSync(openSync(path, "r"));
    } catch (e) {
      const why = (e as Error).message;
      return err(
        new JobFileError("MR_INPUT_UNREADABLE", path, `input file ${path} cannot be read: ${why}`),
      );
    }
    inputs.push({ path, size: st.size, mtimeMs: st.mtimeMs });
  }
  return ok(inputs);
}

/**
 * Checks, without changing anything, that `dir` can be the job's output directory: it is a
 * writable directory, or can be created as one, and holds no mr-out-* files unless
 * `overwrite`.
 */
export function checkOutDir(dir: string, overwrite: boolean): Result<void, JobFileError> {
  let existing = resolve(dir);
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const what = existing === resolve(dir) ? dir : `${existing} (where ${dir} would be created)`;
  if (!statSync(existing).isDirectory())
    return err(new JobFileError("MR_OUT_NOT_DIRECTORY", dir, `${what} is not a directory`));
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch {
    return err(new JobFileError("MR_OUT_NOT_WRITABLE", dir, `${what} is not writable`));
  }
  if (existing !== resolve(dir) || overwrite) return ok(undefined);
  const old = readdirSync(dir).filter((n) => OUTPUT_NAME.test(n));
  if (old.length > 0)
    return err(
      new JobFileError("MR_OUT_HAS_OUTPUTS", dir, `${dir} already holds ${old.join(", ")}`, old),
    );
  return ok(undefined);
}

/**
 * Creates `dir` if needed and removes the outputs of an earlier job in it (`overwrite`: the
 * directory never mixes two jobs' outputs) and temporary files of unfinished uploads.
 * Throws JobFileError MR_OUT_NOT_WRITABLE if the directory cannot be created.
 */
export function createOutDir(dir: string, overwrite: boolean): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new JobFileError("MR_OUT_NOT_WRITABLE", dir, `${dir}: ${(e as Error).message}`);
  }
  for (const n of readdirSync(dir))
    if ((overwrite && OUTPUT_NAME.test(n)) || TEMP_OUTPUT_NAME.test(n))
      rmSync(join(dir, n), { force: true });
}

/** Removes temporary outputs left by uploads that never finished. */
export function removeTempOutputs(dir: string): void {
  for (const n of readdirSync(dir))
    if (TEMP_OUTPUT_NAME.test(n)) rmSync(join(dir, n), { force: true });
}
