import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { claimDataDir, clusterFingerprint } from "../../../src/kv/server/data-dir.js";

const root = mkdtempSync(join(tmpdir(), "raftwork-datadir-"));
after(() => rmSync(root, { recursive: true, force: true }));

const members = [
  { id: 1, address: "127.0.0.1:7001" },
  { id: 2, address: "127.0.0.1:7002" },
  { id: 3, address: "127.0.0.1:7003" },
];

describe("data directory identity", () => {
  it("the fingerprint ignores member order but not addresses", () => {
    assert.equal(clusterFingerprint(members), clusterFingerprint([...members].reverse()));
    assert.notEqual(
      clusterFingerprint(members),
      clusterFingerprint([...members.slice(0, 2), { id: 3, address: "127.0.0.1:7009" }]),
    );
  });

  it("accepts the same node and cluster again, refuses another node id or cluster", () => {
    const dir = join(root, "a");
    assert.deepEqual(claimDataDir(dir, 1, members), { ok: true, value: undefined });
    assert.deepEqual(claimDataDir(dir, 1, [...members].reverse()), { ok: true, value: undefined });
    const other = claimDataDir(dir, 2, members);
    assert.equal(other.ok, false);
    assert.match(other.ok ? "" : other.error, /belongs to node 1, not node 2/);
    const moved = claimDataDir(dir, 1, members.slice(0, 2));
    assert.match(moved.ok ? "" : moved.error, /another cluster/);
  });

  it("refuses a damaged identity file", () => {
    const dir = join(root, "b");
    assert.deepEqual(claimDataDir(dir, 1, members), { ok: true, value: undefined });
    writeFileSync(join(dir, "identity.json"), "{not json");
    const r = claimDataDir(dir, 1, members);
    assert.match(r.ok ? "" : r.error, /identity\.json is not valid JSON/);
  });
});
