// The cluster dashboard's routes on every KV node's --http (README, "Cluster
// dashboard"). The page (ui/dashboard/) is static; what it shows comes from here:
//
//   GET /ui              the page; /ui/... its modules and the shared kit (static-assets.ts)
//   GET /ui/events       Server-Sent Events, one "cluster" event a second (ClusterView)
//   GET /ui/api/metrics  this node's last minutes, one Sample a second, and its leader changes
//   GET /ui/api/node     this node's status and latest sample: what the others' dashboards
//                        fetch from it
//
// A browser may only talk to the node that served the page (same origin, no CORS), so the node
// gathers the other members' state for it: each round it asks every member's /ui/api/node, at
// the HTTP address the member put in its Raft handshake (the address followers forward
// writes to), and sends the page the lot. Rounds run only while a page listens.

import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { ServiceStatus } from "../../node/api.js";
import type { NodeId } from "../../raft/types.js";
import { EventStream } from "../../util/event-stream.js";
import { parseHostPort } from "../../util/host-port.js";
import type { Logger } from "../../util/logger.js";
import {
  createAssetHandler,
  isLoopbackHost,
  refuseForeign,
  securityHeaders,
  sendText,
  UI_DIR,
} from "../../util/static-assets.js";
import type { MemberLink } from "../member-link.js";
import type { LeaderChange, NodeHistory, Sample } from "./history.js";

export interface DashboardOptions {
  /** This node's status (RaftService.status). */
  status: () => ServiceStatus;
  history: NodeHistory;
  /** Where member `id` serves HTTP ("HOST:PORT"), if known (its Raft handshake says). */
  peerHttp: (id: NodeId) => string | null;
  /** How to call the other members (HTTPS when they serve TLS); absent: plain HTTP. */
  members?: MemberLink;
  /** Where this node serves HTTP ("HOST:PORT"), as it tells its peers. */
  selfHttp: string;
  /** The host the HTTP server listens on: on loopback, foreign Host headers are refused. */
  listenHost: string;
  logger?: Logger;
  /** How often the page gets a new ClusterView. Default 1 s. */
  intervalMs?: number;
  /** How long a member may take to answer before it counts as unreachable. Default 800 ms. */
  peerTimeoutMs?: number;
}

/** What one member's /ui/api/node answers. */
export interface NodeView {
  status: ServiceStatus;
  sample: Sample | null;
  /** The members' HTTP addresses this node knows (itself included). */
  http: Record<string, string>;
}

/** One member as the serving node sees it. */
export interface MemberView {
  id: NodeId;
  /** Its HTTP address ("HOST:PORT"), or null while unknown. */
  http: string | null;
  self: boolean;
  reachable: boolean;
  /** Why it is unreachable. */
  error: string | null;
  status: ServiceStatus | null;
  sample: Sample | null;
}

/** The "cluster" event's data. */
export interface ClusterView {
  /** ms since the epoch, on the serving node's clock. */
  t: number;
  self: NodeId;
  members: MemberView[];
  /** Leader changes as the serving node saw them, oldest first. */
  leaders: LeaderChange[];
}

export interface Dashboard {
  /** Serves the request if it is one of the dashboard's (true); false leaves it to the API. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
}

export function createDashboard(opts: DashboardOptions): Dashboard {
  const loopback = isLoopbackHost(opts.listenHost);
  const peerTimeoutMs = opts.peerTimeoutMs ?? 800;
  const assets = createAssetHandler({
    files: {
      "/ui": join(UI_DIR, "dashboard", "index.html"),
      "/ui/": join(UI_DIR, "dashboard", "index.html"),
    },
    dirs: { "/ui/": UI_DIR },
    loopback,
  });

  // Members' HTTP addresses: from their handshakes with this node, or learnt from another
  // member. Two followers never talk to each other while a leader leads (only the leader
  // sends), so each learns the other's address from the leader's answer. Kept after a member
  // dies: the page still links to where it was.
  const learnt = new Map<NodeId, string>();
  const addressOf = (id: NodeId): string | null => {
    const known = opts.peerHttp(id);
    if (known !== null) learnt.set(id, known);
    return known ?? learnt.get(id) ?? null;
  };

  /** A member's /ui/api/node, parsed; HttpStatus when it answers but not 200. */
  const fetchNode = async (id: NodeId, http: string): Promise<unknown> => {
    if (opts.members === undefined) {
      const res = await fetch(`http://${http}/ui/api/node`, {
        signal: AbortSignal.timeout(peerTimeoutMs),
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new HttpStatus(res.status);
      }
      return res.json();
    }
    const target = parseHostPort(http);
    if (!target.ok) throw new Error(target.error);
    const res = await opts.members.get(id, target.value, "/ui/api/node", peerTimeoutMs);
    if (res.status !== 200) throw new HttpStatus(res.status);
    return JSON.parse(res.body.toString());
  };

  const nodeView = (): NodeView => {
    const status = opts.status();
    const http: Record<string, string> = { [status.id]: opts.selfHttp };
    for (const id of status.members) {
      const a = id === status.id ? null : addressOf(id);
      if (a !== null) http[id] = a;
    }
    return { status, sample: opts.history.latest(), http };
  };

  async function member(id: NodeId, self: NodeView): Promise<MemberView> {
    const me = id === self.status.id;
    const http = me ? opts.selfHttp : addressOf(id);
    const view: MemberView = {
      id,
      http,
      self: me,
      reachable: me,
      error: null,
      status: me ? self.status : null,
      sample: me ? self.sample : null,
    };
    if (me) return view;
    if (http === null) return { ...view, error: "its address is not known yet" };
    try {
      const got = (await fetchNode(id, http)) as NodeView;
      for (const [other, a] of Object.entries(got.http ?? {}))
        if (typeof a === "string" && parseHostPort(a).ok && !learnt.has(Number(other)))
          learnt.set(Number(other), a);
      return { ...view, reachable: true, status: got.status, sample: got.sample };
    } catch (e) {
      if (e instanceof HttpStatus) return { ...view, error: e.message };
      const timedOut =
        e instanceof Error && (e.name === "TimeoutError" || (e as { timeout?: boolean }).timeout);
      return { ...view, error: timedOut ? "no answer" : "unreachable" };
    }
  }

  async function clusterView(): Promise<ClusterView> {
    const self = nodeView();
    const ids = self.status.members.includes(self.status.id)
      ? self.status.members
      : [self.status.id, ...self.status.members];
    const members = await Promise.all(ids.map((id) => member(id, self)));
    // Addresses learnt in this round: ask those members now rather than a round later.
    for (const [i, m] of members.entries())
      if (m.http === null && learnt.has(m.id)) members[i] = await member(m.id, self);
    return {
      t: Date.now(),
      self: self.status.id,
      members,
      leaders: opts.history.leaderChanges(),
    };
  }

  const events = new EventStream({
    event: "cluster",
    intervalMs: opts.intervalMs ?? 1000,
    produce: clusterView,
    onError: (err) => opts.logger?.warn({ err }, "dashboard: cannot gather the cluster's state"),
  });

  function json(req: IncomingMessage, res: ServerResponse, body: () => unknown): void {
    if (refuseForeign(req, res, loopback)) return;
    if (req.method !== "GET") {
      res.setHeader("Allow", "GET");
      sendText(res, 405, "method not allowed\n");
      return;
    }
    const text = JSON.stringify(body());
    res.writeHead(200, {
      ...securityHeaders("application/json; charset=utf-8"),
      "Content-Length": Buffer.byteLength(text),
      "Cache-Control": "no-store",
    });
    res.end(text);
  }

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    "/ui/events": (req, res) => events.handle(req, res, loopback),
    "/ui/api/metrics": (req, res) =>
      json(req, res, () => ({
        node: opts.status().id,
        samples: opts.history.window(),
        leaders: opts.history.leaderChanges(),
      })),
    "/ui/api/node": (req, res) => json(req, res, nodeView),
  };

  return {
    handle(req, res) {
      const url = req.url ?? "/";
      if (url !== "/ui" && !url.startsWith("/ui/") && !url.startsWith("/ui?")) return false;
      const route = routes[url.split("?")[0] as string];
      if (route) route(req, res);
      else if (!assets(req, res)) sendText(res, 404, "not found\n");
      return true;
    },
    close: () => events.close(),
  };
}

class HttpStatus extends Error {
  constructor(status: number) {
    super(`it answered HTTP ${status}`);
  }
}
