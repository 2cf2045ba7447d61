// Shared primitives every layer may import. This folder imports nothing from the rest of src/
// (only Node builtins), so it sits below the Raft core in the dependency order.
export { hasCode, RaftworkError } from "./errors.js";
export {
  formatHostPort,
  type HostPort,
  hostForUrl,
  parseHostPort,
  unbracket,
} from "./host-port.js";
export { type LogFields, type LogFn, type Logger, silentLogger } from "./logger.js";
export { isMissingPackage, MissingDependencyError, requireOptional } from "./optional.js";
export { err, ok, type Result } from "./result.js";
