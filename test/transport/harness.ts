// Harnesses that plug the two Transport adapters into the conformance suite (suite.ts) and
// give the TCP-specific tests a cluster of loopback transports.

import { createServer, type Socket } from "node:net";
import type { NodeId } from "../../src/raft/types.js";
import { createSimTransports } from "../../src/sim/network.js";
import type { HostPort, TcpTransportOptions } from "../../src/transport/tcp-transport.js";
import { TcpTransport } from "../../src/transport/tcp-transport.js";
import type { Transport } from "../../src/transport/transport.js";
import type { LogFields, Logger } from "../../src/util/logger.js";
import { BlackholeProxy } from "../support/blackhole-proxy.js";
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

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, LOOPBACK, r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A stand-in for a peer's listener: answers every connection with `answer`, then stays. */
export async function standInAcceptor(
  answer: Buffer,
  onSocket?: (s: Socket) => void,
): Promise<{ port: number; sockets: Socket[]; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    s.on("error", () => {});
    sockets.push(s);
    s.write(answer);
    onSocket?.(s);
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  return {
    port: (server.address() as { port: number }).port,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
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

/**
 * A TcpTransport cluster whose every directed link goes through its own BlackholeProxy, so a
 * test can cut any link silently. Node i reaches node j at proxy (i, j): each node has its own
 * address book, set with setPeers once the proxies are up.
 */
export async function startProxiedCluster(
  ids: NodeId[],
  extra: Partial<TcpTransportOptions> = {},
): Promise<{
  transports: Map<NodeId, TcpTransport>;
  proxies: Map<string, BlackholeProxy>;
  peersOf: Map<NodeId, Map<NodeId, HostPort>>;
  close(): Promise<void>;
}> {
  const { transports, peers } = await startTcpCluster(ids, extra);
  const proxies = new Map<string, BlackholeProxy>();
  const peersOf = new Map<NodeId, Map<NodeId, HostPort>>();
  const close = async () => {
    await Promise.all([...transports.values()].map((t) => t.close()));
    await Promise.all([...proxies.values()].map((p) => p.close()));
  };
  try {
    for (const from of ids) {
      const book = new Map<NodeId, HostPort>([[from, peers.get(from) as HostPort]]);
      for (const to of ids) {
        if (to === from) continue;
        const proxy = await BlackholeProxy.start({ target: peers.get(to) as HostPort });
        proxies.set(linkName(from, to), proxy);
        book.set(to, proxy.address);
      }
      peersOf.set(from, book);
      transports.get(from)?.setPeers(book);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { transports, proxies, peersOf, close };
}

export function linkName(from: NodeId, to: NodeId): string {
  return `${from}->${to}`;
}

/**
 * Link timing for tests that cut links: a cut noticed in ~150 ms, an attempt abandoned after
 * 200 ms (generous: a loaded CI machine may stall the event loop for a while).
 */
export const FAST_LINKS: Partial<TcpTransportOptions> = {
  pingIntervalMs: 20,
  livenessTimeoutMs: 150,
  connectTimeoutMs: 200,
  backoffInitialMs: 20,
  backoffMaxMs: 50,
};

export function tcpHarness(extra: Partial<TcpTransportOptions> = {}): () => TransportHarness {
  return () => {
    const cleanups: (() => Promise<void>)[] = [];
    let proxies = new Map<string, BlackholeProxy>();
    let transports = new Map<NodeId, TcpTransport>();
    let books = new Map<NodeId, ReadonlyMap<NodeId, HostPort>>();
    return {
      ordered: true,
      async create(ids, opts = {}) {
        if (opts.cuttable) {
          const c = await startProxiedCluster(ids, { ...extra, ...FAST_LINKS });
          cleanups.push(c.close);
          ({ transports, proxies } = c);
          books = c.peersOf;
        } else {
          const c = await startTcpCluster(ids, extra);
          cleanups.push(() =>
            Promise.all([...c.transports.values()].map((t) => t.close())).then(() => {}),
          );
          transports = c.transports;
          books = new Map(ids.map((id) => [id, c.peers]));
        }
        return new Map(transports);
      },
      addresses: (id) => books.get(id) ?? new Map(),
      async cut(a, b) {
        // Wait until each end whose connection went through the cut has torn it down.
        const waits: [TcpTransport, number][] = [];
        for (const [from, to] of [
          [a, b],
          [b, a],
        ] as const) {
          const proxy = proxies.get(linkName(from, to));
          if (proxy === undefined) throw new Error("cut() needs create(ids, { cuttable: true })");
          const t = transports.get(from) as TcpTransport;
          if (proxy.connections > 0) waits.push([t, t.stats().livenessTimeouts]);
          proxy.blackhole();
        }
        await waitFor(
          () => waits.every(([t, before]) => t.stats().livenessTimeouts > before),
          `links ${a}<->${b} torn down by the liveness check`,
        );
      },
      heal() {
        for (const p of proxies.values()) p.heal();
      },
      settle: (done, what) => waitFor(done, what),
      async dispose() {
        await Promise.all(cleanups.map((c) => c()));
      },
    };
  };
}

export function simHarness(): () => TransportHarness {
  return () => {
    let sim: ReturnType<typeof createSimTransports> | null = null;
    const started: Transport[] = [];
    return {
      // Without the "reorder" fault every SimNetwork link is FIFO, like a TCP connection.
      ordered: true,
      async create(ids) {
        sim = createSimTransports(ids);
        started.push(...sim.transports.values());
        return sim.transports;
      },
      // The simulator has no addresses: any will do.
      addresses: () =>
        new Map(sim ? [...sim.transports.keys()].map((p) => [p, { host: "sim", port: p }]) : []),
      async cut(a, b) {
        sim?.network.cutLink(a, b);
        sim?.network.cutLink(b, a);
      },
      heal() {
        sim?.network.heal();
      },
      async settle(done, what) {
        if (sim !== null && !sim.runUntilIdle()) {
          throw new Error(`simulated network never went idle: ${what}`);
        }
        if (!done()) throw new Error(`network idle but not done: ${what}`);
      },
      async dispose() {
        await Promise.all(started.map((t) => t.close()));
      },
    };
  };
}
