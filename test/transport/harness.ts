// Harnesses that plug the two Transport adapters into the conformance suite (suite.ts) and
// give the TCP-specific tests a cluster of loopback transports.

import type { NodeId } from "../../src/raft/types.js";
import { createSimTransports } from "../../src/sim/network.js";
import type { HostPort, TcpTransportOptions } from "../../src/transport/tcp-transport.js";
import { TcpTransport } from "../../src/transport/tcp-transport.js";
import type { Transport } from "../../src/transport/transport.js";
import type { LogFields, Logger } from "../../src/util/logger.js";
import type { TransportHarness } from "./suite.js";

const LOOPBACK = "127.0.0.1";

export interface LogRecord {
  level: string;
  fields: LogFields;
  msg: string;
}

/** A Logger that keeps every record (fields flattened with their child bindings). */
export function recordingLogger(
  records: LogRecord[] = [],
  bindings: LogFields = {},
): Logger & { records: LogRecord[] } {
  const at =
    (level: string) =>
    (a: LogFields | string, msg?: string): void => {
      if (typeof a === "string") records.push({ level, fields: { ...bindings }, msg: a });
      else records.push({ level, fields: { ...bindings, ...a }, msg: msg ?? "" });
    };
  return {
    records,
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    fatal: at("fatal"),
    child: (more) => recordingLogger(records, { ...bindings, ...more }),
  };
}

/** The records at `level` whose message or fields mention `text`. */
export function logged(records: LogRecord[], level: string, text: RegExp): LogRecord[] {
  return records.filter(
    (r) => r.level === level && text.test(`${r.msg} ${JSON.stringify(r.fields)}`),
  );
}

/** Polls `done` every few ms until it holds; generous deadline (CI shares 2 loaded cores). */
export async function waitFor(
  done: () => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Starts one TcpTransport per id on loopback, each on a free port (port 0). The address book
 * is shared and filled in as each binds; nothing is sent before all are up.
 */
export async function startTcpCluster(
  ids: NodeId[],
  extra: Partial<TcpTransportOptions> = {},
): Promise<{ transports: Map<NodeId, TcpTransport>; peers: Map<NodeId, HostPort> }> {
  const peers = new Map<NodeId, HostPort>(ids.map((id) => [id, { host: LOOPBACK, port: 0 }]));
  const transports = new Map<NodeId, TcpTransport>();
  try {
    for (const id of ids) {
      const t = await TcpTransport.start({
        id,
        listen: { host: LOOPBACK, port: 0 },
        peers,
        ...extra,
      });
      transports.set(id, t);
      peers.set(id, t.address());
    }
  } catch (err) {
    await Promise.all([...transports.values()].map((t) => t.close()));
    throw err;
  }
  return { transports, peers };
}

export function tcpHarness(extra: Partial<TcpTransportOptions> = {}): () => TransportHarness {
  return () => {
    const started: Transport[] = [];
    return {
      ordered: true,
      async create(ids) {
        const { transports } = await startTcpCluster(ids, extra);
        started.push(...transports.values());
        return new Map(transports);
      },
      settle: (done, what) => waitFor(done, what),
      async dispose() {
        await Promise.all(started.map((t) => t.close()));
      },
    };
  };
}

export function simHarness(): () => TransportHarness {
  return () => {
    let run: (() => boolean) | null = null;
    const started: Transport[] = [];
    return {
      // Without the "reorder" fault every SimNetwork link is FIFO, like a TCP connection.
      ordered: true,
      async create(ids) {
        const sim = createSimTransports(ids);
        run = () => sim.runUntilIdle();
        started.push(...sim.transports.values());
        return sim.transports;
      },
      async settle(done, what) {
        if (run !== null && !run()) throw new Error(`simulated network never went idle: ${what}`);
        if (!done()) throw new Error(`network idle but not done: ${what}`);
      },
      async dispose() {
        await Promise.all(started.map((t) => t.close()));
      },
    };
  };
}
