import { performance } from "node:perf_hooks";

/**
 * Keeps a repeated complaint from flooding the log: the first time a key is seen, and again
 * once `windowMs` has passed since it was last logged loudly, it gets the loud level; repeats
 * in between go to debug. A refused peer (or client) redials every few seconds and must not log an error
 * each time, but an operator should still see a misconfiguration that persists.
 */
export class RepeatFilter {
  private readonly loggedAt = new Map<string, number>();

  constructor(private readonly windowMs = 60_000) {}

  level<L extends string>(key: string, loud: L): L | "debug" {
    const now = performance.now();
    const at = this.loggedAt.get(key);
    if (at !== undefined && now - at < this.windowMs) return "debug";
    if (this.loggedAt.size >= 1024) this.loggedAt.clear(); // bounded: keys come from peers
    this.loggedAt.set(key, now);
    return loud;
  }
}
