import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { KvClient, KvRequestError, KvUnavailableError } from "../../src/kv/client.js";
import { createKvHttpServer, type KvHttpServer } from "../../src/kv/http-api.js";
import { ProposalTimeoutError } from "../../src/node/errors.js";
import { deadPort, FakeService } from "./fake-service.js";

/** A leader whose next N proposals commit and apply but answer "timed out" (a lost reply). */
class LossyService extends FakeService {
  loseReplies = 0;
  override async propose(data: Uint8Array): Promise<unknown> {
    const result = await super.propose(data);
    if (this.loseReplies > 0) {
      this.loseReplies--;
      throw new ProposalTimeoutError();
    }
    return result;
  }
}

describe("KvClient", () => {
  let leader: LossyService;
  let noLeader: FakeService;
  let leaderSrv: KvHttpServer;
  let noLeaderSrv: KvHttpServer;
  let dead: string;
  const clients: KvClient[] = [];
  const client = (endpoints: string[], retries = 1) => {
    const c = new KvClient({ endpoints, retries, backoffMs: 5, timeoutMs: 2000 });
    clients.push(c);
    return c;
  };

  before(async () => {
    leader = new LossyService(1, 1);
    leaderSrv = await createKvHttpServer("127.0.0.1", 0, { service: leader, sm: leader.sm, id: 1 });
    noLeader = new FakeService(2, null);
    noLeaderSrv = await createKvHttpServer("127.0.0.1", 0, {
      service: noLeader,
      sm: noLeader.sm,
      id: 2,
    });
    dead = `http://127.0.0.1:${await deadPort()}`;
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([leaderSrv.close(), noLeaderSrv.close()]);
  });

  it("maps answers to typed results", async () => {
    const c = client([leaderSrv.url]);
    await c.put("a/b", "1");
    assert.deepEqual(await c.get("a/b"), { found: true, value: "1" });
    assert.deepEqual(await c.get("missing"), { found: false });
    assert.deepEqual(await c.cas("a/b", "0", "2"), { ok: false, current: "1" });
    assert.deepEqual(await c.cas("a/b", "1", "2"), { ok: true });
    await c.append("a/b", "3");
    assert.deepEqual(await c.list("a/"), { entries: [{ key: "a/b", value: "23" }], next: null });
    await c.del("a/b");
    assert.deepEqual(await c.get("a/b"), { found: false });
    await assert.rejects(c.put("", "x"), (e) => e instanceof KvRequestError && e.status === 400);
  });

  it('stores and reads the keys "." and ".." (which a URL path would normalise away)', async () => {
    const c = client([leaderSrv.url]);
    for (const key of [".", "..", "./..", "%2e%2e"]) {
      await c.put(key, `v${key}`);
      assert.deepEqual(await c.get(key), { found: true, value: `v${key}` }, key);
      await c.append(key, "+");
      assert.deepEqual(await c.cas(key, `v${key}+`, "w"), { ok: true }, key);
    }
    assert.equal(Buffer.from(leader.sm.get("..") ?? []).toString(), "w");
    assert.equal(Buffer.from(leader.sm.get(".") ?? []).toString(), "w");
    for (const key of [".", ".."]) {
      await c.del(key);
      assert.deepEqual(await c.get(key), { found: false });
    }
  });

  it("lists page by page: list() says where the next page starts, listAll() walks them", async () => {
    const c = client([leaderSrv.url]);
    const keys = Array.from({ length: 7 }, (_, i) => `pages/${i} ${"é".repeat(i)}`);
    for (const k of keys) await c.put(k, k.toUpperCase());
    const first = await c.list("pages/", { limit: 3 });
    assert.deepEqual(
      first.entries.map((e) => e.key),
      keys.slice(0, 3),
    );
    assert.equal(first.next, keys[3]);
    const second = await c.list("pages/", { limit: 3, from: first.next ?? "" });
    assert.deepEqual(
      second.entries.map((e) => e.key),
      keys.slice(3, 6),
    );
    const all: string[] = [];
    for await (const e of c.listAll("pages/", { pageSize: 2 })) all.push(e.key);
    assert.deepEqual(all, keys);
    const rest: string[] = [];
    for await (const e of c.listAll("pages/", { pageSize: 2, from: keys[5] })) rest.push(e.key);
    assert.deepEqual(rest, keys.slice(5));
  });

  it("skips dead endpoints and nodes without a leader", async () => {
    const c = client([dead, noLeaderSrv.url, leaderSrv.url]);
    await c.put("skip", "v");
    assert.deepEqual(await c.get("skip"), { found: true, value: "v" });
  });

  it("retries a write whose reply was lost with the same request id: applied once", async () => {
    const c = client([leaderSrv.url], 3);
    await c.put("once", "");
    const before = leader.proposals;
    leader.loseReplies = 2;
    await c.append("once", "x");
    assert.equal(leader.proposals - before, 3, "two lost replies, then an answer");
    assert.deepEqual(await c.get("once"), { found: true, value: "x" });
    // The session advanced to exactly one new id: the next write is applied normally.
    await c.append("once", "y");
    assert.deepEqual(await c.get("once"), { found: true, value: "xy" });
  });

  it("serializes concurrent writes of one client (one outstanding write per session)", async () => {
    const c = client([leaderSrv.url]);
    await c.put("seq", "");
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.append("seq", `${i},`)));
    const got = await c.get("seq");
    assert.deepEqual(got, {
      found: true,
      value: Array.from({ length: 20 }, (_, i) => `${i},`).join(""),
    });
  });

  it("gives up with KvUnavailableError when no endpoint answers", async () => {
    const c = client([dead, noLeaderSrv.url], 1);
    await assert.rejects(c.put("x", "y"), KvUnavailableError);
    await assert.rejects(c.get("x"), KvUnavailableError);
  });

  it("status reports every node, reachable or not", async () => {
    const c = client([leaderSrv.url, dead]);
    const [a, b] = await c.status();
    assert.equal(a?.ok, true);
    assert.equal(a?.ok && a.status.role, "leader");
    assert.equal(b?.ok, false);
  });
});
