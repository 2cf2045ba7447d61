// Worker processes on this machine, for `raftwork mr run`: started together, restarted when
// one dies while the job runs (a crashed worker is a lost worker: the coordinator reissues its
// tasks, and a fresh process takes its place), and stopped together.

import { type ChildProcess, spawn } from "node:child_process";

export interface LocalWorkersOptions {
  count: number;
  /** Arguments for `node` that start one worker (the CLI entry point and its flags). */
  args: string[];
  /** Restarts allowed in total; past that, `onGiveUp` is called and no more start. */
  maxRestarts: number;
  onRestart: (why: string) => void;
  onGiveUp: (why: string) => void;
}

export class LocalWorkers {
  private readonly children = new Set<ChildProcess>();
  private restarts = 0;
  private stopped = false;

  constructor(private readonly opts: LocalWorkersOptions) {
    for (let i = 0; i < opts.count; i++) this.launch();
  }

  /**
   * Stops every worker: sends `signal` if given (SIGTERM: a worker cleans up its scratch
   * directory and exits), else waits for them to exit on their own (they do once the job is
   * over); whichever is still running after graceMs is killed.
   */
  async stop(graceMs: number, signal?: NodeJS.Signals): Promise<void> {
    this.stopped = true;
    await Promise.all(
      [...this.children].map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
            child.once("exit", () => {
              clearTimeout(t);
              done();
            });
            if (signal) child.kill(signal);
          }),
      ),
    );
  }

  private launch(): void {
    const child = spawn(process.execPath, this.opts.args, {
      stdio: ["ignore", "inherit", "inherit"],
    });
    this.children.add(child);
    child.once("exit", (code, signal) => {
      this.children.delete(child);
      // Exit 0 means the job is over (or the coordinator gone): nothing to replace.
      if (this.stopped || code === 0) return;
      const why = `worker process ${child.pid} died (${signal ?? `exit ${code}`})`;
      if (++this.restarts > this.opts.maxRestarts) {
        this.opts.onGiveUp(`${why}; ${this.opts.maxRestarts} workers died already: giving up`);
        return;
      }
      this.opts.onRestart(why);
      setTimeout(() => {
        if (!this.stopped) this.launch();
      }, 200);
    });
  }
}
