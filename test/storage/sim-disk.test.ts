// The power-loss model of SimDisk (src/storage/fs/sim-disk.ts header), one rule per test.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errorCode } from "../../src/storage/fs/file-system.js";
import { type CrashChoices, type DiskOp, SimDisk } from "../../src/storage/fs/sim-disk.js";
import { VirtualClock } from "./virtual-clock.js";

/** Crash choices that keep `changes` file changes, `entries` directory changes, `torn` bytes. */
function keep(changes: number, entries: number, torn = 0): CrashChoices {
  return {
    keptChanges: (_p, n) => Math.min(n, changes),
    tornBytes: () => torn,
    keptEntries: (_p, n) => Math.min(n, entries),
  };
}
const ALL = keep(Infinity, Infinity);
const NONE = keep(0, 0);

async function fileAfter(disk: SimDisk, path: string): Promise<string | null> {
  try {
    return (await disk.fs.readFile(path)).toString("latin1");
  } catch (err) {
    if (errorCode(err) === "ENOENT") return null;
    throw err;
  }
}

/** A disk holding a durable, empty directory /d. */
async function diskWithDir(opts: Partial<ConstructorParameters<typeof SimDisk>[0]> = {}) {
  const disk = new SimDisk({ random: () => 0.5, ...opts });
  await disk.fs.mkdir("/d");
  await disk.fs.syncDir("/");
  return disk;
}

/** /d/f created, its name durable, holding `synced` durably. */
async function syncedFile(disk: SimDisk, synced: string) {
  const fh = await disk.fs.open("/d/f", "w");
  await fh.write(Buffer.from(synced), 0);
  await fh.datasync();
  await disk.fs.syncDir("/d");
  return fh;
}

describe("SimDisk power loss", () => {
  it("keeps synced data and loses unsynced writes", async () => {
    const disk = await diskWithDir();
    const fh = await syncedFile(disk, "durable");
    await fh.write(Buffer.from("++"), 7);
    disk.crash(NONE);
    assert.equal(await fileAfter(disk, "/d/f"), "durable");
  });

  it("keeps a prefix of the unsynced writes of a file, in order", async () => {
    const disk = await diskWithDir();
    const fh = await syncedFile(disk, "");
    fh.writeSync(Buffer.from("aa"), 0);
    fh.writeSync(Buffer.from("bb"), 2);
    fh.writeSync(Buffer.from("cc"), 4);
    disk.crash(keep(2, Infinity));
    assert.equal(await fileAfter(disk, "/d/f"), "aabb");
  });

  it("tears the write after the prefix at any byte, leaving the old content after the tear", async () => {
    for (let torn = 0; torn < 6; torn++) {
      const disk = await diskWithDir();
      const fh = await syncedFile(disk, "......");
      await fh.write(Buffer.from("ABCDEF"), 0);
      disk.crash(keep(0, Infinity, torn));
      assert.equal(
        await fileAfter(disk, "/d/f"),
        `${"ABCDEF".slice(0, torn)}${".".repeat(6 - torn)}`,
      );
    }
  });

  it("a torn write that extended the file leaves it as long as the bytes that arrived", async () => {
    const disk = await diskWithDir();
    const fh = await syncedFile(disk, "ab");
    await fh.write(Buffer.from("cdef"), 2);
    disk.crash(keep(0, Infinity, 3));
    assert.equal(await fileAfter(disk, "/d/f"), "abcde");
  });

  it("a new file's name is durable only after its directory is synced", async () => {
    for (const [entries, want] of [
      [0, null],
      [1, "x"],
    ] as const) {
      const disk = await diskWithDir();
      const fh = await disk.fs.open("/d/new", "wx");
      await fh.write(Buffer.from("x"), 0);
      await fh.datasync();
      disk.crash(keep(Infinity, entries));
      assert.equal(await fileAfter(disk, "/d/new"), want);
    }
  });

  it("a file whose name survives but whose data was never synced is empty", async () => {
    const disk = await diskWithDir();
    const fh = await disk.fs.open("/d/new", "wx");
    await fh.write(Buffer.from("lost"), 0);
    await disk.fs.syncDir("/d");
    disk.crash(keep(0, 0));
    assert.equal(await fileAfter(disk, "/d/new"), "");
  });

  it("a rename is atomic: after a crash the file has the old name or the new one", async () => {
    for (const entries of [0, 1]) {
      const disk = await diskWithDir();
      (await syncedFile(disk, "v1")).close();
      const tmp = await disk.fs.open("/d/f.tmp", "w");
      await tmp.write(Buffer.from("v2"), 0);
      await tmp.datasync();
      await disk.fs.syncDir("/d");
      await disk.fs.rename("/d/f.tmp", "/d/f");
      disk.crash(keep(Infinity, entries));
      const names = await disk.fs.readdir("/d");
      assert.deepEqual(names, entries === 0 ? ["f", "f.tmp"] : ["f"]);
      assert.equal(await fileAfter(disk, "/d/f"), entries === 0 ? "v1" : "v2");
    }
  });

  it("an unsynced unlink can be undone by a crash", async () => {
    const disk = await diskWithDir();
    (await syncedFile(disk, "back")).close();
    await disk.fs.unlink("/d/f");
    disk.crash(NONE);
    assert.equal(await fileAfter(disk, "/d/f"), "back");
  });

  it("a directory made by mkdir vanishes unless its parent is synced", async () => {
    const disk = new SimDisk({ random: () => 0.5 });
    await disk.fs.mkdir("/a/b");
    await disk.fs.syncDir("/a");
    disk.crash(NONE);
    await assert.rejects(disk.fs.readdir("/a"), { code: "ENOENT" });
  });

  it("after a failed datasync the unsynced data never reaches the disk, though reads see it", async () => {
    const disk = await diskWithDir();
    const fh = await syncedFile(disk, "old");
    await fh.write(Buffer.from("NEW"), 0);
    disk.faults = (op) => (op.kind === "datasync" ? { error: "EIO" } : undefined);
    await assert.rejects(fh.datasync(), (err) => errorCode(err) === "EIO");
    disk.faults = undefined;
    assert.equal(await fileAfter(disk, "/d/f"), "NEW");
    await fh.datasync(); // succeeds, and does not bring the dropped pages back
    disk.crash(ALL);
    assert.equal(await fileAfter(disk, "/d/f"), "old");
  });

  it("crash choices come from the seeded random source: the same seed, the same image", async () => {
    const image = async (seed: number) => {
      let x = seed;
      const random = () => {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        return x / 2 ** 31;
      };
      const disk = await diskWithDir({ random });
      const fh = await syncedFile(disk, "");
      for (let i = 0; i < 20; i++) fh.writeSync(Buffer.from(`record-${i};`), i * 10);
      return disk.crash().files();
    };
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const a = JSON.stringify(await image(seed));
      assert.equal(JSON.stringify(await image(seed)), a, `seed ${seed}`);
      outcomes.add(a);
    }
    assert.ok(outcomes.size > 5, `crashes should differ across seeds (${outcomes.size} outcomes)`);
  });
});

describe("SimDisk boots", () => {
  it("a crash ends the boot: nothing of the old boot completes or reaches the disk again", async () => {
    const clock = new VirtualClock();
    const disk = new SimDisk({ random: () => 0.5, complete: clock.complete });
    const old = disk.fs;
    await clock.run(old.mkdir("/d"));
    const fh = await clock.run(old.open("/d/f", "w"));
    let settled = false;
    fh.datasync().then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    disk.crash(ALL);
    let late = false;
    old.readdir("/").then(
      () => {
        late = true;
      },
      () => {
        late = true;
      },
    );
    fh.writeSync(Buffer.from("x"), 0);
    while (await clock.step());
    assert.equal(settled, false, "an fsync in flight at power loss never returns");
    assert.equal(late, false, "nor does anything the dead process starts");
    assert.equal((await clock.run(disk.fs.readFile("/d/f"))).length, 0, "its write went nowhere");
    assert.notEqual(disk.fs.processId, old.processId);
    assert.equal(disk.fs.isProcessRunning(old.processId), false);
  });

  it("an image starts another disk with the same files", async () => {
    const disk = await diskWithDir();
    (await syncedFile(disk, "kept")).close();
    const image = disk.crash(ALL);
    const twin = new SimDisk({ random: () => 0.5, image });
    assert.equal((await twin.fs.readFile("/d/f")).toString(), "kept");
    await twin.fs.writeFile("/d/f", Buffer.from("changed"));
    assert.equal((await disk.fs.readFile("/d/f")).toString(), "kept", "the disks share nothing");
  });
});

describe("SimDisk faults", () => {
  it("the hook sees every operation before it runs and can fail it", async () => {
    const seen: DiskOp[] = [];
    const disk = await diskWithDir();
    disk.faults = (op) => {
      seen.push(op);
      return op.kind === "rename" ? { error: "EIO" } : undefined;
    };
    await disk.fs.writeFile("/d/a", Buffer.from("12345"));
    await assert.rejects(disk.fs.rename("/d/a", "/d/b"), { code: "EIO", path: "/d/b" });
    assert.deepEqual(await disk.fs.readdir("/d"), ["a"], "a failed rename changes nothing");
    assert.deepEqual(
      seen.map((o) => [o.kind, o.path, o.bytes]),
      [
        ["writeFile", "/d/a", 5],
        ["rename", "/d/b", undefined],
        ["readdir", "/d", undefined],
      ],
    );
  });

  it("a stalled operation completes only after its delay; a crash before loses it", async () => {
    const clock = new VirtualClock();
    const disk = new SimDisk({
      random: () => 0.5,
      complete: clock.complete,
      faults: (op) => (op.kind === "datasync" ? { delayMs: 500 } : undefined),
    });
    await clock.run(disk.fs.mkdir("/d"));
    await clock.run(disk.fs.syncDir("/"));
    const fh = await clock.run(disk.fs.open("/d/f", "w"));
    await clock.run(disk.fs.syncDir("/d"));
    fh.writeSync(Buffer.from("data"), 0);
    let done = false;
    void fh.datasync().then(() => {
      done = true;
    });
    const start = clock.now;
    while (!done && (await clock.step()));
    assert.equal(clock.now - start, 500);
    fh.writeSync(Buffer.from("more"), 4);
    void fh.datasync(); // still stalled when the power goes
    disk.crash(keep(0, 0));
    const after = await clock.run(disk.fs.readFile("/d/f"));
    assert.equal(after.toString(), "data", "durable once it completed");
  });

  it("a full disk writes what fits and fails with ENOSPC; removing a file gives the space back", async () => {
    const disk = await diskWithDir({ capacity: 10 });
    await disk.fs.writeFile("/d/a", Buffer.from("123456"));
    const fh = await disk.fs.open("/d/b", "w");
    await assert.rejects(fh.write(Buffer.from("abcdef"), 0), { code: "ENOSPC", path: "/d/b" });
    assert.equal(await fh.size(), 4, "the part that fit was written");
    assert.equal(disk.used, 10);
    fh.writeSync(Buffer.from("ABCD"), 0); // overwriting allocated bytes needs no space
    assert.throws(() => fh.writeSync(Buffer.from("x"), 4), { code: "ENOSPC" });
    await disk.fs.unlink("/d/a");
    assert.equal(disk.used, 4);
    await fh.write(Buffer.from("efgh"), 4);
    await fh.truncate(2);
    assert.equal(disk.used, 2);
    disk.capacity = 3;
    await assert.rejects(fh.truncate(5), { code: "ENOSPC" });
    assert.equal(await fh.size(), 3);
  });

  it("space held by an unlinked file returns when its last handle closes", async () => {
    const disk = await diskWithDir({ capacity: 8 });
    await disk.fs.writeFile("/d/a", Buffer.from("12345678"));
    const fh = await disk.fs.open("/d/a", "r");
    await disk.fs.unlink("/d/a");
    assert.equal(disk.used, 8);
    await fh.close();
    assert.equal(disk.used, 0);
  });
});
