// The operations routes (src/kv/ops-routes.ts) over in-process services: /health on the
// leader and through a follower (which waits to apply the leader's read index), /v1/leader's
// validation, refusals and relay, and /v1/snapshot's streamed backup.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { decodeBackup } from "../../src/kv/backup-format.js";
import { encodeCommand } from "../../src/kv/commands.js";
import { createOpsRoutes, type OpsRoutes } from "../../src/kv/ops-routes.js";
import { KvStateMachine } from "../../src/kv/state-machine.js";
import { ProposalTimeoutError } from "../../src/node/errors.js";
import { FakeService, MemberRoster } from "./fake-service.js";

/** A FakeService that leads, follows, and can be told to move leadership. */
class OpsService extends FakeService {
  transfers: number[] = [];
  /** What transferLeader does to the world: by default the target takes over at once. */
  onTransfer: (to: number) => void = (to) => {
    this.leader = to;
  };
  appliedShift = 0;

  transferLeader(to: number): boolean {
    if (this.leader !== this.id) return false;
    this.transfers.push(to);
    this.onTransfer(to);
    return true;
  }

  override status() {
    const s = super.status();
    return { ...s, appliedIndex: s.appliedIndex + this.appliedShift };
  }
}

interface Served {
  url: string;
  svc: OpsService;
  ops: OpsRoutes;
  server: http.Server;
}

const servers: Served[] = [];
// Every member's link knows every other's secret, as after their Raft handshakes.
const roster = new MemberRoster();
after(() => {
  for (const s of servers) {
    s.ops.close();
    roster.link(s.svc.id).close();
    s.server.closeAllConnections();
    s.server.close();
  }
});

async function serve(
  svc: OpsService,
  peers: Map<number, string>,
  electionTimeoutMs = 200,
): Promise<Served> {
  const ops = createOpsRoutes({
    service: svc,
    sm: svc.sm,
    id: svc.id,
    peerHttp: (id) => peers.get(id) ?? null,
    members: roster.link(svc.id),
    electionTimeoutMs,
    now: () => 1234,
  });
  const server = http.createServer((req, res) => {
    if (!ops.handle(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const s = { url: `http://127.0.0.1:${port}`, svc, ops, server };
  servers.push(s);
  peers.set(svc.id, `127.0.0.1:${port}`);
  return s;
}

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, headers: res.headers };
}

function put(svc: FakeService, key: string, value: string): void {
  void svc.propose(encodeCommand({ op: "put", key, value: Buffer.from(value), ts: 1 }));
}

describe("GET /health", () => {
  it("is healthy on a leader whose read barrier passes, and says why not otherwise", async () => {
    const leader = await serve(new OpsService(1, 1), new Map());
    assert.deepEqual((await call(`${leader.url}/health`)).json, { health: true, leader: 1 });
    leader.svc.fail = () => new ProposalTimeoutError();
    const sick = await call(`${leader.url}/health`);
    assert.equal(sick.status, 503);
    assert.equal((sick.json as { health: boolean }).health, false);
    assert.match((sick.json as { reason: string }).reason, /did not complete within 1 s/);
    leader.svc.fail = null;
    leader.svc.leader = null;
    assert.deepEqual((await call(`${leader.url}/health`)).json, {
      health: false,
      reason: "no leader known",
    });
    assert.equal((await call(`${leader.url}/health`, { method: "POST" })).status, 405);
  });

  it("through a follower: healthy once it applied the leader's read index, not before", async () => {
    const peers = new Map<number, string>();
    const leader = await serve(new OpsService(1, 1), peers);
    const follower = await serve(new OpsService(2, 1), peers);
    put(leader.svc, "a", "1");
    put(leader.svc, "b", "2");
    follower.svc.appliedShift = 2; // it applied both entries too
    assert.deepEqual((await call(`${follower.url}/health`)).json, { health: true, leader: 1 });
    follower.svc.appliedShift = 1; // one behind, and it never catches up
    const started = Date.now();
    const behind = await call(`${follower.url}/health`);
    assert.equal(behind.status, 503);
    assert.match((behind.json as { reason: string }).reason, /1 entries behind/);
    assert.ok(Date.now() - started >= 900, "gave up before the second was over");
    // It catches up while the check waits.
    setTimeout(() => {
      follower.svc.appliedShift = 2;
    }, 200);
    assert.equal((await call(`${follower.url}/health`)).status, 200);
    peers.delete(1);
    const unknown = await call(`${follower.url}/health`);
    assert.match((unknown.json as { reason: string }).reason, /address is not known/);
    peers.set(1, "127.0.0.1:1");
    const down = await call(`${follower.url}/health`);
    assert.match((down.json as { reason: string }).reason, /cannot reach the leader/);
  });
});

describe("POST /v1/leader", () => {
  it("refuses bad bodies (400), non-voters (409) and other methods (405)", async () => {
    const s = await serve(new OpsService(1, 1), new Map());
    for (const body of ["", "{", "[]", '{"id":"2"}', '{"id":0}', '{"id":1.5}', '{"id":2,"x":1}']) {
      const r = await call(`${s.url}/v1/leader`, { method: "POST", body });
      assert.equal(r.status, 400, body);
      assert.equal(typeof (r.json as { error: string }).error, "string");
    }
    const big = await call(`${s.url}/v1/leader`, { method: "POST", body: "x".repeat(5000) });
    assert.equal(big.status, 413);
    const stranger = await call(`${s.url}/v1/leader`, { method: "POST", body: '{"id":9}' });
    assert.equal(stranger.status, 409);
    assert.match((stranger.json as { error: string }).error, /node 9 is not a voter/);
    assert.equal((await call(`${s.url}/v1/leader`)).status, 405);
    assert.deepEqual(s.svc.transfers, []);
  });

  it("answers 200 once the target leads, itself at once, 504 when the transfer stalls", async () => {
    const s = await serve(new OpsService(1, 1), new Map(), 100);
    const self = await call(`${s.url}/v1/leader`, { method: "POST", body: '{"id":1}' });
    assert.deepEqual([self.status, self.json], [200, { leader: 1 }]);
    s.svc.onTransfer = () => {}; // the target never takes over
    const started = Date.now();
    const stalled = await call(`${s.url}/v1/leader`, { method: "POST", body: '{"id":2}' });
    assert.equal(stalled.status, 504);
    assert.ok(Date.now() - started >= 200, "gave up before twice the election timeout");
    s.svc.onTransfer = (to) => {
      setTimeout(() => {
        s.svc.leader = to;
      }, 30);
    };
    const moved = await call(`${s.url}/v1/leader`, { method: "POST", body: '{"id":3}' });
    assert.deepEqual([moved.status, moved.json], [200, { leader: 3 }]);
    assert.deepEqual(s.svc.transfers, [2, 3]);
  });

  it("is relayed by a follower to the leader, and 503 when no leader is known", async () => {
    const peers = new Map<number, string>();
    const leader = await serve(new OpsService(1, 1), peers);
    const follower = await serve(new OpsService(2, 1), peers);
    const r = await call(`${follower.url}/v1/leader`, { method: "POST", body: '{"id":3}' });
    assert.deepEqual([r.status, r.json], [200, { leader: 3 }]);
    assert.deepEqual(leader.svc.transfers, [3]);
    assert.deepEqual(follower.svc.transfers, []);
    follower.svc.leader = null;
    const none = await call(`${follower.url}/v1/leader`, { method: "POST", body: '{"id":3}' });
    assert.equal(none.status, 503);
  });
});

describe("GET /v1/snapshot", () => {
  it("streams a backup of the state at the applied index, with its index and term", async () => {
    const s = await serve(new OpsService(1, 1), new Map());
    for (let i = 0; i < 2000; i++) put(s.svc, `key-${i}`, "v".repeat(200));
    const res = await fetch(`${s.url}/v1/snapshot`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), null, "streamed, not buffered whole");
    assert.equal(res.headers.get("x-raftwork-backup-index"), "2000");
    const file = Buffer.from(await res.arrayBuffer());
    const d = decodeBackup(file);
    assert.ok(d.ok, d.ok ? "" : d.error);
    assert.deepEqual(d.value.meta, {
      index: 2000,
      term: 1,
      conf: {
        voters: [1, 2, 3],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
      node: 1,
      createdAt: 1234,
    });
    const copy = new KvStateMachine();
    copy.restore(d.value.data);
    assert.equal(copy.revision, s.svc.sm.revision);
    assert.equal((await call(`${s.url}/v1/snapshot`, { method: "DELETE" })).status, 405);
  });

  it("is the state of the moment it was asked for, though writes continue while it streams", async () => {
    const s = await serve(new OpsService(1, 1), new Map());
    for (let i = 0; i < 3000; i++) put(s.svc, `key-${i}`, "v".repeat(300));
    const revision = s.svc.sm.revision;
    const res = await fetch(`${s.url}/v1/snapshot`);
    for (let i = 0; i < 100; i++) put(s.svc, `late-${i}`, "x");
    const d = decodeBackup(Buffer.from(await res.arrayBuffer()));
    assert.ok(d.ok);
    const copy = new KvStateMachine();
    copy.restore(d.value.data);
    assert.equal(copy.revision, revision);
    assert.equal(d.value.meta.index, 3000);
  });
});
