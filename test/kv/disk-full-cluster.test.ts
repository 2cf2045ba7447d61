// A full disk end to end over the HTTP API (docs/architecture.md, "Disk faults: full and slow
// disks"): three RaftNodes with the KV state machine and HTTP API, FileStorage on a simulated
// disk each, an in-process Raft network, real (short) timers. The leader's disk fills: the
// alarm goes up, writes at it get 503, reads at it are still answered (relayed to the new
// leader), the others take writes; space returns: the alarm clears and writes at it succeed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createKvHttpServer, type KvHttpServer } from "../../src/kv/http-api.js";
import { KvStateMachine } from "../../src/kv/state-machine.js";
import { RaftNode } from "../../src/node/raft-node.js";
import { RawNode } from "../../src/raft/raw-node.js";
import type { NodeId } from "../../src/raft/types.js";
import { Rng } from "../../src/sim/rng.js";
import { FileStorage } from "../../src/storage/file-storage.js";
import { waitFor } from "../node/fakes.js";
import { FaultDisk } from "../node/fault-disk.js";
import { LocalNetwork } from "../node/local-network.js";
import { MemberRoster, request } from "./fake-service.js";

const IDS: NodeId[] = [1, 2, 3];
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
console.log(`disk-full cluster test: SEED=${SEED}`);

interface Member {
  node: RaftNode;
  storage: FileStorage;
  disk: FaultDisk;
  http: KvHttpServer;
  fatal: Error[];
}

describe("a full disk over the HTTP API, on real nodes", () => {
  const members = new Map<NodeId, Member>();
  const addresses = new Map<NodeId, string>();
  const net = new LocalNetwork();
  const rng = new Rng(SEED);
  // Each member's link knows the others' secrets, as their Raft handshakes tell them.
  const roster = new MemberRoster();
  const get = (id: NodeId) => members.get(id) as Member;
  const status = async (id: NodeId) =>
    JSON.parse((await request(get(id).http.url, "GET", "/v1/status")).body) as {
      role: string;
      leader: NodeId | null;
      alarms: string[];
    };

  before(async () => {
    for (const id of IDS) {
      const disk = new FaultDisk(rng.fork(`disk ${id}`));
      const storage = await FileStorage.open(`/n${id}`, { fs: disk.sim.fs, preallocate: false });
      const sm = new KvStateMachine();
      const fatal: Error[] = [];
      const node = await RaftNode.start({
        id,
        peers: IDS,
        storage,
        transport: net.transport(id),
        stateMachine: sm,
        createRawNode: (c) => new RawNode(c),
        electionTimeoutMs: 150,
        heartbeatMs: 30,
        requestTimeoutMs: 3000,
        random: () => rng.float(),
        onFatal: (err) => fatal.push(err),
      });
      const http = await createKvHttpServer("127.0.0.1", 0, {
        service: node,
        sm,
        id,
        peerHttp: (p) => addresses.get(p) ?? null,
        members: roster.link(id),
      });
      addresses.set(id, new URL(http.url).host);
      members.set(id, { node, storage, disk, http, fatal });
    }
  });
  after(async () => {
    for (const m of members.values()) {
      m.disk.free();
      await m.http.close();
      await m.node.stop();
      await m.storage.close();
    }
  });

  /** PUT through node `id` until it answers 200 (elections may be under way). */
  async function put(id: NodeId, key: string, value: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await request(get(id).http.url, "PUT", `/v1/kv/${key}`, { body: value });
      if (r.status === 200) return;
      if (Date.now() > deadline) assert.fail(`PUT ${key} at node ${id}: ${r.status} ${r.body}`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  it("alarm, 503 for writes, reads served, leadership moves, space returns, writes succeed", async () => {
    await put(1, "a", "1");
    let full: NodeId = 0;
    await waitFor(() => {
      full = IDS.find((id) => get(id).node.status().role === "leader") ?? 0;
      return full !== 0;
    }, "a leader");
    const m = get(full);
    const others = IDS.filter((id) => id !== full);
    m.disk.fill();

    // The write that finds the disk full: its entry may still commit on the others (200) or
    // its outcome is unknown to this node (504); it is never reported as failed for sure.
    const first = await request(m.http.url, "PUT", "/v1/kv/b", { body: "2" });
    assert.ok(first.status === 200 || first.status === 504, `${first.status} ${first.body}`);
    assert.deepEqual((await status(full)).alarms, ["NOSPACE"]);

    const refused = await request(m.http.url, "PUT", "/v1/kv/c", { body: "3" });
    assert.equal(refused.status, 503);
    assert.match(JSON.parse(refused.body).error, /disk is full/);

    let next: NodeId | null = null;
    await waitFor(() => {
      const leaders = others.filter((id) => get(id).node.status().role === "leader");
      next = leaders.length === 1 ? (leaders[0] as NodeId) : null;
      return next !== null && get(full).node.status().leader === next;
    }, "a new leader known to the full node");
    await put(next as unknown as NodeId, "d", "4");

    // Reads at the full node: relayed to the leader, linearizable.
    const a = await request(m.http.url, "GET", "/v1/kv/a");
    assert.equal(a.status, 200);
    assert.equal(a.body, "1");
    const d = await request(m.http.url, "GET", "/v1/kv/d");
    assert.equal(d.status, 200, d.body);
    assert.equal(d.body, "4");
    assert.equal((await request(m.http.url, "PUT", "/v1/kv/e", { body: "5" })).status, 503);
    assert.equal(m.fatal.length, 0);

    m.disk.free();
    await waitFor(() => m.node.status().alarms?.length === 0, "the alarm clears", 5000);
    await put(full, "e", "5");
    const e = await request(m.http.url, "GET", "/v1/kv/e");
    assert.equal(e.body, "5");
    assert.deepEqual((await status(full)).alarms, []);
    assert.equal(m.fatal.length, 0);
  });
});
