// `raftwork kv serve`: one KV node process. Wires FileStorage, TcpTransport, the Raft core, the
// KV state machine and its HTTP API together, prints one line when ready, and shuts down
// cleanly on SIGINT/SIGTERM.

import { mkdirSync } from "node:fs";
import pino from "pino";
import { createKvHttpServer } from "../kv/http-api.js";
import { createKvMetrics } from "../kv/metrics.js";
import { KvStateMachine } from "../kv/state-machine.js";
import { RawNode } from "../raft/raw-node.js";
import type { NodeId } from "../raft/types.js";
import { FileStorage } from "../storage/file-storage.js";
import { TcpTransport } from "../transport/tcp-transport.js";
import { claimDataDir, type Member, raftDir } from "./data-dir.js";
import { RaftNode } from "./raft-node.js";

export interface ServeOptions {
  id: NodeId;
  members: Member[];
  http: { host: string; port: number };
  data: string;
  electionTimeoutMs: number;
  heartbeatMs: number;
  snapshotEntries: number;
  logLevel: string;
}

export type ServeResult = { ok: true } | { ok: false; error: string };

/** Runs the node until SIGINT/SIGTERM (ok) or a fatal error (error). */
export async function serveNode(o: ServeOptions): Promise<ServeResult> {
  const logger = pino(
    { level: o.logLevel, base: { node: o.id } },
    pino.destination({ dest: 2, sync: true }),
  );
  // Everything opened so far, closed in reverse order on the way out.
  const opened: (() => unknown)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of opened.reverse()) {
      try {
        await close();
      } catch (err) {
        // Keep closing the rest: a failed close must not leave sockets or the lock behind.
        logger.error({ err }, "error while shutting down");
      }
    }
    opened.length = 0;
  };

  const self = o.members.find((m) => m.id === o.id) as Member;
  const httpAddress = `${hostForUrl(o.http.host)}:${o.http.port}`;
  const dir = raftDir(o.data);
  let step = `create ${dir}`;
  try {
    mkdirSync(dir, { recursive: true });
    step = `open the storage in ${dir}`;
    // Opening takes the directory's lock, so the identity check below cannot race another node.
    const storage = await FileStorage.open(dir);
    opened.push(() => storage.close());
    for (const repair of storage.repairs)
      logger.warn({ repair }, "storage recovery repaired a crash");
    const claim = claimDataDir(o.data, o.id, o.members);
    if (!claim.ok) {
      await closeAll();
      return claim;
    }

    step = `listen for Raft on ${self.address}`;
    const transport = await TcpTransport.start({
      id: o.id,
      listen: splitHostPort(self.address),
      peers: new Map(o.members.map((m) => [m.id, splitHostPort(m.address)])),
      hello: { http: httpAddress },
      logger: logger.child({ part: "transport" }),
    });
    opened.push(() => transport.close());

    step = `load the Raft state from ${dir}`;
    const sm = new KvStateMachine();
    const metrics = createKvMetrics({ nodeId: o.id });
    let onFatal: (err: Error) => void = () => {};
    const fatal = new Promise<Error>((resolve) => {
      onFatal = resolve;
    });
    const node = await RaftNode.start({
      id: o.id,
      peers: o.members.map((m) => m.id),
      storage,
      transport,
      stateMachine: sm,
      createRawNode: (c) => new RawNode(c),
      electionTimeoutMs: o.electionTimeoutMs,
      heartbeatMs: o.heartbeatMs,
      snapshotEntries: o.snapshotEntries,
      httpAddress,
      // A leader dials us to replicate; its handshake tells where its HTTP API listens.
      httpAddressOf: (id) => transport.peerHello(id)?.http ?? null,
      logger,
      metrics,
      onFatal: (err) => onFatal(err),
    });
    opened.push(() => node.stop());

    step = `listen for HTTP on ${httpAddress}`;
    const http = await createKvHttpServer(o.http.host, o.http.port, {
      service: node,
      sm,
      id: o.id,
      metrics,
      logger: logger.child({ part: "http" }),
    });
    opened.push(() => http.close());

    process.stdout.write(
      `raftwork kv serve: node ${o.id} ready: raft ${self.address}, http ${http.url}, data ${o.data}\n`,
    );
    const outcome = await Promise.race([signalled(), fatal]);
    await closeAll();
    if (outcome instanceof Error) return { ok: false, error: `node stopped: ${outcome.message}` };
    logger.info({ signal: outcome }, "stopped");
    return { ok: true };
  } catch (err) {
    await closeAll();
    return {
      ok: false,
      error: `cannot ${step}: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return {
    host: address.slice(0, i).replace(/^\[(.*)\]$/, "$1"),
    port: Number(address.slice(i + 1)),
  };
}
