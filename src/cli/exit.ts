// Exit statuses shared by every command (design.md, "Conventions for every command").
export const EXIT_OK = 0;
/** The operation failed: key not found, CAS mismatch, safety violation, job failed. */
export const EXIT_FAILED = 1;
/** Usage error: bad flag or value. */
export const EXIT_USAGE = 2;
/** Unavailable or timed out. */
export const EXIT_UNAVAILABLE = 3;

/** Thrown by command actions to end the process with a status and a message for stderr. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
