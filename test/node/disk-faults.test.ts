// Disk faults on real RaftNodes (docs/architecture.md, "Disk faults: full and slow disks"):
// three nodes with the real core, FileStorage on a simulated disk each (SimDisk: a full disk is
// its capacity, a stall is an operation held back, EIO is its fault hook) and an in-process
// network, on real (short) timers. No mounts: the faults come from the file layer.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { NOSPACE, NoSpaceAlarmError } from "../../src/node/disk-health.js";
import {
  LeadershipLostError,
  NotLeaderError,
  ProposalTimeoutError,
  StoppedError,
} from "../../src/node/errors.js";
import { RaftNode } from "../../src/node/raft-node.js";
import { RawNode } from "../../src/raft/raw-node.js";
import type { NodeId } from "../../src/raft/types.js";
import { Rng } from "../../src/sim/rng.js";
import { StorageFailedError } from "../../src/storage/errors.js";
import { FileStorage } from "../../src/storage/file-storage.js";
import { ListMachine, RecordingMetrics, utf8, waitFor } from "./fakes.js";
import { FaultDisk as Disk } from "./fault-disk.js";
import { LocalNetwork } from "./local-network.js";

const IDS: NodeId[] = [1, 2, 3];
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
console.log(`disk fault tests: SEED=${SEED}`);
const ELECTION_MS = 150;

class AlarmMetrics extends RecordingMetrics {
  alarms: [string, boolean][] = [];
  setAlarm(alarm: string, active: boolean): void {
    this.alarms.push([alarm, active]);
  }
}

interface Member {
  node: RaftNode;
  storage: FileStorage;
  disk: Disk;
  sm: ListMachine;
  metrics: AlarmMetrics;
  fatal: Error[];
}

class Cluster {
  readonly net = new LocalNetwork();
  readonly members = new Map<NodeId, Member>();
  private readonly rng = new Rng(SEED);

  async start(snapshotEntries?: number): Promise<void> {
    for (const id of IDS) {
      const disk = new Disk(this.rng.fork(`disk ${id}`));
      // No preallocation: every batch grows the segment, so a full disk shows at the next one.
      const storage = await FileStorage.open(`/n${id}`, { fs: disk.sim.fs, preallocate: false });
      const sm = new ListMachine();
      const metrics = new AlarmMetrics();
      const fatal: Error[] = [];
      const node = await RaftNode.start({
        id,
        peers: IDS,
        storage,
        transport: this.net.transport(id),
        stateMachine: sm,
        createRawNode: (c) => new RawNode(c),
        electionTimeoutMs: ELECTION_MS,
        heartbeatMs: 30,
        requestTimeoutMs: 3000,
        random: () => this.rng.float(),
        metrics,
        dataDir: `/n${id}`,
        onFatal: (err) => fatal.push(err),
        ...(snapshotEntries ? { snapshotEntries } : {}),
      });
      this.members.set(id, { node, storage, disk, sm, metrics, fatal });
    }
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  /** Waits until one of `among` leads and each of them agrees. */
  async leader(among: NodeId[] = IDS, timeoutMs = 10_000): Promise<NodeId> {
    let found: NodeId = 0;
    await waitFor(
      () => {
        const leaders = among.filter((id) => this.get(id).node.status().role === "leader");
        if (leaders.length !== 1) return false;
        found = leaders[0] as NodeId;
        return among.every((id) => this.get(id).node.status().leader === found);
      },
      `a leader among ${among}`,
      timeoutMs,
    );
    return found;
  }

  /** Proposes through whichever of `among` leads, retrying until it is applied. */
  async write(value: string, among: NodeId[] = IDS): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const id = await this.leader(among);
      try {
        await this.get(id).node.propose(utf8(value));
        return;
      } catch (err) {
        if (!(err instanceof NotLeaderError || err instanceof LeadershipLostError)) throw err;
      }
    }
    throw new Error(`could not write ${value}`);
  }

  async stopAll(): Promise<void> {
    for (const m of this.members.values()) {
      m.disk.free();
      m.disk.release();
      await m.node.stop();
      await m.storage.close();
    }
  }
}

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

async function startCluster(snapshotEntries?: number): Promise<Cluster> {
  cluster = new Cluster();
  await cluster.start(snapshotEntries);
  return cluster;
}

/** Samples `cond` on every turn of the timer loop until stop() and reports if it ever held. */
function watch(cond: () => boolean): { stop: () => boolean } {
  let seen = false;
  const t = setInterval(() => {
    seen ||= cond();
  }, 1);
  // A test that fails before stop() must not keep the process alive.
  t.unref();
  return {
    stop: () => {
      clearInterval(t);
      return seen || cond();
    },
  };
}

describe("disk faults on real nodes (FileStorage on a simulated disk)", () => {
  it("a full disk on the leader: alarm, writes refused, leadership moves, reads served, space returns, alarm clears", async () => {
    const c = await startCluster();
    await c.write("a");
    const full = await c.leader();
    const others = IDS.filter((id) => id !== full);
    const m = c.get(full);
    m.disk.fill();

    // The next batch of its log finds no space: nothing of it is written, the alarm goes up.
    const pending = m.node.propose(utf8("b")).catch((err: unknown) => err);
    await waitFor(() => m.node.status().alarms?.includes(NOSPACE) === true, "NOSPACE alarm");
    assert.deepEqual(m.metrics.alarms, [[NOSPACE, true]]);
    const refused = await m.node.propose(utf8("c")).catch((err: unknown) => err);
    assert.ok(refused instanceof NoSpaceAlarmError, `a write is refused: ${String(refused)}`);
    assert.match(refused.message, /disk is full/);

    // Leadership moves to a member with space, which takes writes; the full node leads no more.
    await waitFor(() => m.node.status().role !== "leader", "the full leader steps down", 3000);
    const neverLeads = watch(() => m.node.status().role === "leader");
    const next = await c.leader(others, 10 * ELECTION_MS);
    await c.write("d", others);
    // The write proposed when the disk filled was either committed by the others or is unknown.
    const first = await pending;
    assert.ok(
      first === 1 || first === 2 || first instanceof LeadershipLostError,
      `the first write: ${String(first)}`,
    );

    // Reads: the full node is no leader, so it relays read barriers to the one it knows.
    const read = await m.node.readBarrier().catch((err: unknown) => err);
    assert.ok(read instanceof NotLeaderError, `the full node relays reads: ${String(read)}`);
    await waitFor(() => m.node.status().leader === next, "the full node learns the new leader");
    await c.get(next).node.readBarrier();
    assert.equal(m.fatal.length, 0, "a full disk is not fatal");
    assert.deepEqual(m.node.status().alarms, [NOSPACE], "still full");
    assert.equal(neverLeads.stop(), false, "the full node never led while full");

    // Space returns: the retry goes through, the alarm clears, the node catches up.
    m.disk.free();
    await waitFor(() => m.node.status().alarms?.length === 0, "alarm cleared", 5000);
    assert.deepEqual(m.metrics.alarms, [
      [NOSPACE, true],
      [NOSPACE, false],
    ]);
    await c.write("e");
    const want = c.get(next).sm.items;
    await waitFor(
      () => JSON.stringify(m.sm.items) === JSON.stringify(want),
      "the node that was full applies everything",
    );
    for (const v of ["a", "d", "e"]) assert.ok(m.sm.items.includes(v), `has ${v}`);
    assert.equal(m.fatal.length, 0);
  });

  it("a full disk on a follower: its writes are refused, the cluster keeps writing, it catches up", async () => {
    const c = await startCluster();
    await c.write("a");
    const leader = await c.leader();
    const f = IDS.find((id) => id !== leader) as NodeId;
    const m = c.get(f);
    m.disk.fill();
    await c.write("b");
    await waitFor(() => m.node.status().alarms?.includes(NOSPACE) === true, "NOSPACE alarm");
    const refused = await m.node.propose(utf8("x")).catch((err: unknown) => err);
    assert.ok(refused instanceof NoSpaceAlarmError, String(refused));
    await c.write("c");
    assert.equal(await c.leader(), leader, "a full follower does not disturb the leader");
    m.disk.free();
    await waitFor(() => m.node.status().alarms?.length === 0, "alarm cleared", 5000);
    await waitFor(() => m.sm.items.join() === "a,b,c", `follower applies a,b,c`);
  });

  it("a leader whose fsync stalls past an election timeout steps down; a new leader takes writes; it leads again only after the disk recovers", async () => {
    const c = await startCluster();
    await c.write("a");
    const slow = await c.leader();
    const others = IDS.filter((id) => id !== slow);
    const m = c.get(slow);
    m.disk.stall();
    const started = Date.now();
    const pending = m.node.propose(utf8("b")).catch((err: unknown) => err);
    const leadsWhileStalled = watch(
      () => Date.now() - started > 3 * ELECTION_MS && m.node.status().role === "leader",
    );

    await waitFor(() => m.node.status().role !== "leader", "the stalled leader steps down", 3000);
    // Its lease ends: a proposal made before it stepped down has an unknown outcome (leadership
    // lost, or, on a loaded machine where the step-down comes late, its own timeout).
    const first = await pending;
    assert.ok(
      first instanceof LeadershipLostError || first instanceof ProposalTimeoutError,
      `the stalled leader's write: ${String(first)}`,
    );
    const next = await c.leader(others, 10 * ELECTION_MS);
    await c.write("c", others);
    await c.get(next).node.readBarrier();
    assert.equal(m.fatal.length, 0, "a stall is not fatal");
    // Held for several election timeouts: the stalled node never takes over again.
    await new Promise((r) => setTimeout(r, 4 * ELECTION_MS));
    assert.equal(leadsWhileStalled.stop(), false, "no leadership while the disk is stalled");

    m.disk.release();
    await c.write("d");
    const want = c.get(next).sm.items;
    await waitFor(
      () => JSON.stringify(m.sm.items) === JSON.stringify(want),
      "the stalled node catches up once its disk answers",
    );
    assert.equal(m.fatal.length, 0);
  });

  it("EIO on the leader's fsync stops it (fail-stop) with a message naming the file; the others go on", async () => {
    const c = await startCluster();
    await c.write("a");
    const bad = await c.leader();
    const m = c.get(bad);
    m.disk.sim.faults = (op) => (op.kind === "datasync" ? { error: "EIO" } : undefined);
    const answer = await m.node.propose(utf8("b")).catch((err: unknown) => err);
    assert.ok(answer instanceof StoppedError, `nothing is acknowledged: ${String(answer)}`);
    await waitFor(() => m.fatal.length > 0, "onFatal");
    const [err] = m.fatal;
    assert.ok(err instanceof StorageFailedError, String(err));
    assert.match(err.message, /datasync of \/n\d\/wal\/[^ ]+\.wal failed \(EIO\)/);
    assert.equal(m.fatal.length, 1, "onFatal once");
    assert.equal(m.node.status().alarms?.length, 0, "EIO is no NOSPACE");
    const rejected = await m.node.propose(utf8("c")).catch((e: unknown) => e);
    assert.ok(rejected instanceof StoppedError);
    await c.write(
      "d",
      IDS.filter((id) => id !== bad),
    );
  });

  it("no space for a snapshot file: alarm, leadership handed over, the file is retried and written once space returns", async () => {
    const c = await startCluster(4);
    await c.write("a");
    const full = await c.leader();
    const m = c.get(full);
    // Only the snapshot directory is short of space: the log itself keeps working.
    let noSpace = true;
    m.disk.sim.faults = (op) =>
      noSpace && op.path.includes("/snap/") && (op.kind === "write" || op.kind === "writeSync")
        ? { error: "ENOSPC" }
        : undefined;
    let n = 0;
    while (!m.node.status().alarms?.includes(NOSPACE)) {
      await c.write(`v${n++}`);
      assert.ok(n < 40, "a snapshot was due within 40 writes");
    }
    const others = IDS.filter((id) => id !== full);
    // Its loop is not stuck here, so the hand-off (TimeoutNow) leaves at once.
    await c.leader(others, 10 * ELECTION_MS);
    await c.write("after", others);
    assert.equal(m.fatal.length, 0, "a full disk is not fatal");
    assert.ok(m.node.status().alarms?.includes(NOSPACE), "still full");

    noSpace = false;
    await waitFor(() => m.node.status().alarms?.length === 0, "alarm cleared", 5000);
    const files = await m.disk.sim.fs.readdir(`/n${full}/snap`);
    assert.ok(
      files.some((f) => f.endsWith(".snap")),
      `a snapshot file was written: ${files}`,
    );
    await c.write("last");
    await waitFor(() => m.sm.items.at(-1) === "last", "the node applies new writes");
    assert.equal(m.fatal.length, 0);
  });
});
