// `raftwork kv member ...` run in-process against a one-member RaftNode with the real HTTP API:
// exit statuses 0 (done), 1 (refused), 2 (usage) and 3 (unavailable), the printed join line.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { joinCommand, parseAdded } from "../../src/cli/kv-member.js";
import { createKvHttpServer, type KvHttpServer } from "../../src/kv/http-api.js";
import { KvStateMachine } from "../../src/kv/state-machine.js";
import { MemberOps } from "../../src/node/member-ops.js";
import { RaftNode } from "../../src/node/raft-node.js";
import { RawNode } from "../../src/raft/raw-node.js";
import { MemoryStorage } from "../../src/storage/memory-storage.js";
import { deadPort } from "../kv/fake-service.js";
import { LocalNetwork } from "../node/local-network.js";
import { runKv } from "../support/run-kv.js";

/** `raftwork kv member ARGS...` in-process. */
const run = (...args: string[]) => runKv("member", ...args);

describe("raftwork kv member", () => {
  let node: RaftNode;
  let http: KvHttpServer;
  let ep: string[];

  before(async () => {
    const sm = new KvStateMachine();
    node = await RaftNode.start({
      id: 1,
      peers: [1],
      baseBook: { clusterId: null, members: [{ id: 1, raft: "127.0.0.1:7001" }] },
      storage: new MemoryStorage(),
      transport: new LocalNetwork().transport(1),
      stateMachine: sm,
      createRawNode: (c) => new RawNode(c),
      electionTimeoutMs: 100,
      heartbeatMs: 20,
    });
    const ops = new MemberOps({ node, electionTimeoutMs: 100 });
    http = await createKvHttpServer("127.0.0.1", 0, { service: node, sm, id: 1, memberOps: ops });
    ep = ["--endpoints", http.url, "--retries", "0"];
    const deadline = Date.now() + 10_000;
    while (node.status().role !== "leader" || node.membership.current().clusterId === null) {
      if (Date.now() > deadline) throw new Error("no leader");
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  after(async () => {
    await node.stop();
    await http.close();
  });

  it("parses --add and prints the join line", () => {
    assert.deepEqual(parseAdded("5=127.0.0.1:7005,learner"), {
      id: 5,
      raft: "127.0.0.1:7005",
      learner: true,
    });
    assert.throws(() => parseAdded("5=127.0.0.1"), /HOST:PORT/);
    assert.throws(() => parseAdded("x=127.0.0.1:1"), /ID=HOST:PORT/);
    const members = [
      { id: 1, raft: "a:1", http: null, grpc: null, role: "voter" as const },
      { id: 2, raft: "b:2", http: null, grpc: null, role: "learner" as const },
    ];
    assert.equal(
      joinCommand(2, members),
      "raftwork kv serve --id 2 --join --peers 1=a:1,2=b:2 --http HOST:PORT --data DIR",
    );
  });

  it("usage errors exit 2 naming the problem, and send nothing", async () => {
    const before = node.status().commitIndex;
    for (const [args, message] of [
      [["add", "0", "127.0.0.1:7002"], /out of range/],
      [["add", "2", "no-port"], /HOST:PORT/],
      [["change"], /at least one --add, --remove or --promote/],
      [["change", "--add", "2"], /ID=HOST:PORT/],
      [["promote", "x"], /id|integer|number/i],
    ] as [string[], RegExp][]) {
      const r = await run(...args, ...ep);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.equal(node.status().commitIndex, before);
  });

  it("add prints the list and the join line (0), a conflict exits 1, no endpoint exits 3", async () => {
    const added = await run("add", "2", "127.0.0.1:7002", "--learner", ...ep);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^ID\s+ROLE\s+RAFT\s+HTTP\s+GRPC\n1\s+voter\s+127\.0\.0\.1:7001/);
    assert.match(added.stdout, /2\s+learner\s+127\.0\.0\.1:7002/);
    assert.match(
      added.stdout,
      /raftwork kv serve --id 2 --join --peers 1=127\.0\.0\.1:7001,2=127\.0\.0\.1:7002 --http HOST:PORT --data DIR/,
    );
    const again = await run("add", "2", "127.0.0.1:7009", ...ep);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /member id 2 is taken/);
    const list = await run("list", "--json", ...ep);
    assert.equal(list.code, 0);
    assert.deepEqual(
      JSON.parse(list.stdout).map((m: { id: number; role: string }) => [m.id, m.role]),
      [
        [1, "voter"],
        [2, "learner"],
      ],
    );
    const removed = await run("remove", "2", ...ep);
    assert.equal(removed.code, 0, removed.stderr);
    const dead = await run(
      "list",
      "--endpoints",
      `http://127.0.0.1:${await deadPort()}`,
      "--retries",
      "0",
    );
    assert.equal(dead.code, 3);
  });
});
