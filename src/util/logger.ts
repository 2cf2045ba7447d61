// The one logger interface of every layer above the Raft core (node, kv, mapreduce, cli). pino's
// Logger satisfies it, and so does a test's recorder; layers depend on this interface, and only
// the process entry points (src/cli, src/kv/server) create a pino instance.
//
// Convention: the first argument is an object of structured fields, the second the message.
// Errors go in the `err` field (`log.error({ err }, "...")`), never as `err.message`: pino's
// serializer then keeps the stack and the error's `code`.

export type LogFields = Record<string, unknown>;

export interface LogFn {
  (fields: LogFields, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger that adds `bindings` to every record. */
  child(bindings: LogFields): Logger;
}

const noop: LogFn = () => {};

/** Drops everything: the default where a caller passes no logger. */
export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => silentLogger,
};
