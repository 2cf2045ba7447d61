// Prometheus metrics for the coordinator's status server (GET /metrics), read from the job's
// status at scrape time: nothing to keep in sync.

import type * as Prom from "prom-client";
import { requireOptional } from "../../util/optional.js";
import type { JobStatus } from "../protocol/messages.js";

export function jobMetrics(status: () => JobStatus): Prom.Registry {
  // Loaded on first use: the status server is optional, and so is prom-client.
  const { Gauge, Registry } = requireOptional<typeof Prom>(
    "prom-client",
    "the MapReduce status server's /metrics",
  );
  const registry = new Registry();
  new Gauge({
    name: "mr_tasks",
    help: "Tasks by kind and state",
    labelNames: ["kind", "state"] as const,
    registers: [registry],
    collect() {
      const s = status();
      for (const kind of ["map", "reduce"] as const) {
        const k = s[kind];
        this.set({ kind, state: "done" }, k.done);
        this.set({ kind, state: "running" }, k.running);
        this.set({ kind, state: "idle" }, k.total - k.done - k.running);
      }
    },
  });
  new Gauge({
    name: "mr_workers",
    help: "Workers by liveness",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const s = status();
      this.set({ state: "live" }, s.workers);
      this.set({ state: "lost" }, s.lostWorkers);
    },
  });
  new Gauge({
    name: "mr_job_counter",
    help: "Job counters: bytes, records, pairs, attempts, retries, backups, failures, spills",
    labelNames: ["counter"] as const,
    registers: [registry],
    collect() {
      for (const [counter, v] of Object.entries(status().counters)) this.set({ counter }, v);
    },
  });
  return registry;
}
