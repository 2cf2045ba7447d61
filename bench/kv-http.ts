// The KV HTTP layer's ceiling: the real HTTP API and KvStateMachine over a RaftService that
// commits every proposal at once (no Raft, no disk), driven by the shared load generator.
// Whatever the full cluster reaches, it cannot beat this; the gap is the cost of consensus.
//
//   node --import tsx bench/kv-http.ts [--kv-bench DIR] [--concurrency 64,256] [--duration 10]
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { createKvHttpServer } from "../src/kv/http-api.js";
import { createKvMetrics } from "../src/kv/metrics.js";
import { KvStateMachine } from "../src/kv/state-machine.js";
import type { RaftService, ServiceStatus } from "../src/node/api.js";

const { values } = parseArgs({
  options: {
    "kv-bench": { type: "string", default: resolve(import.meta.dirname, "../../shared/kv-bench") },
    concurrency: { type: "string", default: "64,256" },
    duration: { type: "string", default: "10" },
  },
});

const sm = new KvStateMachine();
let index = 0;
const status: ServiceStatus = {
  id: 1,
  role: "leader",
  term: 1,
  leader: 1,
  commitIndex: 0,
  appliedIndex: 0,
  members: [1],
};
const instant: RaftService = {
  propose: async (data) => sm.apply({ index: ++index, term: 1, type: "normal", data }),
  readBarrier: async () => {},
  status: () => ({ ...status, commitIndex: index, appliedIndex: index }),
};
const server = await createKvHttpServer("127.0.0.1", 0, {
  service: instant,
  sm,
  id: 1,
  metrics: createKvMetrics({ nodeId: 1 }),
});

try {
  for (const c of (values.concurrency as string).split(",")) {
    await new Promise<void>((done, fail) => {
      const child = spawn(
        process.execPath,
        [
          resolve(values["kv-bench"] as string, "load.mjs"),
          "--adapter",
          resolve(import.meta.dirname, "kv-adapter.mjs"),
          "--endpoints",
          server.url,
          "--concurrency",
          c,
          "--duration",
          values.duration as string,
          "--pids",
          String(process.pid),
          "--label",
          "raftwork HTTP layer, instant commit",
        ],
        { stdio: "inherit" },
      );
      child.on("error", fail);
      child.on("exit", (code) =>
        code === 0 ? done() : fail(new Error(`load.mjs exited ${code}`)),
      );
    });
  }
} finally {
  await server.close();
}
