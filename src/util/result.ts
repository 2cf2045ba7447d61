// The one Result type: outcomes at boundaries are values, not exceptions (zod's safeParse
// style). `error` is whatever the boundary needs: a message, or a structured error with a code.

export type Result<T, E = string> = { ok: true; value: T } | { ok: false; error: E };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function err<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}
