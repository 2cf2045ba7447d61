// `kv cluster`'s check of its data directory (src/cli/local-cluster.ts): a DIR holding another
// cluster than the flags describe is refused in the flags' terms, before anything is created.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  checkDataDir,
  clusterLayout,
  type LocalClusterOptions,
} from "../../src/cli/local-cluster.js";
import { claimDataDir, writeClusterRecord } from "../../src/kv/server/data-dir.js";

const root = mkdtempSync(join(tmpdir(), "raftwork-local-cluster-"));
after(() => rmSync(root, { recursive: true, force: true }));

function options(data: string, nodes: number, raftPortBase = 7000): LocalClusterOptions {
  return {
    nodes,
    data,
    raftPortBase,
    httpPortBase: 8000,
    host: "127.0.0.1",
    serveArgs: [],
    command: [],
    startTimeoutMs: 1000,
  };
}

/** A data directory as `kv cluster --nodes n` leaves it: node-i claimed by node i. */
function made(name: string, nodes: number, raftPortBase = 7000): string {
  const dir = join(root, name);
  const layout = clusterLayout(options(dir, nodes, raftPortBase));
  const members = layout.map((n) => ({ id: n.id, address: n.raft }));
  for (const n of layout) {
    const c = claimDataDir(n.dataDir, { node: n.id, peers: members, join: false });
    assert.ok(c.ok && writeClusterRecord(n.dataDir, c.value.record).ok);
  }
  return dir;
}

const error = (r: ReturnType<typeof checkDataDir>) => (r.ok ? "" : r.error);

describe("kv cluster's data directory check", () => {
  it("accepts a missing or empty DIR, and the DIR of the same cluster", () => {
    assert.ok(checkDataDir(options(join(root, "missing"), 3)).ok);
    mkdirSync(join(root, "empty"));
    assert.ok(checkDataDir(options(join(root, "empty"), 3)).ok);
    assert.ok(checkDataDir(options(made("same", 3), 3)).ok);
  });

  it("names the node count the DIR holds, and the flag that fixes it", () => {
    const dir = made("three", 3);
    assert.match(
      error(checkDataDir(options(dir, 5))),
      /^--nodes 5: .*three holds a 3-node cluster \(node-1 to node-3\), not 5 nodes; start it with --nodes 3/,
    );
    assert.match(error(checkDataDir(options(dir, 1))), /not 1 node;/);
    rmSync(join(dir, "node-2"), { recursive: true });
    assert.match(error(checkDataDir(options(dir, 3))), /holds the data of nodes 1, 3/);
    assert.deepEqual(readdirSync(dir).sort(), ["node-1", "node-3"], "nothing was created");
  });

  it("names --raft-port-base when the nodes were created with other Raft ports", () => {
    const dir = made("ports", 3, 7100);
    assert.match(
      error(checkDataDir(options(dir, 3, 7000))),
      /was created with other Raft ports than --raft-port-base 7000 gives/,
    );
    assert.ok(checkDataDir(options(dir, 3, 7100)).ok);
  });

  it("refuses a --data that is a file", () => {
    const file = join(root, "a-file");
    writeFileSync(file, "");
    assert.match(error(checkDataDir(options(file, 3))), /is not a directory/);
  });
});
