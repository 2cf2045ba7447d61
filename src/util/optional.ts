// Optional peer dependencies (package.json peerDependenciesMeta). The Raft core, storage,
// transport, node runtime, simulator and KV client need none of them; the CLI, the KV server
// and TypeScript MapReduce apps do. A part that needs one loads it through requireOptional, so
// a consumer who did not install it gets one sentence naming the package and what needs it
// instead of a resolver stack trace.

import { createRequire } from "node:module";
import { RaftworkError } from "./errors.js";

/** A peer dependency that is not installed. code: "missing-dependency". */
export class MissingDependencyError extends RaftworkError {
  readonly code = "missing-dependency";

  constructor(
    readonly packageName: string,
    readonly neededFor: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${neededFor} needs the package "${packageName}", which is not installed (it is an ` +
        `optional peer dependency of raftwork); install it with: npm install ${packageName}`,
      options,
    );
  }
}

const require = createRequire(import.meta.url);

/**
 * Loads package `name` (every optional peer ships a CommonJS entry, so this is synchronous),
 * or throws MissingDependencyError naming `neededFor` when it is not installed. Any other
 * failure to load it is rethrown as is.
 */
export function requireOptional<T>(name: string, neededFor: string): T {
  try {
    return require(name) as T;
  } catch (err) {
    if (isMissingPackage(err, name))
      throw new MissingDependencyError(name, neededFor, { cause: err });
    throw err;
  }
}

/** True if `err` says that package `name` itself (not something it imports) cannot be found. */
export function isMissingPackage(err: unknown, name: string): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== "MODULE_NOT_FOUND" && code !== "ERR_MODULE_NOT_FOUND") return false;
  // CommonJS: "Cannot find module 'pino'"; ESM: "Cannot find package 'pino' imported from ...".
  return err.message.includes(`'${name}'`);
}
