// RaftNode's loop against a scripted core: what it persists, when it syncs, in which order it
// sends, applies and settles. Fast and deterministic in what it checks (no election timing).

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import {
  CoreFailureError,
  LeadershipLostError,
  NotLeaderError,
  ProposalTimeoutError,
  StoppedError,
} from "../../src/node/errors.js";
import { unwrapSnapshot } from "../../src/node/membership.js";
import { RaftNode, type RaftNodeOptions } from "../../src/node/raft-node.js";
import type { RaftConfig } from "../../src/raft/api.js";
import { LogInconsistencyError } from "../../src/raft/errors.js";
import { type Message, type Snapshot, simpleConf } from "../../src/raft/types.js";
import {
  GatedStorage,
  ListMachine,
  RecordingMetrics,
  RecordingTransport,
  ScriptedCore,
  utf8,
  waitFor,
} from "./fakes.js";

interface Harness {
  node: RaftNode;
  core: ScriptedCore;
  storage: GatedStorage;
  transport: RecordingTransport;
  sm: ListMachine;
  config: RaftConfig | null;
  fatal: Error[];
}

const nodes: RaftNode[] = [];
after(async () => {
  for (const n of nodes) await n.stop();
});

async function start(
  opts: Partial<RaftNodeOptions> & { gated?: boolean; storage?: GatedStorage } = {},
): Promise<Harness> {
  const core = new ScriptedCore(opts.id ?? 1);
  const storage = opts.storage ?? new GatedStorage();
  storage.gated = opts.gated ?? false;
  const transport = new RecordingTransport(1, storage.events);
  const sm = new ListMachine();
  const h: Harness = { core, storage, transport, sm, config: null, fatal: [], node: null as never };
  h.node = await RaftNode.start({
    id: 1,
    peers: [1, 2, 3],
    storage,
    transport,
    stateMachine: sm,
    createRawNode: (config) => {
      h.config = config;
      return core;
    },
    electionTimeoutMs: 10_000,
    heartbeatMs: 1_000,
    onFatal: (err) => h.fatal.push(err),
    ...opts,
  });
  nodes.push(h.node);
  // A message makes the node look at the core again, as any real input would.
  core.changed = () => setImmediate(() => transport.deliver(poke));
  return h;
}

/** Proposes each item (the core must be leader), commits them all and waits until applied. */
async function commitAll(h: Harness, items: string[]): Promise<void> {
  const upTo = h.core.log.length + items.length;
  const ps = items.map((s) => h.node.propose(utf8(s)));
  await waitFor(() => h.core.log.length === upTo, `${items} proposed`);
  h.core.commitTo(upTo);
  await Promise.all(ps);
}

const appMsg: Message = {
  type: "app",
  from: 1,
  to: 2,
  term: 2,
  prevIndex: 0,
  prevTerm: 0,
  entries: [],
  commit: 0,
};
const poke: Message = { type: "heartbeat", from: 2, to: 1, term: 0, commit: 0, ctx: 0 };
const voteResp: Message = { type: "vote-resp", from: 1, to: 3, term: 2, granted: false };

describe("RaftNode loop", () => {
  it("group commit: proposals arriving during an fsync share the next write and fsync", async () => {
    const h = await start({ gated: true });
    h.core.becomeLeader(2);
    await waitFor(() => h.storage.syncsInFlight === 1, "the leader's hard state sync");
    h.storage.releaseSync();
    await waitFor(() => h.storage.syncsInFlight === 0, "sync done");

    const first = h.node.propose(utf8("a"));
    await waitFor(() => h.storage.syncsInFlight === 1, "first proposal's sync");
    const rest = [h.node.propose(utf8("b")), h.node.propose(utf8("c")), h.node.propose(utf8("d"))];
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(h.storage.syncsInFlight, 1, "no second sync while one is in flight");
    h.storage.releaseSync();
    await waitFor(() => h.storage.syncsInFlight === 1, "the batched sync");
    const batch = h.storage.writes.at(-1);
    assert.deepEqual(
      batch?.entries?.map((e) => e.index),
      [2, 3, 4],
      "b, c and d written together",
    );
    h.storage.releaseSync();
    h.core.commitTo(4);
    h.storage.gated = false;
    assert.deepEqual(await Promise.all([first, ...rest]), [1, 2, 3, 4]);
    assert.deepEqual(h.sm.items, ["a", "b", "c", "d"]);
  });

  it("sends leader traffic before the fsync and vote replies only after it (thesis §10.2.1)", async () => {
    const h = await start({ gated: true });
    h.core.becomeLeader(2);
    h.core.send(appMsg);
    h.core.send(voteResp);
    await waitFor(() => h.storage.syncsInFlight === 1, "sync");
    assert.deepEqual(h.storage.events, ["send:app", "write", "sync-start"]);
    h.storage.releaseSync();
    await waitFor(() => h.transport.sent.length === 2, "vote reply sent");
    assert.deepEqual(h.storage.events, [
      "send:app",
      "write",
      "sync-start",
      "sync-done",
      "send:vote-resp",
    ]);
  });

  it("rejects a proposal with LeadershipLostError when another term's entry commits at its index", async () => {
    const h = await start();
    h.core.becomeLeader(2);
    const p = h.node.propose(utf8("mine"));
    await waitFor(() => h.core.log.length === 1, "proposal in the log");
    h.core.overwrite({ index: 1, term: 3, type: "normal", data: utf8("theirs") });
    h.core.commitTo(1);
    await assert.rejects(p, LeadershipLostError);
    assert.deepEqual(h.sm.items, ["theirs"]);
  });

  it("stepping down fails pending proposals with LeadershipLostError; followers answer NotLeaderError", async () => {
    const metrics = new RecordingMetrics();
    const h = await start({ metrics });
    h.core.becomeLeader(2);
    await waitFor(() => metrics.leaders.at(-1) === 1, "the node saw itself lead");
    const p = h.node.propose(utf8("x"));
    await waitFor(() => h.core.log.length === 1, "proposed");
    h.core.becomeFollower(3, 2);
    await assert.rejects(p, LeadershipLostError);
    await waitFor(() => metrics.leaders.at(-1) === 2, "the node saw node 2 lead");
    await assert.rejects(
      h.node.propose(utf8("y")),
      (e: unknown) => e instanceof NotLeaderError && e.leader === 2,
    );
    await assert.rejects(h.node.readBarrier(), NotLeaderError);
  });

  it("times out a proposal that never commits", async () => {
    const h = await start();
    h.core.becomeLeader(2);
    await assert.rejects(h.node.propose(utf8("slow"), 30), ProposalTimeoutError);
  });

  it("batches concurrent read barriers into one ReadIndex round and waits for the apply", async () => {
    const metrics = new RecordingMetrics();
    const h = await start({ metrics });
    h.core.becomeLeader(2);
    await waitFor(() => metrics.leaders.at(-1) === 1, "the node saw itself lead");
    const w = h.node.propose(utf8("w"));
    await waitFor(() => h.core.log.length === 1, "proposed");
    let done = 0;
    const reads = [1, 2, 3].map(() => h.node.readBarrier().then(() => done++));
    await waitFor(() => h.core.readRequests.length === 1, "read round");
    h.core.confirmRead(h.core.readRequests[0] as number, 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(done, 0, "reads wait until the read index is applied");
    h.core.commitTo(1);
    await Promise.all([w, ...reads]);
    assert.equal(h.core.readRequests.length, 1, "one round for three reads");
  });

  it("stops (fail-stop) when the core finds its log lost acknowledged entries, naming the data directory and indexes", async () => {
    const h = await start({ dataDir: "/var/lib/raftwork/n1" });
    h.core.becomeLeader(2);
    const pending = h.node.propose(utf8("before"));
    await waitFor(() => h.core.log.length === 1, "proposed");
    h.core.throwOnStep = new LogInconsistencyError(1, 2, 9, 4);
    h.transport.deliver(appMsg);
    await waitFor(() => h.fatal.length === 1, "onFatal");
    const fatal = h.fatal[0];
    assert.ok(fatal instanceof CoreFailureError);
    assert.equal(fatal.code, "core-failed");
    assert.ok(fatal.cause instanceof LogInconsistencyError);
    assert.match(fatal.message, /data directory \/var\/lib\/raftwork\/n1/);
    assert.match(fatal.message, /index 9 was acknowledged, but the log ends at 4/);
    await assert.rejects(pending, StoppedError);
    // Never continues: no more input reaches the core, nothing is proposed.
    const stepped = h.core.stepped.length;
    h.transport.deliver(appMsg);
    await assert.rejects(h.node.propose(utf8("after")), StoppedError);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.core.stepped.length, stepped);
    assert.equal(h.fatal.length, 1);
  });

  it("stops on a storage failure: onFatal, waiters get StoppedError", async () => {
    const h = await start({ gated: true });
    h.core.becomeLeader(2);
    await waitFor(() => h.storage.syncsInFlight === 1, "sync");
    h.storage.releaseSync();
    await waitFor(() => h.storage.syncsInFlight === 0, "sync done");
    h.storage.failNextSync = new Error("EIO");
    const p = h.node.propose(utf8("x"));
    await waitFor(() => h.storage.syncsInFlight === 1, "sync");
    h.storage.releaseSync();
    await assert.rejects(p, StoppedError);
    assert.equal(h.fatal[0]?.message, "EIO");
    await assert.rejects(h.node.propose(utf8("y")), StoppedError);
  });

  it("snapshots and compacts every snapshotEntries applied entries", async () => {
    const h = await start({ snapshotEntries: 3 });
    h.core.becomeLeader(2);
    await commitAll(h, ["a", "b", "c", "d"]);
    await waitFor(() => h.core.compactions.length === 1, "compaction");
    assert.deepEqual(h.core.compactions, [4]);
    const snap = h.storage.writes.find((w) => w.snapshot)?.snapshot;
    assert.equal(snap?.metadata.index, 4);
    assert.equal(snap?.metadata.term, 2);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(appBytes(snap?.data))), [
      "a",
      "b",
      "c",
      "d",
    ]);
  });

  it("passes a peer the transport lost to the core (forgetLeader)", async () => {
    const h = await start();
    h.transport.lostHandler?.(2);
    assert.deepEqual(h.core.unreachable, [2]);
  });

  it("members take turns: member k of n snapshots at offset k/n of the interval", async () => {
    // Member 3 of [1, 2, 3] with snapshotEntries 6: offset 4, so at the first applied index
    // >= 4, then at the first >= 10, ... never more than 6 entries after the previous one.
    const h = await start({ id: 3, snapshotEntries: 6 });
    h.core.becomeLeader(2);
    const ps = Array.from({ length: 11 }, (_, i) => h.node.propose(utf8(`e${i + 1}`)));
    await waitFor(() => h.core.log.length === 11, "proposed");
    const steps: [number, number[]][] = [
      [3, []],
      [4, [4]],
      [9, [4]],
      [11, [4, 11]],
    ];
    for (const [commit, want] of steps) {
      h.core.commitTo(commit);
      await Promise.all(ps.slice(0, commit));
      await waitFor(() => h.core.compactions.length === want.length, `compactions at ${commit}`);
      assert.deepEqual(h.core.compactions, want, `after committing ${commit}`);
    }
  });

  it("writes a snapshot's file off the loop and installs it only once the file is durable", async () => {
    // Storage that writes snapshot files ahead (like FileStorage), held until released.
    class PreparingStorage extends GatedStorage {
      prepared: Snapshot[] = [];
      held = true;
      release: () => void = () => {};
      prepareSnapshot(snap: Snapshot): Promise<void> {
        this.prepared.push(snap);
        this.events.push("prepare");
        if (!this.held) return Promise.resolve();
        return new Promise((resolve) => {
          this.release = () => {
            this.held = false; // later snapshots go through at once
            resolve();
          };
        });
      }
    }
    const storage = new PreparingStorage();
    const h = await start({ storage, snapshotEntries: 3 });
    h.core.becomeLeader(2);
    await commitAll(h, ["a", "b", "c", "d"]);
    await waitFor(() => storage.prepared.length === 1, "the snapshot file being prepared");
    assert.equal(storage.prepared[0]?.metadata.index, 4);
    // The loop keeps going while the file is written: later proposals commit and apply.
    await commitAll(h, ["e", "f", "g", "h"]);
    assert.equal(h.storage.writes.filter((w) => w.snapshot).length, 0, "no marker before the file");
    assert.equal(storage.prepared.length, 1, "one snapshot in flight at a time");
    storage.release();
    await waitFor(() => h.storage.writes.some((w) => w.snapshot), "the snapshot installed");
    assert.equal(h.storage.writes.find((w) => w.snapshot)?.snapshot?.metadata.index, 4);
  });

  it("encodes the snapshot off the loop and compacts at the index where it started", async () => {
    // A state machine whose snapshotAsync() is held until released.
    class SlowMachine extends ListMachine {
      started: number[] = [];
      held = true;
      release: () => void = () => {};
      snapshotAsync(): Promise<Uint8Array | null> {
        const data = this.snapshot();
        this.started.push(this.items.length);
        if (!this.held) return Promise.resolve(data);
        return new Promise((resolve) => {
          this.release = () => {
            this.held = false; // later snapshots go through at once
            resolve(data);
          };
        });
      }
    }
    const sm = new SlowMachine();
    const h = await start({ stateMachine: sm, snapshotEntries: 3 });
    h.core.becomeLeader(2);
    await commitAll(h, ["a", "b", "c", "d"]);
    await waitFor(() => sm.started.length === 1, "the snapshot being encoded");
    // Meanwhile the loop applies more, and starts no second snapshot.
    await commitAll(h, ["e", "f", "g", "h"]);
    assert.deepEqual(h.core.compactions, [], "nothing compacted before the encoding is done");
    assert.equal(sm.started.length, 1);
    sm.release();
    await waitFor(() => h.core.compactions.length >= 1, "compaction");
    assert.equal(
      h.core.compactions[0],
      4,
      `at the index the snapshot was started at ${sm.started} ${h.core.compactions}`,
    );
    await waitFor(() => h.storage.writes.some((w) => w.snapshot), "the snapshot persisted");
    const snap = h.storage.writes.find((w) => w.snapshot)?.snapshot;
    assert.deepEqual(JSON.parse(new TextDecoder().decode(appBytes(snap?.data))), [
      "a",
      "b",
      "c",
      "d",
    ]);
  });

  it("restarts from storage: restores the state machine and hands the core the persisted state", async () => {
    const storage = new GatedStorage({
      hardState: { term: 4, vote: 2, commit: 6 },
      snapshot: {
        metadata: { index: 5, term: 3, conf: simpleConf([1, 2, 3]) },
        data: utf8(JSON.stringify(["p", "q"])),
      },
      entries: [{ index: 6, term: 4, type: "normal", data: utf8("r") }],
    });
    const h = await start({ storage });
    assert.deepEqual(h.sm.items, ["p", "q"]);
    assert.equal(h.config?.applied, 5);
    assert.equal(h.config?.restore?.hardState.term, 4);
    assert.equal(h.node.status().appliedIndex, 5);
  });

  it("maps wall-clock timeouts to ticks: T=10s, heartbeat 1s", async () => {
    const h = await start();
    assert.equal(h.config?.heartbeatTick, 2);
    assert.equal(h.config?.electionTick, 20);
  });
});

/** The application's bytes of a stored snapshot (the node wraps them with its address book). */
function appBytes(data: Uint8Array | undefined): Uint8Array {
  const u = unwrapSnapshot(data ?? new Uint8Array(0));
  if (!u.ok) throw new Error(u.error);
  return u.value.app;
}
