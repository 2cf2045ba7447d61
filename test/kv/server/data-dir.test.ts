// The data directory's format (src/kv/server/data-dir.ts): how a start is decided from what the
// directory holds and the flags, per the contract's "Starting a member", and the migration of
// format 1 (identity.json).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  claimDataDir,
  clusterFingerprint,
  legacyClusterId,
  readClusterRecord,
  writeClusterRecord,
} from "../../../src/kv/server/data-dir.js";
import { isClusterId } from "../../../src/transport/cluster-id.js";

const root = mkdtempSync(join(tmpdir(), "raftwork-datadir-"));
after(() => rmSync(root, { recursive: true, force: true }));

const members = [
  { id: 1, address: "127.0.0.1:7001" },
  { id: 2, address: "127.0.0.1:7002" },
  { id: 3, address: "127.0.0.1:7003" },
];

const errorOf = (r: { ok: boolean; error?: string }) => (r.ok ? "" : (r.error ?? ""));

/** A directory as a format-1 raftwork left it. */
function legacy(name: string, node = 1): string {
  const dir = join(root, name);
  mkdirSync(join(dir, "raft"), { recursive: true });
  const cluster = clusterFingerprint(members);
  writeFileSync(join(dir, "identity.json"), `${JSON.stringify({ format: 1, node, cluster })}\n`);
  return dir;
}

describe("data directory", () => {
  it("the fingerprint ignores member order but not addresses", () => {
    assert.equal(clusterFingerprint(members), clusterFingerprint([...members].reverse()));
    assert.notEqual(
      clusterFingerprint(members),
      clusterFingerprint([...members.slice(0, 2), { id: 3, address: "127.0.0.1:7009" }]),
    );
  });

  it("an empty directory bootstraps from --peers, or joins with --join; --peers is required", () => {
    const dir = join(root, "empty");
    const boot = claimDataDir(dir, { node: 2, peers: members, join: false });
    assert.ok(boot.ok);
    assert.equal(boot.value.mode, "bootstrap");
    assert.deepEqual(boot.value.record.members, members);
    assert.equal(boot.value.record.listen, "127.0.0.1:7002");
    assert.equal(boot.value.record.clusterId, null);
    const join_ = claimDataDir(dir, { node: 2, peers: members, join: true });
    assert.ok(join_.ok);
    assert.equal(join_.value.mode, "join");
    assert.deepEqual(join_.value.record.members, [], "a joiner learns the members from the leader");
    assert.match(errorOf(claimDataDir(dir, { node: 2, join: false })), /--peers is required/);
    assert.match(
      errorOf(claimDataDir(dir, { node: 4, peers: members, join: false })),
      /--peers must list this node \(id 4\)/,
    );
    assert.equal(existsSync(join(dir, "cluster.json")), false, "nothing is recorded before start");
  });

  it("a directory with data keeps its configuration: flags are ignored with a warning, --id must match", () => {
    const dir = join(root, "restart");
    const first = claimDataDir(dir, { node: 1, peers: members, join: false });
    assert.ok(first.ok);
    assert.ok(writeClusterRecord(dir, first.value.record).ok);
    const again = claimDataDir(dir, { node: 1, join: false });
    assert.ok(again.ok);
    assert.equal(again.value.mode, "restart");
    assert.deepEqual(again.value.warnings, []);
    const same = claimDataDir(dir, { node: 1, peers: [...members].reverse(), join: false });
    assert.deepEqual(same.ok && same.value.warnings, [], "the --peers it was made with: no news");
    const other = [{ id: 1, address: "127.0.0.1:9001" }];
    const flagged = claimDataDir(dir, { node: 1, peers: other, join: true });
    assert.ok(flagged.ok);
    assert.equal(flagged.value.mode, "restart");
    assert.deepEqual(flagged.value.record, first.value.record);
    assert.equal(flagged.value.warnings.length, 2);
    assert.match(flagged.value.warnings.join("\n"), /--peers is ignored[\s\S]*--join is ignored/);
    assert.match(
      errorOf(claimDataDir(dir, { node: 2, join: false })),
      /belongs to node 1, not node 2/,
    );
  });

  it("migrates format 1 once with the matching --peers, keeping the derived cluster id", () => {
    const dir = legacy("legacy");
    assert.match(
      errorOf(claimDataDir(dir, { node: 1, join: false })),
      /format 1\): start it once with the --peers/,
    );
    const moved = [...members.slice(0, 2), { id: 3, address: "127.0.0.1:7009" }];
    assert.match(
      errorOf(claimDataDir(dir, { node: 1, peers: moved, join: false })),
      /another cluster/,
    );
    assert.match(
      errorOf(claimDataDir(dir, { node: 2, peers: members, join: false })),
      /belongs to node 1/,
    );
    assert.ok(existsSync(join(dir, "identity.json")), "a refused start changes nothing");
    const m = claimDataDir(dir, { node: 1, peers: [...members].reverse(), join: false });
    assert.ok(m.ok);
    assert.equal(m.value.mode, "restart");
    assert.match(m.value.warnings.join(), /migrated .* from data format 1 to 2/);
    const id = legacyClusterId(clusterFingerprint(members));
    assert.ok(isClusterId(id));
    assert.deepEqual(m.value.record, {
      node: 1,
      clusterId: id,
      listen: "127.0.0.1:7001",
      members,
      origin: "migrated",
    });
    assert.equal(existsSync(join(dir, "identity.json")), false);
    const stored = JSON.parse(readFileSync(join(dir, "cluster.json"), "utf8"));
    assert.equal(stored.format, 2);
    const later = claimDataDir(dir, { node: 1, join: false });
    assert.ok(later.ok, "after the migration --peers is no longer needed");
    assert.deepEqual(later.value.record, m.value.record);
  });

  it("refuses damaged or unknown-format files with the file named", () => {
    const dir = legacy("damaged");
    writeFileSync(join(dir, "identity.json"), "{not json");
    assert.match(
      errorOf(claimDataDir(dir, { node: 1, peers: members, join: false })),
      /identity\.json is not valid JSON/,
    );
    writeFileSync(join(dir, "cluster.json"), JSON.stringify({ format: 3, node: 1 }));
    assert.match(
      errorOf(readClusterRecord(dir)),
      /cluster\.json has data format 3; this raftwork reads format 2/,
    );
    writeFileSync(
      join(dir, "cluster.json"),
      JSON.stringify({
        format: 2,
        node: 1,
        cluster: "12",
        listen: "a:1",
        members: [],
        origin: "join",
      }),
    );
    assert.match(errorOf(readClusterRecord(dir)), /bad cluster id/);
  });
});
