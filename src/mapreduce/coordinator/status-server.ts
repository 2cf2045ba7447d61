// The coordinator's optional second server (--http): the job's status for people and tools,
// apart from the control protocol workers use. GET /status is the JobStatus as JSON, GET
// /metrics the same numbers for Prometheus. Read only: every route answers from the status
// computed at request time, so there is nothing to keep in sync.

import http, { type ServerResponse } from "node:http";
import { formatHostPort, type HostPort } from "../../util/host-port.js";
import { listen, sendJson } from "../protocol/http-server.js";
import type { JobStatus } from "../protocol/messages.js";

export interface StatusServer {
  server: http.Server;
  address: string;
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
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.method !== "GET") return sendJson(res, 405, { error: "GET only" });
    const route = routes[(req.url ?? "/").split("?")[0] as string];
    if (!route) return sendJson(res, 404, { error: "try GET /status or GET /metrics" });
    Promise.resolve(route(res)).catch(() => res.destroy());
  });
  return { server, address: formatHostPort(await listen(server, at, "status")) };
}
