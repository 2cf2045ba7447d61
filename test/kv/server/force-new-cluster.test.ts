// --force-new-cluster's rewrite (src/kv/server/force-new-cluster.ts) on a real FileStorage:
// the log gains one committed conf entry making the member the only voter, whatever the
// configuration was (a joint one, the member a learner), the core restored from it adopts it,
// and a second run only reports the first. restore.ts's refusals are tested here too.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { encodeBackup } from "../../../src/kv/backup-format.js";
import { raftDir } from "../../../src/kv/server/data-dir.js";
import { forceNewCluster } from "../../../src/kv/server/force-new-cluster.js";
import { restoreBackup } from "../../../src/kv/server/restore.js";
import { KvStateMachine } from "../../../src/kv/state-machine.js";
import {
  decodeConfChangeEntry,
  encodeConfChangeEntry,
} from "../../../src/raft/confchange-codec.js";
import { RawNode } from "../../../src/raft/raw-node.js";
import { type ConfState, type Entry, simpleConf } from "../../../src/raft/types.js";
import { FileStorage } from "../../../src/storage/file-storage.js";
import { silentLogger } from "../../../src/util/logger.js";

const root = mkdtempSync(join(tmpdir(), "raftwork-fnc-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function confEntry(index: number, term: number, conf: ConfState): Entry {
  const data = encodeConfChangeEntry({
    changes: [],
    transition: "auto",
    context: new Uint8Array(),
    conf,
  });
  return { index, term, type: "conf", data };
}

async function withLog(entries: Entry[], commit: number) {
  const dir = join(root, `d${n++}`);
  const storage = await FileStorage.open(raftDir(dir));
  storage.write({ entries, hardState: { term: 4, vote: 2, commit } });
  await storage.sync();
  await storage.close();
  // As `kv serve` does: the rewrite runs on storage just opened.
  return { dir, storage: await FileStorage.open(raftDir(dir)) };
}

const normal = (index: number, term: number): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array([index]),
});

describe("--force-new-cluster", () => {
  it("appends a committed conf entry making the member the only voter, once", async () => {
    const joint: ConfState = {
      voters: [1, 4],
      learners: [5],
      votersOutgoing: [1, 2, 3],
      learnersNext: [],
      autoLeave: true,
    };
    const { dir, storage } = await withLog([normal(1, 1), confEntry(2, 2, joint), normal(3, 3)], 1);
    const r = await forceNewCluster(storage, dir, 1, [1, 2, 3], silentLogger);
    assert.deepEqual(r, {
      ok: true,
      value: { kind: "rewritten", index: 4, discarded: [2, 3, 4, 5] },
    });
    const p = await storage.load();
    assert.equal(p.hardState.commit, 4, "every entry is committed, the new one included");
    assert.equal(p.hardState.term, 4);
    assert.equal(p.hardState.vote, 2, "the vote of the current term is kept");
    const last = p.entries.at(-1) as Entry;
    assert.deepEqual([last.index, last.term, last.type], [4, 4, "conf"]);
    const cc = decodeConfChangeEntry(last.data);
    assert.ok(cc.ok);
    assert.deepEqual(cc.value.conf, simpleConf([1]));

    // The core restored from this log puts the one-voter configuration in effect.
    const raw = new RawNode({
      id: 1,
      peers: [1, 2, 3],
      electionTick: 10,
      heartbeatTick: 1,
      random: () => 0.5,
      restore: p,
      applied: 0,
    });
    const rd = raw.ready();
    assert.equal(rd.committed.length, 4);
    raw.advance(rd);
    assert.deepEqual(raw.status().conf, simpleConf([1]));

    const again = await forceNewCluster(storage, dir, 1, [1, 2, 3], silentLogger);
    assert.deepEqual(again, { ok: true, value: { kind: "already-done", index: 4 } });
    assert.equal((await storage.load()).entries.length, 4, "the second run appended nothing");
    await storage.close();
  });

  it("makes a learner a voter, works from a snapshot alone, refuses an empty log", async () => {
    const { dir, storage } = await withLog(
      [confEntry(1, 1, { ...simpleConf([2, 3]), learners: [1] })],
      1,
    );
    const r = await forceNewCluster(storage, dir, 1, [2, 3], silentLogger);
    assert.ok(r.ok);
    await storage.close();

    const dir2 = join(root, `d${n++}`);
    const s2 = await FileStorage.open(raftDir(dir2));
    s2.write({
      snapshot: {
        metadata: { index: 10, term: 3, conf: simpleConf([1, 2, 3]) },
        data: new Uint8Array([1]),
      },
      hardState: { term: 3, vote: 0, commit: 10 },
    });
    await s2.sync();
    await s2.close();
    const s2b = await FileStorage.open(raftDir(dir2));
    const r2 = await forceNewCluster(s2b, dir2, 3, [1, 2, 3], silentLogger);
    assert.deepEqual(r2, { ok: true, value: { kind: "rewritten", index: 11, discarded: [1, 2] } });
    await s2b.close();

    const dir3 = join(root, `d${n++}`);
    const s3 = await FileStorage.open(raftDir(dir3));
    const r3 = await forceNewCluster(s3, dir3, 1, [1], silentLogger);
    assert.ok(!r3.ok);
    assert.match(r3.error, /needs the data of an existing member/);
    writeFileSync(join(dir3, "force-new-cluster.json"), "{");
    const r4 = await forceNewCluster(s3, dir3, 1, [1], silentLogger);
    assert.ok(!r4.ok);
    assert.match(r4.error, /is damaged/);
    await s3.close();
  });
});

describe("kv snapshot restore", () => {
  const members = [
    { id: 1, address: "127.0.0.1:7001" },
    { id: 2, address: "127.0.0.1:7002" },
  ];

  async function backupFile(index: number, state: Uint8Array): Promise<string> {
    const parts: Buffer[] = [];
    const meta = { index, term: 7, conf: simpleConf([5, 6, 7]), node: 5, createdAt: 0 };
    for await (const c of encodeBackup(meta, [state])) parts.push(c);
    const file = join(root, `b${n++}.backup`);
    writeFileSync(file, Buffer.concat(parts));
    return file;
  }

  it("writes the state as a snapshot at the backup's index whose voters are --peers", async () => {
    const sm = new KvStateMachine();
    const file = await backupFile(12, sm.snapshot());
    const data = join(root, `r${n++}`);
    const r = await restoreBackup({ file, data, id: 2, members });
    assert.ok(r.ok, r.ok ? "" : r.error);
    assert.equal(r.value.node, 5);
    const storage = await FileStorage.open(raftDir(data));
    const p = await storage.load();
    await storage.close();
    assert.deepEqual(p.snapshot?.metadata, { index: 12, term: 7, conf: simpleConf([1, 2]) });
    assert.deepEqual(p.hardState, { term: 7, vote: 0, commit: 12 });
    assert.deepEqual(p.entries, []);
    const again = await restoreBackup({ file, data, id: 2, members });
    assert.ok(!again.ok);
    assert.match(again.error, /is not empty/);
  });

  it("refuses a state that does not load, an index-0 backup and an unlisted id", async () => {
    const data = join(root, `r${n++}`);
    const junk = await restoreBackup({
      file: await backupFile(3, new Uint8Array([9, 9, 9])),
      data,
      id: 1,
      members,
    });
    assert.ok(!junk.ok);
    assert.match(junk.error, /state does not load/);
    const zero = await restoreBackup({
      file: await backupFile(0, new KvStateMachine().snapshot()),
      data,
      id: 1,
      members,
    });
    assert.ok(!zero.ok);
    assert.match(zero.error, /index 0/);
    const stranger = await restoreBackup({ file: "x", data, id: 3, members });
    assert.ok(!stranger.ok);
    assert.match(stranger.error, /not listed/);
    const missing = await restoreBackup({ file: join(root, "nope"), data, id: 1, members });
    assert.ok(!missing.ok);
    assert.match(missing.error, /cannot read/);
  });
});
