// ReadyDriver against a small core that allows pipelined Readys (as src/raft's does) and a
// storage whose syncs the test completes by hand. The checks are the driver's promises: a
// message other than the leader's traffic leaves only once its Ready and every earlier one are
// durable; an entry is applied only once it is durable; Readys advance once each, in order.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  mayLeaveBeforeFsync,
  ReadyDriver,
  type ReadyDriverOptions,
} from "../../src/node/ready-driver.js";
import type { RawNodeApi, Ready } from "../../src/raft/api.js";
import type { Entry, HardState, Message } from "../../src/raft/types.js";
import type { Storage, WriteBatch } from "../../src/storage/storage.js";
import { waitFor } from "./fakes.js";

/**
 * Hands out, per Ready, the entries proposed since the last one, a message of each kind queued,
 * and as committed the entries up to `commit` that advance() has reported durable (the core's
 * rule: committed entries are locally durable).
 */
class PipelineCore {
  log: Entry[] = [];
  commit = 0;
  stable = 0;
  handedOut = 0;
  private unstableFrom = 1;
  private applying = 0;
  private msgs: Message[] = [];
  private hs: HardState = { term: 1, vote: 0, commit: 0 };
  private lastHs: HardState = { term: 0, vote: 0, commit: 0 };
  advanced: number[] = [];
  taken: Ready[] = [];

  propose(n: number): void {
    for (let i = 0; i < n; i++) {
      const index = this.log.length + 1;
      this.log.push({ index, term: 1, type: "normal", data: new Uint8Array([index]) });
    }
  }
  queue(m: Message): void {
    this.msgs.push(m);
  }
  commitTo(index: number): void {
    this.commit = index;
    this.hs = { ...this.hs, commit: index };
  }
  vote(term: number, vote: number): void {
    this.hs = { term, vote, commit: this.commit };
  }
  private committedNow(): Entry[] {
    const hi = Math.min(this.commit, this.stable);
    const lo = this.applying + 1;
    if (hi < lo) return [];
    this.applying = hi;
    return this.log.slice(lo - 1, hi);
  }
  hasReady(): boolean {
    return (
      this.unstableFrom <= this.log.length ||
      this.msgs.length > 0 ||
      Math.min(this.commit, this.stable) > this.applying ||
      JSON.stringify(this.hs) !== JSON.stringify(this.lastHs)
    );
  }
  ready(): Ready {
    const entries = this.log.slice(this.unstableFrom - 1);
    this.unstableFrom = this.log.length + 1;
    const rd: Ready = {
      entries,
      committed: this.committedNow(),
      messages: this.msgs,
      readStates: [],
      mustSync: entries.length > 0,
    };
    this.msgs = [];
    if (JSON.stringify(this.hs) !== JSON.stringify(this.lastHs)) {
      rd.hardState = { ...this.hs };
      if (this.hs.term !== this.lastHs.term || this.hs.vote !== this.lastHs.vote)
        rd.mustSync = true;
      this.lastHs = { ...this.hs };
    }
    this.handedOut++;
    this.taken.push(rd);
    return rd;
  }
  advance(rd: Ready): void {
    this.advanced.push(this.taken.indexOf(rd));
    const last = rd.entries.at(-1);
    if (last) this.stable = last.index;
  }
}

/** Buffers writes; each sync() makes what was written before it durable when the test says. */
class HandSyncedStorage implements Storage {
  written: Entry[] = [];
  durable = 0;
  syncs: { upTo: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  load() {
    return { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: null, entries: [] };
  }
  write(batch: WriteBatch): void {
    for (const e of batch.entries ?? []) this.written[e.index - 1] = e;
  }
  sync(): Promise<void> {
    const upTo = this.written.length;
    return new Promise((resolve, reject) => {
      this.syncs.push({
        upTo,
        resolve: () => {
          this.durable = Math.max(this.durable, upTo);
          resolve();
        },
        reject,
      });
    });
  }
  /** Completes the oldest sync in flight. */
  release(): void {
    const s = this.syncs.shift();
    if (!s) throw new Error("no sync in flight");
    s.resolve();
  }
  close(): void {}
}

const app = (to: number): Message => ({
  type: "app",
  from: 1,
  to,
  term: 1,
  prevIndex: 0,
  prevTerm: 0,
  entries: [],
  commit: 0,
});
const appResp = (to: number): Message => ({
  type: "app-resp",
  from: 1,
  to,
  term: 1,
  success: true,
  matchIndex: 0,
  rejectIndex: 0,
  conflictTerm: 0,
  conflictIndex: 0,
});

interface Setup {
  core: PipelineCore;
  storage: HandSyncedStorage;
  driver: ReadyDriver;
  /** Each message sent, with how many syncs were complete and which Ready (taken) it came in. */
  sent: { m: Message; durable: number; ready: number }[];
  applied: { index: number; durable: number }[];
  fatal: string[];
}

function setup(window: number, extra: Partial<ReadyDriverOptions> = {}): Setup {
  const core = new PipelineCore();
  const storage = new HandSyncedStorage();
  const s: Setup = { core, storage, sent: [], applied: [], fatal: [], driver: null as never };
  const readyOf = (m: Message) => core.taken.findIndex((rd) => rd.messages.includes(m));
  s.driver = new ReadyDriver({
    core: core as unknown as RawNodeApi,
    storage,
    window,
    clock: { now: () => 0, soon: (fn) => fn(), after: (ms, fn) => setTimeout(fn, ms) },
    send: (m) => s.sent.push({ m, durable: storage.durable, ready: readyOf(m) }),
    handler: {
      apply: (entries) => {
        for (const e of entries) s.applied.push({ index: e.index, durable: storage.durable });
      },
      restore: () => {},
      onReadStates: () => {},
      onFatal: (err, where) => s.fatal.push(`${where}: ${(err as Error).message}`),
    },
    ...extra,
  });
  return s;
}

const settle = () => new Promise((r) => setImmediate(r));

/** How far each taken Ready's entries reach (the durability its messages need), cumulatively. */
function needed(core: PipelineCore, ready: number): number {
  let upTo = 0;
  for (const rd of core.taken.slice(0, ready + 1))
    upTo = Math.max(upTo, rd.entries.at(-1)?.index ?? 0);
  return upTo;
}

describe("ReadyDriver", () => {
  it("the rule: only the leader's app, heartbeat and snap may leave before the fsync", () => {
    const types = new Map<Message["type"], boolean>();
    for (const m of [app(2), appResp(2)]) types.set(m.type, mayLeaveBeforeFsync(m));
    const vote: Message = { type: "vote-resp", from: 1, to: 2, term: 1, granted: true };
    assert.equal(mayLeaveBeforeFsync(vote), false);
    assert.deepEqual(
      [...types],
      [
        ["app", true],
        ["app-resp", false],
      ],
    );
  });

  for (const window of [1, 2, 4]) {
    it(`window ${window}: a non-leader message leaves only once its Ready and every earlier one are durable`, async () => {
      const s = setup(window);
      for (let round = 0; round < 6; round++) {
        s.core.propose(2);
        s.core.queue(app(2));
        s.core.queue(appResp(3));
        s.driver.schedule();
        if (round % 2 === 1 && s.storage.syncs.length > 0) s.storage.release();
        await settle();
      }
      for (let i = 0; i < 50 && (s.storage.syncs.length > 0 || s.driver.inFlight > 0); i++) {
        if (s.storage.syncs.length > 0) s.storage.release();
        await settle();
      }
      assert.equal(s.driver.inFlight, 0);
      assert.equal(s.sent.filter((x) => x.m.type === "app-resp").length, 6);
      for (const x of s.sent) {
        if (x.m.type === "app") continue;
        assert.ok(
          x.durable >= needed(s.core, x.ready),
          `${x.m.type} of Ready ${x.ready} sent with ${x.durable} entries durable, needs ${needed(s.core, x.ready)}`,
        );
      }
      // The leader's traffic of a Ready left before its fsync completed.
      const firstApp = s.sent.find((x) => x.m.type === "app");
      assert.equal(firstApp?.durable, 0);
      assert.deepEqual(
        s.core.advanced,
        s.core.taken.map((_, i) => i),
        "each Ready advanced once, in order",
      );
      assert.deepEqual(s.fatal, []);
    });
  }

  it("pipelines: with window 3, three Readys are taken while the first fsync runs", async () => {
    const s = setup(3);
    for (let i = 0; i < 5; i++) {
      s.core.propose(1);
      s.core.queue(app(2));
      s.driver.schedule();
      await settle();
    }
    assert.equal(s.core.handedOut, 3);
    assert.equal(s.storage.syncs.length, 3);
    assert.equal(s.sent.filter((x) => x.m.type === "app").length, 3, "their appends left at once");
    s.storage.release();
    await settle();
    assert.deepEqual(s.core.advanced, [0]);
    assert.equal(s.core.handedOut, 4, "the freed slot takes the next Ready");
  });

  it("window 1 holds one Ready at a time", async () => {
    const s = setup(1);
    s.core.propose(1);
    s.driver.schedule();
    s.core.propose(1);
    s.driver.schedule();
    await settle();
    assert.equal(s.core.handedOut, 1);
    s.storage.release();
    await settle();
    assert.equal(s.core.handedOut, 2);
  });

  it("applies an entry only once it is durable", async () => {
    for (const window of [1, 3]) {
      const s = setup(window);
      for (let round = 0; round < 8; round++) {
        s.core.propose(3);
        s.core.commitTo(s.core.log.length);
        s.driver.schedule();
        if (round % 3 !== 0 && s.storage.syncs.length > 0) s.storage.release();
        await settle();
      }
      for (let i = 0; i < 50 && (s.storage.syncs.length > 0 || s.core.hasReady()); i++) {
        if (s.storage.syncs.length > 0) s.storage.release();
        await settle();
        s.driver.pump();
      }
      assert.equal(s.applied.length, 24, `window ${window}: every entry applied`);
      for (const a of s.applied)
        assert.ok(a.durable >= a.index, `entry ${a.index} applied with ${a.durable} durable`);
      assert.deepEqual(
        s.applied.map((a) => a.index),
        Array.from({ length: 24 }, (_, i) => i + 1),
      );
    }
  });

  it("a failed sync stops it: onFatal once, nothing of that or a later Ready is sent or advanced", async () => {
    const s = setup(2);
    s.core.propose(1);
    s.core.queue(appResp(2));
    s.driver.schedule();
    s.core.propose(1);
    s.core.queue(appResp(3));
    s.driver.schedule();
    await settle();
    assert.equal(s.storage.syncs.length, 2);
    const sync = s.storage.syncs.shift();
    sync?.reject(new Error("EIO: i/o error, fdatasync"));
    await settle();
    s.storage.release();
    await settle();
    assert.deepEqual(s.fatal, ["storage sync: EIO: i/o error, fdatasync"]);
    assert.deepEqual(s.sent, []);
    assert.deepEqual(s.core.advanced, []);
    assert.equal(s.driver.isStopped, true);
  });

  it("a sync failure the shell calls retryable is retried; its Ready waits, nothing is lost", async () => {
    const full = Object.assign(new Error("ENOSPC: no space left on device"), {
      code: "storage-no-space",
    });
    const retries: string[] = [];
    const s = setup(1, {
      retryDelay: (err, op) => {
        retries.push(op);
        return (err as { code?: string }).code === "storage-no-space" ? 5 : null;
      },
    });
    s.core.propose(1);
    s.core.queue(appResp(2));
    s.driver.schedule();
    await settle();
    s.storage.syncs.shift()?.reject(full);
    await settle();
    assert.deepEqual(retries, ["sync"]);
    assert.equal(s.sent.length, 0, "the reply waits for a sync that succeeds");
    await waitFor(() => s.storage.syncs.length === 1, "the sync tried again");
    s.storage.release();
    await settle();
    assert.deepEqual(
      s.sent.map((x) => x.m.type),
      ["app-resp"],
    );
    assert.deepEqual(s.core.advanced, [0]);
    assert.deepEqual(s.fatal, []);
  });

  it("hooks see the boundaries in order; a hook that stops the driver ends the Ready there", async () => {
    const events: string[] = [];
    let s: Setup | null = null;
    s = setup(1, {
      hooks: {
        afterWrite: (_rd, sync) => events.push(`write sync=${sync}`),
        afterSync: () => {
          events.push("synced");
          s?.driver.stop();
        },
        afterReply: () => events.push("replied"),
      },
    });
    s.core.vote(2, 3);
    s.core.queue({ type: "vote-resp", from: 1, to: 3, term: 2, granted: true });
    s.driver.schedule();
    await settle();
    s.storage.release();
    await settle();
    assert.deepEqual(events, ["write sync=true", "synced"]);
    assert.deepEqual(s.sent, [], "the vote never left: the node died after the fsync");
  });
});
