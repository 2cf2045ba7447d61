// Where a command's output goes: the process's stdout and stderr, or a test's buffers.

export interface CliIo {
  /** Everything meant for stdout (help, results). */
  out: (text: string) => void;
  /** Everything meant for stderr (errors, notes). */
  err: (text: string) => void;
}

export const PROCESS_IO: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};
