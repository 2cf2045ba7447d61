// Applications: loading a user's module and checking everything it returns. User code is
// untrusted input like any other: every result is validated, and every failure becomes an
// AppError whose message names the app (the caller adds the task and the input), and whose
// code says whether the app cannot be used at all (found when loading, before any task) or
// misbehaved in a task.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { RaftworkError } from "../../util/errors.js";
import { importTypeScript } from "./typescript.js";

export type Combine = (key: string, values: string[]) => string | Promise<string>;

/** A loaded application (README, "MapReduce"). */
export interface App {
  /** The module's file name, for error messages. */
  name: string;
  map(filename: string, contents: string): unknown;
  reduce(key: string, values: string[]): unknown;
  combine?: Combine | undefined;
  partition?: ((key: string, nReduce: number) => unknown) | undefined;
}

export type AppErrorCode =
  /** Not a module by its name: the file must end in .js, .mjs, .ts or .mts. */
  | "MR_APP_NOT_MODULE"
  /** Importing the module failed: a syntax error, a failed import, a top-level throw. */
  | "MR_APP_LOAD_FAILED"
  /** map or reduce is missing, or an export the contract names is not a function. */
  | "MR_APP_BAD_EXPORT"
  /** In a task: the app threw, returned a bad shape, or called process.exit. */
  | "MR_APP_FAILED";

/** The app cannot be used, or misbehaved; the message names the app or the call. */
export class AppError extends RaftworkError {
  constructor(
    message: string,
    readonly code: AppErrorCode = "MR_APP_FAILED",
    /** What is wrong, without the app's name (for a caller that names the app its own way). */
    readonly detail = message,
  ) {
    super(message);
  }
}

/** An AppError found when loading: "app NAME: detail". */
function loadError(name: string, code: AppErrorCode, detail: string): AppError {
  return new AppError(`app ${name}: ${detail}`, code, detail);
}

/** True if `e` says the app cannot be used at all (as opposed to failing a task). */
export function isAppLoadError(e: unknown): e is AppError {
  return e instanceof AppError && e.code !== "MR_APP_FAILED";
}

/**
 * Until the returned function is called, process.exit throws an AppError instead: an app that
 * calls it (while loading or in a call) is a bad app, not a way out of the worker, the
 * sequential runner, or the command checking it.
 */
export function forbidProcessExit(): () => void {
  const exit = process.exit;
  process.exit = ((code?: number) => {
    throw new AppError(`called process.exit(${code ?? ""})`);
  }) as typeof process.exit;
  return () => {
    process.exit = exit;
  };
}

const EXTENSIONS = new Set([".js", ".mjs", ".ts", ".mts"]);

/** Imports an app module (TypeScript compiled first: typescript.ts) and checks its exports. */
export async function loadApp(path: string): Promise<App> {
  const abs = resolve(path);
  const name = basename(abs);
  const ext = extname(abs);
  if (!EXTENSIONS.has(ext))
    throw loadError(
      name,
      "MR_APP_NOT_MODULE",
      "not a module: expected a .js, .mjs, .ts or .mts file",
    );
  let mod: Record<string, unknown>;
  try {
    const url = pathToFileURL(abs).href;
    mod =
      ext === ".ts" || ext === ".mts"
        ? await importTypeScript(abs)
        : ((await import(url)) as Record<string, unknown>);
  } catch (err) {
    throw loadError(name, "MR_APP_LOAD_FAILED", `cannot load module: ${errorText(err)}`);
  }
  const fn = (key: string, required: boolean) => {
    const f = mod[key];
    if (f === undefined && !required) return undefined;
    if (typeof f !== "function")
      throw loadError(
        name,
        "MR_APP_BAD_EXPORT",
        `${required ? "missing export" : "export"} "${key}" is not a function`,
      );
    return f as (...args: never[]) => unknown;
  };
  return {
    name,
    map: fn("map", true) as App["map"],
    reduce: fn("reduce", true) as App["reduce"],
    combine: fn("combine", false) as Combine | undefined,
    partition: fn("partition", false) as App["partition"],
  };
}

/** sha256 of the app file: every worker of a job must run the same bytes. */
export function appHash(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * Runs map and feeds each pair to `emit`. map may return an Iterable or AsyncIterable of
 * {key, value}, or a Promise of one. `emit` may return a promise (an async combiner ran).
 */
export async function runMap(
  app: App,
  filename: string,
  contents: string,
  emit: (key: string, value: string) => undefined | Promise<void>,
): Promise<void> {
  let result = call(() => app.map(filename, contents), "map");
  if (isThenable(result)) result = await awaitApp(result, "map");
  if (result === null || typeof result !== "object")
    throw new AppError(`map returned ${describe(result)}, not an iterable of {key, value}`);
  let i = 0;
  // One try block around the whole loop (not a closure per item): errors thrown while our
  // code handles an item (`inEmit`) pass through as they are; any other error is the app's.
  let inEmit = false;
  const check = (item: unknown) => {
    const it = item as { key?: unknown; value?: unknown } | null;
    if (
      it === null ||
      typeof it !== "object" ||
      typeof it.key !== "string" ||
      typeof it.value !== "string"
    )
      throw new AppError(`map item ${i} is ${describe(item)}, not {key: string, value: string}`);
    i++;
    return emit(it.key, it.value);
  };
  try {
    if (Array.isArray(result)) {
      inEmit = true;
      for (let k = 0; k < result.length; k++) {
        const p = check(result[k]);
        if (p) await p;
      }
    } else if (Symbol.asyncIterator in result) {
      for await (const item of result as AsyncIterable<unknown>) {
        inEmit = true;
        const p = check(item);
        if (p) await p;
        inEmit = false;
      }
    } else if (Symbol.iterator in result) {
      for (const item of result as Iterable<unknown>) {
        inEmit = true;
        const p = check(item);
        if (p) await p;
        inEmit = false;
      }
    } else {
      inEmit = true;
      throw new AppError(`map returned ${describe(result)}, not an iterable of {key, value}`);
    }
  } catch (err) {
    throw inEmit ? err : wrap(err, "map");
  }
}

/**
 * Runs reduce on one key and returns its output value: a promise only when the app's reduce
 * returned one. A synchronous reduce is not awaited: for many small keys, the promise and
 * the suspended caller per key cost more (allocation, GC) than the reduce itself.
 */
export function runReduce(app: App, key: string, values: string[]): string | Promise<string> {
  const out = call(() => app.reduce(key, values), "reduce");
  if (isThenable(out)) return awaitApp(out, "reduce").then((v) => checkReduced(v, key));
  return checkReduced(out, key);
}

function checkReduced(out: unknown, key: string): string {
  if (typeof out !== "string")
    throw new AppError(`reduce(${quote(key)}) returned ${describe(out)}, not a string`);
  return out;
}

/** The app's partition function, checked, or the default stable hash. */
export function partitioner(
  app: App,
  nReduce: number,
  fallback: (key: string, n: number) => number,
): (key: string) => number {
  const p = app.partition;
  if (!p) return (key) => fallback(key, nReduce);
  return (key) => {
    const r = call(() => p(key, nReduce), "partition");
    if (typeof r !== "number" || !Number.isInteger(r) || r < 0 || r >= nReduce)
      throw new AppError(
        `partition(${quote(key)}, ${nReduce}) returned ${describe(r)}, not an integer in 0..${nReduce - 1}`,
      );
    return r;
  };
}

/** The combiner's result must be a string: it becomes a value the reducer will see. */
export function checkCombined(value: unknown, key: string): string {
  if (typeof value !== "string")
    throw new AppError(`combine(${quote(key)}) returned ${describe(value)}, not a string`);
  return value;
}

/** Wraps a combiner so that its exceptions are reported as app errors. */
export function guardedCombine(app: App): Combine | undefined {
  const c = app.combine;
  if (!c) return undefined;
  return (key, values) => {
    const r = call(() => c(key, values), "combine");
    return isThenable(r) ? awaitApp(r, "combine") : (r as string);
  };
}

function call<T>(f: () => T, what: string): T {
  try {
    return f();
  } catch (err) {
    throw wrap(err, what);
  }
}

async function awaitApp<T>(p: PromiseLike<T>, what: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw wrap(err, what);
  }
}

function wrap(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err;
  return new AppError(`${what} threw: ${errorText(err)}`);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === "object" || typeof v === "function") &&
    typeof (v as { then?: unknown }).then === "function"
  );
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function quote(key: string): string {
  return key.length > 40 ? `${JSON.stringify(key.slice(0, 37))}...` : JSON.stringify(key);
}

/** A short description of a bad value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${truncate(JSON.stringify(value))}`;
  if (typeof value === "object") return `an object ${truncate(safeJson(value))}`;
  return `${typeof value} ${truncate(String(value))}`;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
