// The coordinator's optional second server (--http): the job's status for people and tools,
// apart from the control protocol workers use. GET /status is the JobStatus as JSON, GET
// /metrics the same numbers for Prometheus, GET /ui the job page (ui/job/), which follows
// GET /ui/events: the JobStatus as Server-Sent Events, twice a second. Read only: every route
// answers from the status computed at request time, so there is nothing to keep in sync.

import http, { type ServerResponse } from "node:http";
import { join } from "node:path";
import { EventStream } from "../../util/event-stream.js";
import { formatHostPort, type HostPort } from "../../util/host-port.js";
import { createAssetHandler, isLoopbackHost, UI_DIR } from "../../util/static-assets.js";
import { closeNow, listen, sendJson } from "../protocol/http-server.js";
import type { JobStatus } from "../protocol/messages.js";

/** How often the job page gets the status. */
const PAGE_INTERVAL_MS = 500;

export interface StatusServer {
  server: http.Server;
  address: string;
  /** Sends the job pages the final status, then stops serving. */
  close(): Promise<void>;
}

type Route = (res: ServerResponse) => void | Promise<void>;

/** Listens on `at`; rejects with ListenError (role "status") if it cannot. */
export async function startStatusServer(
  at: HostPort,
  status: () => JobStatus,
): Promise<StatusServer> {
  // prom-client (~40 ms to load) only when there is a status server to serve /metrics.
  const { jobMetrics } = await import("./metrics.js");
  const metrics = jobMetrics(status);
  const routes: Record<string, Route> = {
    "/": (res) => sendJson(res, 200, status()),
    "/status": (res) => sendJson(res, 200, status()),
    "/metrics": async (res) => {
      const text = await metrics.metrics();
      res.writeHead(200, { "content-type": metrics.contentType });
      res.end(text);
    },
  };
  const loopback = isLoopbackHost(at.host);
  const assets = createAssetHandler({
    files: { "/ui": join(UI_DIR, "job", "index.html"), "/ui/": join(UI_DIR, "job", "index.html") },
    dirs: { "/ui/": UI_DIR },
    loopback,
  });
  const events = new EventStream({ event: "job", intervalMs: PAGE_INTERVAL_MS, produce: status });
  const server = http.createServer((req, res) => {
    req.resume();
    if ((req.url ?? "").split("?")[0] === "/ui/events") return events.handle(req, res, loopback);
    if (assets(req, res)) return;
    if (req.method !== "GET") return sendJson(res, 405, { error: "GET only" });
    const route = routes[(req.url ?? "/").split("?")[0] as string];
    if (!route) return sendJson(res, 404, { error: "try GET /ui, GET /status or GET /metrics" });
    Promise.resolve(route(res)).catch(() => res.destroy());
  });
  server.on("close", () => events.close());
  const address = formatHostPort(await listen(server, at, "status"));
  return {
    server,
    address,
    async close() {
      await events.end();
      await closeNow(server);
    },
  };
}
