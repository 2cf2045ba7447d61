// The dashboard's routes without a browser: two nodes' dashboards on loopback servers with
// made-up statuses. The serving node gathers every member (learning the address of a member it
// never talked to from the leader's answer, reporting a dead one unreachable), answers same
// origin only, and leaves the API's routes alone. Also the event stream under it: produced
// only while someone listens, a final message on end().
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { NodeHistory } from "../../src/kv/dashboard/history.js";
import {
  type ClusterView,
  createDashboard,
  type Dashboard,
} from "../../src/kv/dashboard/routes.js";
import type { ServiceStatus } from "../../src/node/api.js";
import { EventStream } from "../../src/util/event-stream.js";

interface Served {
  server: http.Server;
  address: string;
  dashboard: Dashboard;
}

async function listen(handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}
const addressOf = (s: http.Server) => `127.0.0.1:${(s.address() as AddressInfo).port}`;

/** Reads a response's event stream until `count` events arrived. */
async function events(url: string, count: number): Promise<{ event: string; data: unknown }[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const out: { event: string; data: unknown }[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>)
    .pipeThrough(new TextDecoderStream())
    .getReader();
  let buf = "";
  while (out.length < count) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += value;
    let end = buf.indexOf("\n\n");
    while (end >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) out.push({ event, data: JSON.parse(data) });
      end = buf.indexOf("\n\n");
    }
  }
  await reader.cancel();
  return out;
}

describe("dashboard routes", () => {
  const served: Served[] = [];
  let dead = "";

  const status = (id: number, leader: number): ServiceStatus => ({
    id,
    role: id === leader ? "leader" : "follower",
    term: 7,
    leader,
    commitIndex: 40,
    appliedIndex: 40,
    members: [1, 2, 3],
    ...(id === leader && {
      progress: [
        { id: 2, match: 40, next: 41, state: "replicate" as const, lag: 0 },
        { id: 3, match: 12, next: 13, state: "probe" as const, lag: 28 },
      ],
    }),
  });

  before(async () => {
    // Node 3's address: a port that was free a moment ago (nobody answers there).
    const gone = await listen(() => {});
    dead = addressOf(gone);
    await new Promise((r) => gone.close(r));
    // Node 1 leads and knows everyone; node 2 (a follower) has only heard from node 1.
    const known: Record<number, Record<number, string>> = { 1: {}, 2: {} };
    for (const id of [1, 2]) {
      let dashboard: Dashboard | undefined;
      const server = await listen((req, res) => {
        if (!dashboard?.handle(req, res)) res.writeHead(404).end("api");
      });
      const history = new NodeHistory();
      history.setLeader(1);
      dashboard = createDashboard({
        status: () => status(id, 1),
        history,
        peerHttp: (peer) => known[id]?.[peer] ?? null,
        selfHttp: addressOf(server),
        listenHost: "127.0.0.1",
        intervalMs: 100,
        peerTimeoutMs: 500,
      });
      served.push({ server, address: addressOf(server), dashboard });
    }
    known[1] = { 2: served[1]?.address as string, 3: dead };
    known[2] = { 1: served[0]?.address as string };
  });

  after(async () => {
    for (const s of served) {
      s.dashboard.close();
      s.server.closeAllConnections();
      await new Promise((r) => s.server.close(r));
    }
  });

  const url = (i: number, path: string) => `http://${served[i]?.address}${path}`;

  it("gathers every member: the leader's progress, an address learnt from the leader, a dead member", async () => {
    const [first] = await events(url(1, "/ui/events"), 1);
    assert.equal(first?.event, "cluster");
    const v = first?.data as ClusterView;
    assert.equal(v.self, 2);
    assert.deepEqual(
      v.members.map((m) => [m.id, m.self, m.reachable, m.http, m.error]),
      [
        [1, false, true, served[0]?.address, null],
        [2, true, true, served[1]?.address, null],
        [3, false, false, dead, "unreachable"],
      ],
    );
    assert.equal(v.members[0]?.status?.role, "leader");
    assert.deepEqual(
      v.members[0]?.status?.progress?.map((p) => [p.id, p.match, p.lag]),
      [
        [2, 40, 0],
        [3, 12, 28],
      ],
    );
    assert.deepEqual(
      v.leaders.map((c) => c.leader),
      [1],
    );
  });

  it("serves the page and its JSON same origin only, and leaves other routes to the API", async () => {
    const page = await fetch(url(0, "/ui"));
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.match(await page.text(), /raftwork cluster/);
    assert.match(await (await fetch(url(0, "/ui/"))).text(), /raftwork cluster/);
    assert.equal((await fetch(url(0, "/ui/dashboard/main.js"))).status, 200);
    assert.equal((await fetch(url(0, "/ui/nothing.js"))).status, 404);

    const node = (await (await fetch(url(0, "/ui/api/node"))).json()) as { http: object };
    assert.deepEqual(node.http, { 1: served[0]?.address, 2: served[1]?.address, 3: dead });
    const metrics = await fetch(url(0, "/ui/api/metrics"));
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers.get("access-control-allow-origin"), null);
    assert.deepEqual(Object.keys((await metrics.json()) as object), ["node", "samples", "leaders"]);

    const foreign = { "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" };
    for (const path of ["/ui/api/metrics", "/ui/api/node", "/ui/events", "/ui/kit/kit.css"])
      assert.equal((await fetch(url(0, path), { headers: foreign })).status, 403, path);
    assert.equal((await fetch(url(0, "/ui/api/metrics"), { method: "POST" })).status, 405);
    // A loopback server refuses a foreign Host (DNS rebinding).
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = http.get(
        url(0, "/ui/api/node"),
        { headers: { host: "evil.example:80" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
    });
    assert.equal(rebound, 403);
    for (const path of ["/v1/status", "/uix", "/metrics"])
      assert.equal(await (await fetch(url(0, path))).text(), "api", path);
  });
});

describe("EventStream", () => {
  it("produces only while someone listens, and sends a final message on end()", async () => {
    let produced = 0;
    const stream = new EventStream({ event: "tick", intervalMs: 20, produce: () => ++produced });
    const server = await listen((req, res) => stream.handle(req, res, true));
    const url = `http://${addressOf(server)}/`;
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(produced, 0, "nobody listens yet");
      const got = await events(url, 3);
      assert.deepEqual(
        got.map((e) => e.event),
        ["tick", "tick", "tick"],
      );
      // The reader hung up: production stops.
      await new Promise((r) => setTimeout(r, 100));
      const after = produced;
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(produced, after, "still producing with nobody listening");

      // A listener gets the final state when the stream ends.
      const res = await fetch(url);
      const text = res.text();
      await new Promise((r) => setTimeout(r, 50));
      const before = produced;
      await stream.end();
      const body = await text;
      assert.ok(body.endsWith(`event: tick\ndata: ${before + 1}\n\n`), body);
      assert.equal((await fetch(url)).status, 503, "a closed stream takes no listeners");
    } finally {
      stream.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
