// Three RaftNodes with the real Raft core, MemoryStorage and an in-process network, on real
// (short) timers: election, replication, group commit, failover, catch-up through
// InstallSnapshot, restart from storage, linearizable read barriers.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import {
  CoreFailureError,
  LeadershipLostError,
  NotLeaderError,
  ProposalTimeoutError,
} from "../../src/node/errors.js";
import { RaftNode, type RaftNodeOptions } from "../../src/node/raft-node.js";
import { RawNode } from "../../src/raft/raw-node.js";
import type { NodeId } from "../../src/raft/types.js";
import { Rng } from "../../src/sim/rng.js";
import { MemoryStorage } from "../../src/storage/memory-storage.js";
import { ListMachine, utf8, waitFor } from "./fakes.js";
import { LocalNetwork } from "./local-network.js";

const IDS: NodeId[] = [1, 2, 3];
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
console.log(`node cluster tests: SEED=${SEED}`);

class CountingStorage extends MemoryStorage {
  syncs = 0;
  override sync(): void {
    this.syncs++;
    super.sync();
  }
}

class CountingMachine extends ListMachine {
  restores = 0;
  override restore(data: Uint8Array): void {
    this.restores++;
    super.restore(data);
  }
}

interface Member {
  node: RaftNode | null;
  storage: CountingStorage;
  sm: CountingMachine;
}

class Cluster {
  readonly net = new LocalNetwork();
  readonly members = new Map<NodeId, Member>();
  private readonly rng = new Rng(SEED);

  constructor(private readonly snapshotEntries = 10_000) {
    for (const id of IDS) {
      this.members.set(id, {
        node: null,
        storage: new CountingStorage(),
        sm: new CountingMachine(),
      });
    }
  }

  async start(id: NodeId, extra: Partial<RaftNodeOptions> = {}): Promise<void> {
    const m = this.get(id);
    m.sm = new CountingMachine();
    m.node = await RaftNode.start({
      id,
      peers: IDS,
      storage: m.storage,
      transport: this.net.transport(id),
      stateMachine: m.sm,
      createRawNode: (c) => new RawNode(c),
      electionTimeoutMs: 150,
      heartbeatMs: 30,
      snapshotEntries: this.snapshotEntries,
      requestTimeoutMs: 3000,
      random: () => this.rng.float(),
      ...extra,
    });
  }

  async stop(id: NodeId): Promise<void> {
    const m = this.get(id);
    await m.node?.stop();
    m.storage.close();
    m.node = null;
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: NodeId): RaftNode {
    const n = this.get(id).node;
    if (!n) throw new Error(`node ${id} is down`);
    return n;
  }

  /** Waits until a running node leads and every running, connected node agrees. */
  async leader(except: NodeId[] = []): Promise<NodeId> {
    let found: NodeId = 0;
    await waitFor(
      () => {
        const up = IDS.filter((id) => this.get(id).node !== null && !except.includes(id));
        const leaders = up.filter((id) => this.node(id).status().role === "leader");
        if (leaders.length !== 1) return false;
        found = leaders[0] as NodeId;
        return up.every((id) => this.node(id).status().leader === found);
      },
      "a leader",
      10_000,
    );
    return found;
  }

  async stopAll(): Promise<void> {
    for (const id of IDS) await this.stop(id);
  }
}

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

async function startCluster(snapshotEntries?: number): Promise<Cluster> {
  cluster = new Cluster(snapshotEntries);
  for (const id of IDS) await cluster.start(id);
  return cluster;
}

/** Proposes on whichever node leads, retrying NotLeader/LeadershipLost until it is applied. */
async function write(c: Cluster, value: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const id = await c.leader();
    try {
      await c.node(id).propose(utf8(value));
      return;
    } catch (err) {
      if (!(err instanceof NotLeaderError || err instanceof LeadershipLostError)) throw err;
    }
  }
  throw new Error(`could not write ${value}`);
}

describe("RaftNode cluster (real core, memory storage, in-process network)", () => {
  it("replicates proposals in order to every state machine, with group commit", async () => {
    const c = await startCluster();
    const leader = await c.leader();
    const before = c.get(leader).storage.syncs;
    const values = Array.from({ length: 200 }, (_, i) => `v${i}`);
    const results = await Promise.all(values.map((v) => c.node(leader).propose(utf8(v))));
    assert.deepEqual(
      results,
      values.map((_, i) => i + 1),
    );
    const syncs = c.get(leader).storage.syncs - before;
    assert.ok(syncs < 50, `200 proposals took ${syncs} leader fsyncs; expected batching`);
    for (const id of IDS) {
      await waitFor(() => c.get(id).sm.items.length === 200, `node ${id} applies all`);
      assert.deepEqual(c.get(id).sm.items, values);
    }
  });

  it("a follower rejects proposals with NotLeaderError naming the leader, and reads too", async () => {
    const c = await startCluster();
    const leader = await c.leader();
    const follower = IDS.find((id) => id !== leader) as NodeId;
    await assert.rejects(
      c.node(follower).propose(utf8("x")),
      (e: unknown) => e instanceof NotLeaderError && e.leader === leader,
    );
    await assert.rejects(c.node(follower).readBarrier(), NotLeaderError);
  });

  it("fails over when the leader is cut off; the old leader's pending write is not acknowledged", async () => {
    const c = await startCluster();
    await write(c, "before");
    const old = await c.leader();
    c.net.isolate(old);
    // Settled into a value at once: its rejection may come before we look at it.
    const stranded = c
      .node(old)
      .propose(utf8("stranded"), 2000)
      .then(
        () => null,
        (e: unknown) => e,
      );
    const next = await c.leader([old]);
    assert.notEqual(next, old);
    await c.node(next).propose(utf8("after"));
    const outcome = await stranded;
    assert.ok(
      outcome instanceof LeadershipLostError || outcome instanceof ProposalTimeoutError,
      `stranded write: ${String(outcome)}`,
    );
    c.net.heal();
    await c.leader();
    for (const id of IDS) {
      await waitFor(() => c.get(id).sm.items.includes("after"), `node ${id} catches up`);
      assert.deepEqual(c.get(id).sm.items, ["before", "after"]);
    }
  });

  it("the leader's status reports each follower's match index and lag; followers report none", async () => {
    const c = await startCluster();
    await write(c, "p0");
    const leader = await c.leader();
    const [lagging, other] = IDS.filter((id) => id !== leader) as [NodeId, NodeId];
    c.net.isolate(lagging);
    for (let i = 1; i <= 5; i++) await write(c, `p${i}`);
    const s = c.node(leader).status();
    const last = s.commitIndex;
    const progress = s.progress ?? [];
    assert.deepEqual(
      progress.map((p) => p.id),
      [lagging, other].sort((a, b) => a - b),
    );
    const cut = progress.find((p) => p.id === lagging);
    const up = progress.find((p) => p.id === other);
    await waitFor(
      () =>
        c
          .node(leader)
          .status()
          .progress?.find((p) => p.id === other)?.lag === 0,
      "the connected follower catches up",
    );
    assert.equal(
      c
        .node(leader)
        .status()
        .progress?.find((p) => p.id === other)?.match,
      last,
    );
    assert.ok(up && up.match <= last);
    assert.ok(cut && cut.lag >= 5 && cut.match <= last - 5, JSON.stringify(cut));
    assert.equal(cut.lag, last - cut.match, "lag is the leader's last index minus match");
    assert.equal(c.node(lagging).status().progress, undefined);
    c.net.heal();
    await waitFor(
      () =>
        c
          .node(leader)
          .status()
          .progress?.every((p) => p.lag === 0) === true,
      "both caught up",
    );
  });

  it("read barrier: after it resolves, the leader's state reflects every acknowledged write", async () => {
    const c = await startCluster();
    await write(c, "w1");
    const leader = await c.leader();
    await c.node(leader).readBarrier();
    assert.deepEqual(c.get(leader).sm.items, ["w1"]);
    await Promise.all(Array.from({ length: 20 }, () => c.node(leader).readBarrier()));
  });

  it("a follower that missed compacted entries catches up through InstallSnapshot", async () => {
    const c = await startCluster(20);
    const leader = await c.leader();
    const lagging = IDS.find((id) => id !== leader) as NodeId;
    c.net.isolate(lagging);
    for (let i = 0; i < 60; i++) await write(c, `s${i}`);
    c.net.heal();
    await waitFor(() => c.get(lagging).sm.items.length === 60, "the lagging follower catches up");
    assert.ok(c.get(lagging).sm.restores >= 1, "caught up through a snapshot");
    assert.deepEqual(c.get(lagging).sm.items, c.get(leader).sm.items);
  });

  it("restarts from storage (snapshot + log) with the same state", async () => {
    const c = await startCluster(25);
    for (let i = 0; i < 40; i++) await write(c, `r${i}`);
    await waitFor(() => IDS.every((id) => c.get(id).sm.items.length === 40), "all applied");
    const expected = [...c.get(1).sm.items];
    await c.stopAll();
    for (const id of IDS) await c.start(id);
    for (const id of IDS) {
      await waitFor(() => c.get(id).sm.items.length === 40, `node ${id} re-applies after restart`);
      assert.deepEqual(c.get(id).sm.items, expected);
      assert.equal(c.get(id).sm.restores, 1, "restored from its own snapshot");
    }
    await write(c, "after-restart");
  });

  it("a follower whose log lost acknowledged entries stops, naming its data directory; the rest carry on", async () => {
    const c = await startCluster();
    await write(c, "a");
    const leader = await c.leader();
    const victim = IDS.find((id) => id !== leader) as NodeId;
    await waitFor(() => c.get(victim).sm.items.length === 1, "the victim holds a");
    await c.stop(victim);
    const older = c.get(victim).storage.load();
    await c.start(victim);
    for (const v of ["b", "c", "d"]) await write(c, v);
    await waitFor(() => c.get(victim).sm.items.length === 4, "the victim acknowledged b, c, d");
    await c.stop(victim);
    // Its data directory is restored from the older copy: b, c and d are gone.
    const restored = new CountingStorage();
    restored.write({ hardState: older.hardState, entries: older.entries });
    restored.sync();
    c.get(victim).storage = restored;
    const fatal: Error[] = [];
    await c.start(victim, { dataDir: "/data/victim", onFatal: (e) => fatal.push(e) });
    await waitFor(() => fatal.length > 0, "the victim stops", 10_000);
    const e = fatal[0];
    assert.ok(e instanceof CoreFailureError, String(e));
    assert.match(e.message, /data directory \/data\/victim/);
    assert.match(e.message, /lost acknowledged entries/);
    assert.equal(fatal.length, 1, "stopped once, for good");
    await c.stop(victim);
    await write(c, "e");
    const other = IDS.find((id) => id !== leader && id !== victim) as NodeId;
    await waitFor(() => c.get(other).sm.items.includes("e"), "the majority carries on");
  });
});
