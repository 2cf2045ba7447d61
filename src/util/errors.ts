// Errors with stable codes. Every error class that crosses a layer boundary extends
// RaftworkError, so callers branch on `code` (a stable string, documented where it is thrown),
// never on message text, and pino's serializer logs the code with the stack.

export abstract class RaftworkError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** True if `e` is an Error carrying a string `code` equal to `code`. */
export function hasCode(e: unknown, code: string): boolean {
  return e instanceof Error && (e as { code?: unknown }).code === code;
}
