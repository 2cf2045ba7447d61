// DiskHealth alone, with a scripted core and a manual clock: the NOSPACE alarm's life, the
// leader's hand-off and the stall rule, each decided by ticks and retries, not by timing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DiskHealth, NOSPACE, NoSpaceAlarmError } from "../../src/node/disk-health.js";
import type { Status } from "../../src/raft/api.js";
import { type NodeId, type Role, simpleConf } from "../../src/raft/types.js";
import { StorageFailedError, StorageNoSpaceError } from "../../src/storage/errors.js";

class Host {
  role: Role = "leader";
  transfers: NodeId[] = [];
  stepDowns = 0;
  status(): Status {
    const s: Status = {
      id: 1,
      role: this.role,
      term: 2,
      leader: this.role === "leader" ? 1 : 0,
      vote: 1,
      commit: 5,
      applied: 5,
      lastIndex: 7,
      firstIndex: 1,
      snapshotIndex: 0,
      voters: [1, 2, 3, 4],
      conf: simpleConf([1, 2, 3, 4]),
      progress:
        this.role === "leader"
          ? {
              2: { match: 5, next: 6, state: "replicate" },
              3: { match: 6, next: 8, state: "replicate" },
              // The furthest along, but being probed (it just rejected): not the first choice.
              4: { match: 7, next: 8, state: "probe" },
            }
          : undefined,
    };
    return s;
  }
  transferLeader(to: NodeId): void {
    this.transfers.push(to);
  }
  stepDown(): void {
    this.stepDowns++;
    this.role = "follower";
  }
}

/** Timers that fire only when the test says so. */
class Timers {
  due: { ms: number; fn: () => void }[] = [];
  after = (ms: number, fn: () => void): (() => void) => {
    const t = { ms, fn };
    this.due.push(t);
    return () => {
      this.due = this.due.filter((x) => x !== t);
    };
  };
  fire(): number {
    const [t] = this.due;
    if (!t) throw new Error("no timer due");
    t.fn();
    return t.ms;
  }
}

const noSpace = () => new StorageNoSpaceError("/d/wal/0000000000000001-0000000000000001.wal", null);
const turn = () => new Promise((r) => setImmediate(r));

function setup() {
  const host = new Host();
  const timers = new Timers();
  const alarms: [string, boolean][] = [];
  const metrics = {
    setAlarm: (a: string, on: boolean) => void alarms.push([a, on]),
  } as unknown as ConstructorParameters<typeof DiskHealth>[1]["metrics"];
  const disk = new DiskHealth(host, { electionTick: 10, metrics, after: timers.after });
  return { host, timers, alarms, disk };
}

describe("DiskHealth", () => {
  it("raises NOSPACE, refuses writes, hands off to the most caught-up voter, retries with backoff, clears", async () => {
    const { host, timers, alarms, disk } = setup();
    let full = 3;
    let calls = 0;
    const done = disk.persist("sync", () => {
      calls++;
      if (full-- > 0) throw noSpace();
    });
    await turn();
    assert.deepEqual(disk.alarms, [NOSPACE]);
    assert.equal(disk.degraded, true);
    assert.ok(disk.writeRefusal() instanceof NoSpaceAlarmError);
    assert.match(String(disk.writeRefusal()?.message), /\/d\/wal\/.*could not be allocated/);
    assert.deepEqual(host.transfers, [3], "to 3: the furthest along of those being replicated to");
    assert.deepEqual(alarms, [[NOSPACE, true]]);
    const delays = [timers.fire()];
    await turn();
    delays.push(timers.fire());
    await turn();
    delays.push(timers.fire());
    await done;
    assert.equal(calls, 4);
    assert.deepEqual(delays, [10, 20, 40], "exponential backoff");
    assert.deepEqual(disk.alarms, []);
    assert.equal(disk.degraded, false);
    assert.equal(disk.writeRefusal(), null);
    assert.deepEqual(alarms, [
      [NOSPACE, true],
      [NOSPACE, false],
    ]);
    assert.deepEqual(host.transfers, [3], "one hand-off per alarm");
  });

  it("rethrows any other storage error at once (fail-stop is the node's)", async () => {
    const { disk } = setup();
    const failed = new StorageFailedError("/d", "/d/wal/x.wal", "datasync", { code: "EIO" });
    await assert.rejects(
      disk.persist("sync", () => {
        throw failed;
      }),
      (err) => err === failed,
    );
    assert.deepEqual(disk.alarms, []);
  });

  it("a leader waiting an election timeout on its disk steps down, once", async () => {
    const { host, disk } = setup();
    let release = () => {};
    const done = disk.persist("sync", () => new Promise<void>((r) => (release = r)));
    for (let i = 0; i < 9; i++) disk.tick();
    assert.equal(host.stepDowns, 0, "not before an election timeout");
    assert.equal(disk.degraded, false, "a slow fsync is no fault yet");
    disk.tick();
    assert.equal(host.stepDowns, 1);
    assert.equal(disk.degraded, true);
    host.role = "leader"; // even if it somehow led again, one step-down per stall
    for (let i = 0; i < 30; i++) disk.tick();
    assert.equal(host.stepDowns, 1);
    release();
    await done;
    assert.equal(disk.degraded, false, "the disk answered");
    // A later stall counts from its own start.
    const again = disk.persist("sync", () => new Promise<void>((r) => (release = r)));
    for (let i = 0; i < 10; i++) disk.tick();
    assert.equal(host.stepDowns, 2);
    release();
    await again;
  });

  it("a snapshot file written beside the loop may take longer than an election timeout", async () => {
    const { host, disk } = setup();
    let release = () => {};
    const done = disk.persist("snapshot file", () => new Promise<void>((r) => (release = r)), {
      holdsLoop: false,
    });
    for (let i = 0; i < 50; i++) disk.tick();
    assert.equal(host.stepDowns, 0);
    release();
    await done;
  });

  it("a follower waiting on its disk does nothing", async () => {
    const { host, disk } = setup();
    host.role = "follower";
    let release = () => {};
    const done = disk.persist("sync", () => new Promise<void>((r) => (release = r)));
    for (let i = 0; i < 50; i++) disk.tick();
    assert.equal(host.stepDowns, 0);
    release();
    await done;
  });

  it("disarm clears the alarm and retries at once; a disk still full raises it again", async () => {
    const { timers, disk } = setup();
    let full = true;
    const done = disk.persist("sync", () => {
      if (full) throw noSpace();
    });
    await turn();
    assert.deepEqual(disk.disarm(), [NOSPACE]);
    assert.deepEqual(disk.alarms, []);
    await turn();
    assert.deepEqual(disk.alarms, [NOSPACE], "still full: raised again by the retry");
    assert.equal(timers.due.length, 1, "the woken backoff's timer was cancelled");
    full = false;
    disk.disarm();
    await done;
    assert.deepEqual(disk.alarms, []);
  });

  it("stop ends a retry without running the operation again", async () => {
    const { disk } = setup();
    let calls = 0;
    const done = disk.persist("sync", () => {
      calls++;
      throw noSpace();
    });
    await turn();
    disk.stop();
    await done;
    assert.equal(calls, 1);
  });
});
