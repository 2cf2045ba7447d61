// The server side of the control protocol and of the bulk-data routes, over node:http
// (keep-alive): JSON replies, and servers that listen before their handler is ready. Both the
// coordinator (control, inputs, outputs) and workers (map output to reducers) serve HTTP.

import type http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { RaftworkError } from "../../util/errors.js";
import { formatHostPort, type HostPort } from "../../util/host-port.js";
import { createServer, guard } from "./security.js";

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** A server that listens before it has its handler; see listenEarly. */
export interface EarlyServer {
  server: http.Server;
  /** HOST:PORT it listens on (the real port when asked for port 0). */
  address: string;
  /** Hands every request, those that arrived already first, to `handler`. */
  serve(handler: http.RequestListener): void;
}

/**
 * Listens on `at` now and holds requests until `serve` is called: the address is known at
 * once, so clients can be started while the server is still being prepared. TLS and the token
 * check come from the job's settings (security.ts).
 */
export async function listenEarly(at: HostPort, role: ServerRole): Promise<EarlyServer> {
  const server = createServer();
  let held: [IncomingMessage, ServerResponse][] | undefined = [];
  const hold = (req: IncomingMessage, res: ServerResponse) => held?.push([req, res]);
  server.on("request", hold);
  const address = formatHostPort(await listen(server, at, role));
  return {
    server,
    address,
    serve(unguarded) {
      const handler = guard(unguarded);
      server.off("request", hold);
      server.on("request", handler);
      // A client that gave up waiting is gone: answering it would act on a request nobody
      // hears the answer to (a worker registered twice, say).
      for (const [req, res] of held ?? []) if (!req.socket.destroyed) handler(req, res);
      held = undefined;
    },
  };
}

/**
 * Starts `server` on `at` (port 0: a free port); resolves with the address it listens on,
 * rejects with ListenError.
 */
export function listen(server: http.Server, at: HostPort, role: ServerRole): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    const fail = (cause: unknown) => reject(new ListenError(role, at, cause));
    server.once("error", fail);
    server.listen(at.port, at.host, () => {
      server.off("error", fail);
      const a = server.address() as AddressInfo;
      resolve({ host: a.address, port: a.port });
    });
  });
}

/** Stops `server` now: open keep-alive connections are cut, not waited for. */
export async function closeNow(server: http.Server): Promise<void> {
  server.closeAllConnections();
  if (server.listening) await new Promise((r) => server.close(r));
}

/** Which of a job's servers could not listen (the CLI names the flag that set its address). */
export type ServerRole = "control" | "status" | "map-output";

/** A server could not listen on its address (taken, not local, no permission). */
export class ListenError extends RaftworkError {
  readonly code = "MR_LISTEN_FAILED";

  constructor(
    readonly role: ServerRole,
    readonly address: HostPort,
    cause: unknown,
  ) {
    super(`cannot listen on ${formatHostPort(address)}: ${(cause as Error).message}`, { cause });
  }
}
