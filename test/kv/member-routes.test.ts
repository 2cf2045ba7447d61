// /v1/members on real RaftNodes (in-process network, MemoryStorage, real KV state machine and
// HTTP API): every bad request gets its status and changes nothing (the configuration, the
// address book and the log stay as they were); then the good ones, including a joint change
// and a learner that joins, catches up and is promoted, and the removal of the leader.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createKvHttpServer, type KvHttpServer } from "../../src/kv/http-api.js";
import { KvStateMachine } from "../../src/kv/state-machine.js";
import { MemberOps } from "../../src/node/member-ops.js";
import { RaftNode } from "../../src/node/raft-node.js";
import { RawNode } from "../../src/raft/raw-node.js";
import type { NodeId } from "../../src/raft/types.js";
import { MemoryStorage } from "../../src/storage/memory-storage.js";
import { LocalNetwork } from "../node/local-network.js";
import { MemberRoster, PeerAddresses, request } from "./fake-service.js";

// Each member's link knows the others' secrets, as their Raft handshakes tell them.
const roster = new MemberRoster();

const FOUNDERS = [1, 2, 3];
const raftAddress = (id: NodeId) => `127.0.0.1:${17_000 + id}`;
const ELECTION_MS = 150;

interface N {
  id: NodeId;
  node: RaftNode;
  ops: MemberOps;
  http: KvHttpServer;
}

const net = new LocalNetwork();
const peers = new PeerAddresses();
const nodes = new Map<NodeId, N>();

async function startNode(id: NodeId, joining: boolean): Promise<N> {
  const sm = new KvStateMachine();
  const node = await RaftNode.start({
    id,
    peers: joining ? [] : FOUNDERS,
    baseBook: joining
      ? { clusterId: null, members: [] }
      : { clusterId: null, members: FOUNDERS.map((m) => ({ id: m, raft: raftAddress(m) })) },
    storage: new MemoryStorage(),
    transport: net.transport(id),
    stateMachine: sm,
    createRawNode: (c) => new RawNode(c),
    electionTimeoutMs: ELECTION_MS,
    heartbeatMs: 30,
    requestTimeoutMs: 3000,
  });
  const ops = new MemberOps({ node, electionTimeoutMs: ELECTION_MS });
  const http = await createKvHttpServer("127.0.0.1", 0, {
    service: node,
    sm,
    id,
    peerHttp: peers.lookup,
    memberOps: ops,
    members: roster.link(id),
    peerHello: (m) => {
      const a = peers.lookup(m);
      return a === null ? null : { http: a };
    },
  });
  peers.set(id, http.url);
  const n = { id, node, ops, http };
  nodes.set(id, n);
  return n;
}

async function stopNode(id: NodeId): Promise<void> {
  const n = nodes.get(id);
  if (!n) return;
  nodes.delete(id);
  await n.node.stop();
  await n.http.close();
}

/** Polls `f` until it returns a value other than undefined (generous deadline). */
async function until<T>(what: string, f: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const leader = () =>
  until("a leader", () => {
    for (const n of nodes.values()) if (n.node.status().role === "leader") return n;
    return undefined;
  });

/** What must not change when a request is refused. */
function snapshotOf() {
  return [...nodes.values()].map((n) => ({
    id: n.id,
    conf: n.node.status().conf,
    book: n.node.membership.current(),
    commit: n.node.status().commitIndex,
  }));
}

const call = (n: N, method: string, path: string, body?: unknown) =>
  request(
    n.http.url,
    method,
    path,
    body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) },
  );

before(async () => {
  for (const id of FOUNDERS) await startNode(id, false);
  const l = await leader();
  // The first leader commits the cluster id it drew: wait for it, so the log stays still.
  await until("the cluster id", () => (l.node.membership.current().clusterId ? true : undefined));
  await until("every member at the leader's commit", () =>
    [...nodes.values()].every((n) => n.node.status().appliedIndex === l.node.status().commitIndex)
      ? true
      : undefined,
  );
});

after(async () => {
  for (const id of [...nodes.keys()]) await stopNode(id);
});

describe("/v1/members", () => {
  it("a joining member never campaigns before it has the leader's log or a snapshot", async () => {
    const stranger = await startNode(9, true);
    net.isolate(9);
    try {
      const until = Date.now() + ELECTION_MS * 6;
      while (Date.now() < until) {
        const s = stranger.node.status();
        assert.equal(s.role, "follower");
        assert.equal(s.term, 0);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(stranger.node.status().conf?.voters, []);
    } finally {
      await stopNode(9);
      peers.set(9, null);
      net.heal();
    }
  });

  it("lists the configuration from any node, with addresses and roles", async () => {
    const l = await leader();
    const follower = [...nodes.values()].find((n) => n !== l) as N;
    for (const n of [l, follower]) {
      const r = await call(n, "GET", "/v1/members");
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(
        JSON.parse(r.body),
        FOUNDERS.map((id) => ({
          id,
          raft: raftAddress(id),
          http: peers.lookup(id),
          grpc: null,
          role: "voter",
        })),
      );
    }
  });

  it("refuses bad input with 400/404/405/409, and nothing changes", async () => {
    const l = await leader();
    const follower = [...nodes.values()].find((n) => n !== l) as N;
    const before = snapshotOf();
    const cases: [string, string, unknown, number, RegExp][] = [
      ["POST", "/v1/members", "{not json", 400, /must be JSON/],
      ["POST", "/v1/members", { raft: "no-port" }, 400, /raft/],
      ["POST", "/v1/members", { id: 0, raft: "127.0.0.1:1" }, 400, /id/],
      ["POST", "/v1/members", { id: 4, raft: "127.0.0.1:1", learner: "yes" }, 400, /learner/],
      ["POST", "/v1/members", { id: 4, raft: "127.0.0.1:1", extra: 1 }, 400, /extra|Unrecognized/i],
      ["POST", "/v1/members", { id: 2, raft: "127.0.0.1:1" }, 409, /member id 2 is taken/],
      ["POST", "/v1/members", { id: 4, raft: raftAddress(1) }, 409, /is taken by member 1/],
      ["POST", "/v1/members?op=bogus", {}, 400, /unknown op/],
      ["POST", "/v1/members?op=change", {}, 400, /the change is empty/],
      ["POST", "/v1/members?op=change", { remove: [2], promote: [2] }, 400, /appears twice/],
      ["POST", "/v1/members?op=change", { remove: [1, 2, 3] }, 409, /no voter/],
      ["POST", "/v1/members?op=change", { remove: [9] }, 409, /not in the cluster/],
      ["PATCH", "/v1/members/9", { raft: "127.0.0.1:1" }, 409, /not in the cluster/],
      ["PATCH", "/v1/members/2", { raft: raftAddress(3) }, 409, /taken by member 3/],
      ["PATCH", "/v1/members/2", { address: "x" }, 400, /bad request body/],
      ["PATCH", "/v1/members/abc", { raft: "127.0.0.1:1" }, 400, /not a member id/],
      ["POST", "/v1/members/2?op=promote", undefined, 409, /not a learner/],
      ["POST", "/v1/members/2", undefined, 400, /needs \?op=promote/],
      ["DELETE", "/v1/members/9", undefined, 409, /not in the cluster/],
      ["PUT", "/v1/members", "{}", 405, /not allowed/],
      ["PUT", "/v1/members/2", "{}", 405, /not allowed/],
    ];
    for (const n of [l, follower]) {
      for (const [method, path, body, status, message] of cases) {
        const r = await call(n, method, path, body);
        assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}: ${r.body}`);
        assert.match(JSON.parse(r.body).error, message, `${method} ${path}`);
      }
    }
    assert.deepEqual(snapshotOf(), before);
  });

  it("refuses a second change while one is in progress (409), and a learner that is behind", async () => {
    const l = await leader();
    const [a, b] = await Promise.all([
      call(l, "POST", "/v1/members", { id: 4, raft: raftAddress(4), learner: true }),
      call(l, "POST", "/v1/members", { id: 5, raft: raftAddress(5), learner: true }),
    ]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 409], `${a.body} ${b.body}`);
    const refused = a.status === 409 ? a : b;
    assert.match(JSON.parse(refused.body).error, /another membership change is in progress/);
    const added = a.status === 200 ? 4 : 5;
    // Not running: its match index is 0, below 90% of the leader's log.
    const p = await call(l, "POST", `/v1/members/${added}?op=promote`);
    assert.equal(p.status, 409, p.body);
    assert.match(JSON.parse(p.body).error, /not caught up/);
    const d = await call(l, "DELETE", `/v1/members/${added}`);
    assert.equal(d.status, 200, d.body);
    assert.deepEqual(
      JSON.parse(d.body).map((m: { id: number }) => m.id),
      FOUNDERS,
    );
  });

  it("refuses a voter that would leave the new voters without a quorum of live members", async () => {
    const l = await leader();
    const others = FOUNDERS.filter((id) => id !== l.id);
    net.isolate(others[0] as number);
    try {
      // Once the leader has not heard from it for an election timeout, 2 of 4 voters are live.
      await until("the isolated member to fall silent", () =>
        l.node.membership.silenceMs(others[0] as number) > ELECTION_MS * 2 ? true : undefined,
      );
      const before = snapshotOf();
      const r = await call(l, "POST", "/v1/members", { id: 8, raft: raftAddress(8) });
      assert.equal(r.status, 409, r.body);
      assert.match(JSON.parse(r.body).error, /below a quorum of 3: add the member as a learner/);
      assert.deepEqual(snapshotOf(), before);
    } finally {
      net.heal();
    }
  });

  it("adds a learner that catches up, promotes it, updates an address, and removes the leader", async () => {
    let l = await leader();
    // No id given: the leader picks the smallest one never used (a removed id stays retired).
    const retired = l.node.membership.current().removed ?? [];
    assert.equal(retired.length, 1, "the earlier test removed one learner");
    const nid = retired[0] === 4 ? 5 : 4;
    const add = await call(l, "POST", "/v1/members", { raft: raftAddress(nid), learner: true });
    assert.equal(add.status, 200, add.body);
    const added = JSON.parse(add.body).find((m: { id: number }) => m.id === nid);
    assert.deepEqual(added, {
      id: nid,
      raft: raftAddress(nid),
      http: null,
      grpc: null,
      role: "learner",
    });
    const reuse = await call(l, "POST", "/v1/members", {
      id: retired[0],
      raft: raftAddress(7),
      learner: true,
    });
    assert.equal(reuse.status, 409, reuse.body);
    assert.match(JSON.parse(reuse.body).error, /was removed; give the new member another id/);
    const joiner = await startNode(nid, true);
    await until("the learner to catch up", () =>
      joiner.node.status().appliedIndex >= l.node.status().commitIndex ? true : undefined,
    );
    assert.equal(joiner.node.membership.address(1), raftAddress(1), "the joiner learned the book");
    const promoted = await call(joiner, "POST", `/v1/members/${nid}?op=promote`);
    assert.equal(promoted.status, 200, promoted.body);
    assert.equal(JSON.parse(promoted.body).find((m: { id: number }) => m.id === nid).role, "voter");

    const moved = await call(l, "PATCH", `/v1/members/${nid}`, { raft: "127.0.0.1:17999" });
    assert.equal(moved.status, 200, moved.body);
    await until("every member to know the new address", () =>
      [...nodes.values()].every((n) => n.node.membership.address(nid) === "127.0.0.1:17999")
        ? true
        : undefined,
    );

    const old = l.id;
    const removed = await call(l, "DELETE", `/v1/members/${old}`);
    assert.equal(removed.status, 200, removed.body);
    assert.ok(!JSON.parse(removed.body).some((m: { id: number }) => m.id === old));
    await stopNode(old);
    l = await leader();
    assert.notEqual(l.id, old);
    assert.ok(!l.node.status().conf?.voters.includes(old));
  });

  it("replaces a member through one joint change, left automatically", async () => {
    const l = await leader();
    const victim = [...nodes.keys()].find((id) => id !== l.id) as NodeId;
    const r = await call(l, "POST", "/v1/members?op=change", {
      add: [{ id: 6, raft: raftAddress(6), learner: true }],
      remove: [victim],
    });
    assert.equal(r.status, 200, r.body);
    const conf = l.node.status().conf;
    assert.deepEqual(conf?.votersOutgoing, [], "the joint configuration was left");
    assert.ok(conf?.learners.includes(6));
    assert.ok(!conf?.voters.includes(victim));
    await stopNode(victim);
    const w = await request(l.http.url, "PUT", "/v1/kv/after", { body: "still-works" });
    assert.equal(w.status, 200, w.body);
  });
});
