// Exit statuses shared by every command (README, "Conventions"), and the help text that states
// them.
import type { Command } from "commander";
import { RaftworkError } from "../util/errors.js";

export const EXIT_OK = 0;
/** The operation failed: key not found, CAS mismatch, safety violation, job failed. */
export const EXIT_FAILED = 1;
/** Usage error: bad flag or value. */
export const EXIT_USAGE = 2;
/** Unavailable or timed out. */
export const EXIT_UNAVAILABLE = 3;

/**
 * Thrown by command actions to end the process with exit status `status` and a message for
 * stderr. code: "cli-exit".
 */
export class CliExit extends RaftworkError {
  readonly code = "cli-exit";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * What each exit status means for one command; unset ones of 0..3 get the general meaning.
 * Other keys ("130, 143") add statuses of the command's own, listed after 0..3.
 */
export interface ExitMeanings {
  0?: string;
  1?: string;
  2?: string;
  3?: string;
  [status: string]: string | undefined;
}

const GENERAL: Required<ExitMeanings> = {
  0: "success",
  1: "the operation failed",
  2: "usage error (a bad flag or value; the message names it)",
  3: "unavailable or timed out",
};

const described = new WeakSet<Command>();

/** Adds an "Exit status" section to `cmd`'s help. */
export function describeExitStatus(cmd: Command, meanings: ExitMeanings = {}): Command {
  if (described.has(cmd)) return cmd;
  described.add(cmd);
  const m: ExitMeanings = { ...GENERAL, ...meanings };
  const lines = [
    "0",
    "1",
    "2",
    "3",
    ...Object.keys(meanings).filter((k) => !/^[0-3]$/.test(k)),
  ].map((s) => `  ${s}  ${m[s]}`);
  return cmd.addHelpText("after", `\nExit status:\n${lines.join("\n")}`);
}
