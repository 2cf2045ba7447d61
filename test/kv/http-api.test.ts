import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { MAX_VALUE_BYTES } from "../../src/kv/contract.js";
import { FORWARD_PATH } from "../../src/kv/forward-batch.js";
import {
  createKvHttpServer,
  type KvHttpOptions,
  type KvHttpServer,
} from "../../src/kv/http-api.js";
import { MemberLink } from "../../src/kv/member-link.js";
import { createKvMetrics } from "../../src/kv/metrics.js";
import {
  LeadershipLostError,
  NotLeaderError,
  ProposalTimeoutError,
  StoppedError,
} from "../../src/node/errors.js";
import { deadPort, FakeService, MemberRoster, PeerAddresses, request } from "./fake-service.js";

describe("KV HTTP API on one node", () => {
  let svc: FakeService;
  let server: KvHttpServer;
  const call = (method: string, path: string, opts?: Parameters<typeof request>[3]) =>
    request(server.url, method, path, opts);

  before(async () => {
    svc = new FakeService(1, 1);
    server = await createKvHttpServer("127.0.0.1", 0, {
      service: svc,
      sm: svc.sm,
      id: 1,
      metrics: createKvMetrics({ nodeId: 1, defaultMetrics: false }),
    });
  });
  after(() => server.close());
  beforeEach(() => {
    svc.fail = null;
  });

  /** Run `fn` and assert the replicated state is byte-for-byte unchanged afterwards. */
  async function changesNothing(fn: () => Promise<void>): Promise<void> {
    const before = Buffer.from(svc.sm.snapshot());
    const proposals = svc.proposals;
    await fn();
    assert.deepEqual(Buffer.from(svc.sm.snapshot()), before, "state changed");
    assert.equal(svc.proposals, proposals, "something was proposed");
  }

  /** The stored keys and values (the log clock may move when a proposal is rejected in apply). */
  const data = () =>
    svc.sm.list("", Number.MAX_SAFE_INTEGER).map((e) => [e.key, Buffer.from(e.value)]);

  it("a write's 200 carries the store revision; a write that changes nothing keeps it", async () => {
    const put = await call("PUT", "/v1/kv/rev", { body: "a" });
    const rev = Number(put.headers["x-raftwork-revision"]);
    assert.equal(rev, svc.sm.revision);
    const again = await call("POST", "/v1/kv/rev?op=append", { body: "b" });
    assert.equal(Number(again.headers["x-raftwork-revision"]), rev + 1);
    await call("DELETE", "/v1/kv/rev");
    const absent = await call("DELETE", "/v1/kv/rev");
    assert.equal(Number(absent.headers["x-raftwork-revision"]), rev + 2, "deleting nothing");
    assert.equal((await call("GET", "/v1/kv/rev")).headers["x-raftwork-revision"], undefined);
  });

  it("PUT, GET, DELETE and 404", async () => {
    assert.equal((await call("PUT", "/v1/kv/greeting", { body: "héllo" })).status, 200);
    const got = await call("GET", "/v1/kv/greeting");
    assert.equal(got.status, 200);
    assert.equal(got.body, "héllo");
    assert.equal((await call("DELETE", "/v1/kv/greeting")).status, 200);
    const missing = await call("GET", "/v1/kv/greeting");
    assert.equal(missing.status, 404);
    assert.match(JSON.parse(missing.body).error, /not found/);
    assert.equal((await call("DELETE", "/v1/kv/greeting")).status, 200, "deleting absent is ok");
  });

  it("keys are the percent-decoded rest of the path, '/' allowed", async () => {
    assert.equal((await call("PUT", "/v1/kv/a/b%2Fc%20d/%E2%82%AC", { body: "x" })).status, 200);
    assert.equal(Buffer.from(svc.sm.get("a/b/c d/€") ?? []).toString(), "x");
    const long = "k".repeat(1024);
    assert.equal((await call("PUT", `/v1/kv/${long}`, { body: "" })).status, 200);
    assert.equal((await call("GET", `/v1/kv/${long}`)).status, 200);
  });

  it("rejects bad keys with 400 and changes nothing", async () => {
    await changesNothing(async () => {
      for (const path of [
        "/v1/kv/",
        "/v1/kv/%ZZ",
        "/v1/kv/%E2%82",
        "/v1/kv/%C3%28",
        "/v1/kv/%ED%A0%80",
        `/v1/kv/${"k".repeat(1025)}`,
        `/v1/kv/${"%E2%82%AC".repeat(342)}`,
      ]) {
        const r = await call("PUT", path, { body: "v" });
        assert.equal(r.status, 400, path);
        assert.equal(typeof JSON.parse(r.body).error, "string");
      }
    });
  });

  it("append creates and extends", async () => {
    await call("DELETE", "/v1/kv/log");
    assert.equal((await call("POST", "/v1/kv/log?op=append", { body: "a" })).status, 200);
    assert.equal((await call("POST", "/v1/kv/log?op=append", { body: "b" })).status, 200);
    assert.equal((await call("GET", "/v1/kv/log")).body, "ab");
  });

  it("cas: 200 on swap, 409 with the current value otherwise", async () => {
    await call("DELETE", "/v1/kv/c");
    const cas = (expect: string | null, value: string) =>
      call("POST", "/v1/kv/c?op=cas", { body: JSON.stringify({ expect, value }) });
    assert.equal((await cas(null, "1")).status, 200);
    const miss = await cas(null, "2");
    assert.equal(miss.status, 409);
    assert.equal(JSON.parse(miss.body).current, "1");
    assert.equal((await cas("1", "2")).status, 200);
    await call("DELETE", "/v1/kv/c");
    const absent = await cas("2", "3");
    assert.equal(absent.status, 409);
    assert.equal(JSON.parse(absent.body).current, null);
  });

  it("rejects bad cas bodies, unknown ops and invalid UTF-8 with 400, changing nothing", async () => {
    await changesNothing(async () => {
      for (const body of [
        "not json",
        "{}",
        '{"expect": 1, "value": "x"}',
        '{"expect": null}',
        '{"expect": null, "value": "x", "extra": 1}',
        '{"expect": null, "value": "\\ud800"}',
        "[]",
      ]) {
        const r = await call("POST", "/v1/kv/c?op=cas", { body });
        assert.equal(r.status, 400, body);
      }
      assert.equal((await call("POST", "/v1/kv/c?op=incr", { body: "1" })).status, 400);
      assert.equal((await call("POST", "/v1/kv/c", { body: "1" })).status, 400);
      const bad = Buffer.from([0x61, 0xff, 0xfe]);
      assert.equal((await call("PUT", "/v1/kv/c", { body: bad })).status, 400);
      assert.equal((await call("POST", "/v1/kv/c?op=append", { body: bad })).status, 400);
    });
  });

  it("413 for values over 1 MiB (declared, chunked, append result, cas), changing nothing", async () => {
    assert.equal(
      (await call("PUT", "/v1/kv/big", { body: "a".repeat(MAX_VALUE_BYTES) })).status,
      200,
    );
    await changesNothing(async () => {
      assert.equal(
        (await call("PUT", "/v1/kv/k", { body: "a".repeat(MAX_VALUE_BYTES + 1) })).status,
        413,
      );
      // No content-length: the limit is enforced while streaming.
      const chunk = Buffer.alloc(256 * 1024, 98);
      const chunked = await call("PUT", "/v1/kv/k", { body: [chunk, chunk, chunk, chunk, chunk] });
      assert.equal(chunked.status, 413);
      const cas = JSON.stringify({ expect: null, value: "é".repeat(MAX_VALUE_BYTES / 2 + 1) });
      assert.equal((await call("POST", "/v1/kv/k?op=cas", { body: cas })).status, 413);
    });
    // Only apply() can know the append's result size: it is proposed, then rejected there.
    const before = data();
    const r = await call("POST", "/v1/kv/big?op=append", { body: "b" });
    assert.equal(r.status, 413);
    assert.deepEqual(data(), before);
  });

  it("405 with Allow for wrong methods; 404 for unknown routes", async () => {
    await changesNothing(async () => {
      const cases: Array<[string, string, string]> = [
        ["PATCH", "/v1/kv/k", "GET, PUT, DELETE, POST"],
        ["POST", "/v1/kv", "GET"],
        ["PUT", "/v1/status", "GET"],
        ["DELETE", "/metrics", "GET"],
      ];
      for (const [method, path, allow] of cases) {
        const r = await call(method, path, { body: "" });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.allow, allow);
      }
      assert.equal((await call("GET", "/v2/kv/k")).status, 404);
    });
  });

  it("list: sorted by key, prefix, limit, bad queries", async () => {
    for (const k of ["l/b", "l/a", "l/c", "lz"]) await call("PUT", `/v1/kv/${k}`, { body: k });
    const all = await call("GET", "/v1/kv?prefix=l%2F");
    assert.equal(all.status, 200);
    assert.deepEqual(JSON.parse(all.body), [
      { key: "l/a", value: "l/a" },
      { key: "l/b", value: "l/b" },
      { key: "l/c", value: "l/c" },
    ]);
    const two = await call("GET", "/v1/kv?prefix=l/&limit=2");
    assert.deepEqual(
      JSON.parse(two.body).map((e: { key: string }) => e.key),
      ["l/a", "l/b"],
    );
    assert.ok(JSON.parse((await call("GET", "/v1/kv")).body).length >= 4);
    for (const q of ["limit=0", "limit=10001", "limit=abc", "limit=-1"]) {
      assert.equal((await call("GET", `/v1/kv?${q}`)).status, 400, q);
    }
    assert.equal((await call("GET", "/v1/kv?limit=10000")).status, 200);
  });

  it("?key=K serves GET, PUT, DELETE and POST for keys a path cannot carry (. and ..)", async () => {
    for (const key of [".", ".."]) {
      const q = `/v1/kv?key=${encodeURIComponent(key)}`;
      assert.equal((await call("PUT", q, { body: `is ${key}` })).status, 200, key);
      assert.equal((await call("GET", q)).body, `is ${key}`);
      assert.equal((await call("POST", `${q}&op=append`, { body: "!" })).status, 200);
      const cas = await call("POST", `${q}&op=cas`, {
        body: JSON.stringify({ expect: `is ${key}!`, value: "swapped" }),
      });
      assert.equal(cas.status, 200);
      assert.equal(Buffer.from(svc.sm.get(key) ?? []).toString(), "swapped");
      // The same key through the path, sent without dot-segment normalisation.
      assert.equal((await call("GET", `/v1/kv/${key}`)).body, "swapped");
      assert.equal((await call("DELETE", q)).status, 200);
      assert.equal((await call("GET", q)).status, 404);
    }
    assert.equal((await call("PUT", "/v1/kv?key=a%2Fb+c", { body: "v" })).status, 200);
    assert.equal(Buffer.from(svc.sm.get("a/b c") ?? []).toString(), "v", "form encoding");
    await changesNothing(async () => {
      for (const q of ["key=", `key=${"k".repeat(1025)}`, "key=%FF", "key=a&prefix=a"]) {
        const r = await call("PUT", `/v1/kv?${q}`, { body: "v" });
        assert.equal(r.status, 400, q);
      }
      assert.equal((await call("PATCH", "/v1/kv?key=a", { body: "" })).status, 405);
    });
  });

  it("list pages: from, and X-Raftwork-Next when the limit cut the answer", async () => {
    const keys = ["pg/a", "pg/b", "pg/c d", "pg/é", "pg/🙂"];
    for (const k of keys) await call("PUT", `/v1/kv/${encodeURIComponent(k)}`, { body: k });
    const seen: string[] = [];
    let from: string | null = null;
    let pages = 0;
    do {
      const q: string = `prefix=pg%2F&limit=2${from === null ? "" : `&from=${encodeURIComponent(from)}`}`;
      const r = await call("GET", `/v1/kv?${q}`);
      assert.equal(r.status, 200);
      seen.push(...JSON.parse(r.body).map((e: { key: string }) => e.key));
      const next = r.headers["x-raftwork-next"];
      from = typeof next === "string" ? decodeURIComponent(next) : null;
      pages++;
    } while (from !== null && pages < 10);
    assert.deepEqual(seen, keys, "every key once, in order");
    assert.equal(pages, 3);
    const last = await call("GET", "/v1/kv?prefix=pg%2F&limit=5");
    assert.equal(last.headers["x-raftwork-next"], undefined, "no marker when nothing was cut");
    const after = await call("GET", `/v1/kv?prefix=pg%2F&from=${encodeURIComponent("pg/c")}`);
    assert.deepEqual(
      JSON.parse(after.body).map((e: { key: string }) => e.key),
      ["pg/c d", "pg/é", "pg/🙂"],
    );
    const before = await call("GET", "/v1/kv?prefix=pg%2F&from=a&limit=1");
    assert.equal(JSON.parse(before.body)[0].key, "pg/a", "a `from` below the prefix starts at it");
    assert.deepEqual(JSON.parse((await call("GET", "/v1/kv?prefix=pg%2F&from=q")).body), []);
  });

  it("list refuses what is not UTF-8 and says what is wrong with a limit", async () => {
    const cases: [string, RegExp][] = [
      ["prefix=%FF", /prefix.*not valid percent-encoded UTF-8/],
      ["from=%C3%28", /from.*not valid percent-encoded UTF-8/],
      ["prefix=%ZZ", /not valid percent-encoded UTF-8/],
      ["limit=99999999", /limit is out of range 1\.\.10000/],
      ["limit=0", /limit is out of range/],
      ["limit=abc", /limit must be a whole number/],
      ["limit=-1", /limit must be a whole number/],
      ["prefx=a", /unknown query parameter "prefx"/],
    ];
    for (const [q, re] of cases) {
      const r = await call("GET", `/v1/kv?${q}`);
      assert.equal(r.status, 400, q);
      assert.match(JSON.parse(r.body).error, re, q);
    }
  });

  it("exactly-once sessions through headers; bad session headers are 400", async () => {
    await call("DELETE", "/v1/kv/s");
    const h = (id: string) => ({ "x-client-id": "client-a", "x-request-id": id });
    assert.equal(
      (await call("POST", "/v1/kv/s?op=append", { body: "x", headers: h("7") })).status,
      200,
    );
    assert.equal(
      (await call("POST", "/v1/kv/s?op=append", { body: "x", headers: h("7") })).status,
      200,
    );
    assert.equal((await call("GET", "/v1/kv/s")).body, "x", "the retry was not re-applied");
    const before = data();
    {
      const stale = await call("POST", "/v1/kv/s?op=append", { body: "y", headers: h("6") });
      assert.equal(stale.status, 400);
      assert.match(JSON.parse(stale.body).error, /stale/);
      assert.deepEqual(data(), before);
    }
    await changesNothing(async () => {
      const bad: Array<Record<string, string>> = [
        { "x-client-id": "a" },
        { "x-request-id": "1" },
        h("0"),
        h("abc"),
        h("1.5"),
        h("9007199254740992"),
        { "x-client-id": "a".repeat(129), "x-request-id": "1" },
        { "x-client-id": "", "x-request-id": "1" },
      ];
      for (const headers of bad) {
        const r = await call("PUT", "/v1/kv/s", { body: "z", headers });
        assert.equal(r.status, 400, JSON.stringify(headers));
      }
    });
  });

  it("maps service errors: not leader/stopped 503, timeout/leadership lost 504", async () => {
    const cases: Array<[() => Error, number]> = [
      [() => new NotLeaderError(null), 503],
      [() => new StoppedError(), 503],
      [() => new ProposalTimeoutError(), 504],
      [() => new LeadershipLostError(), 504],
    ];
    for (const [make, status] of cases) {
      svc.fail = make;
      assert.equal((await call("PUT", "/v1/kv/e", { body: "v" })).status, status);
      assert.equal((await call("GET", "/v1/kv/e")).status, status);
      const r = await call("GET", "/v1/kv");
      assert.equal(r.status, status);
      assert.equal(typeof JSON.parse(r.body).error, "string");
    }
  });

  it("survives a service that throws synchronously or breaks: 500, and keeps serving", async () => {
    const broken = new FakeService(9, 9);
    broken.propose = () => {
      throw new Error("boom");
    };
    broken.status = () => {
      throw new Error("boom");
    };
    const srv = await createKvHttpServer("127.0.0.1", 0, { service: broken, sm: broken.sm, id: 9 });
    try {
      assert.equal((await request(srv.url, "PUT", "/v1/kv/k", { body: "v" })).status, 500);
      assert.equal((await request(srv.url, "GET", "/v1/status")).status, 500);
      assert.equal((await request(srv.url, "GET", "/v1/kv/k")).status, 404);
    } finally {
      await srv.close();
    }
  });

  it("status and metrics", async () => {
    const st = await call("GET", "/v1/status");
    assert.equal(st.status, 200);
    const body = JSON.parse(st.body);
    assert.deepEqual(Object.keys(body).sort(), [
      "appliedIndex",
      "commitIndex",
      "id",
      "leader",
      "members",
      "role",
      "term",
    ]);
    assert.equal(body.role, "leader");
    const m = await call("GET", "/metrics");
    assert.equal(m.status, 200);
    assert.match(m.body, /raftwork_kv_requests_total\{route="put",code="200",node="1"\} \d+/);
    assert.match(m.body, /raftwork_kv_request_duration_seconds_bucket/);
  });
});

describe("KV HTTP API forwarding", () => {
  let leader: FakeService;
  let follower: FakeService;
  let other: FakeService;
  let leaderSrv: KvHttpServer;
  let followerSrv: KvHttpServer;
  let otherSrv: KvHttpServer;

  const followerKnows = new PeerAddresses();
  const otherKnows = new PeerAddresses();
  const roster = new MemberRoster();
  /** What the leader's server was asked, headers included. */
  const leaderSaw: { url: string; headers: Record<string, unknown> }[] = [];

  /** An API server in front of `svc` (node svc.id). */
  const serve = (svc: FakeService, extra: Partial<KvHttpOptions> = {}) =>
    createKvHttpServer("127.0.0.1", 0, {
      service: svc,
      sm: svc.sm,
      id: svc.id,
      members: roster.link(svc.id),
      ...extra,
    });

  before(async () => {
    leader = new FakeService(1, 1);
    leaderSrv = await serve(leader);
    leaderSrv.server.on("request", (req) =>
      leaderSaw.push({ url: req.url ?? "", headers: req.headers }),
    );
    follower = new FakeService(2, 1);
    followerKnows.set(1, leaderSrv.url);
    followerSrv = await serve(follower, { peerHttp: followerKnows.lookup, forwardTimeoutMs: 300 });
    other = new FakeService(3, 2);
    otherKnows.set(2, followerSrv.url);
    otherSrv = await serve(other, { peerHttp: otherKnows.lookup });
  });
  after(async () => {
    await Promise.all([leaderSrv.close(), followerSrv.close(), otherSrv.close()]);
  });

  it("a follower relays writes, reads and errors to the leader", async () => {
    const f = followerSrv.url;
    const first = await request(f, "PUT", "/v1/kv/x", { body: "1" });
    assert.equal(first.status, 200);
    assert.equal(Number(first.headers["x-raftwork-revision"]), leader.sm.revision, "relayed");
    assert.equal(Buffer.from(leader.sm.get("x") ?? []).toString(), "1");
    assert.equal(follower.sm.get("x"), undefined, "the follower applied nothing itself");
    assert.equal((await request(f, "GET", "/v1/kv/x")).body, "1");
    const miss = await request(f, "POST", "/v1/kv/x?op=cas", {
      body: '{"expect":null,"value":"2"}',
    });
    assert.equal(miss.status, 409);
    assert.equal(JSON.parse(miss.body).current, "1");
    assert.equal((await request(f, "GET", "/v1/kv/nope")).status, 404);
    assert.deepEqual(JSON.parse((await request(f, "GET", "/v1/kv?prefix=x")).body), [
      { key: "x", value: "1" },
    ]);
    await request(f, "PUT", "/v1/kv/x2", { body: "2" });
    const cut = await request(f, "GET", "/v1/kv?prefix=x&limit=1");
    assert.equal(cut.headers["x-raftwork-next"], "x2", "the paging header is relayed");
    assert.equal((await request(f, "PUT", "/v1/kv?key=..", { body: "dots" })).status, 200);
    assert.equal((await request(f, "GET", "/v1/kv?key=..")).body, "dots");
  });

  it("session headers survive forwarding: a retry at the leader is applied once", async () => {
    const headers = { "x-client-id": "fwd", "x-request-id": "1" };
    await request(followerSrv.url, "POST", "/v1/kv/once?op=append", { body: "a", headers });
    await request(leaderSrv.url, "POST", "/v1/kv/once?op=append", { body: "a", headers });
    assert.equal(Buffer.from(leader.sm.get("once") ?? []).toString(), "a");
  });

  it("forwarding keeps the client's credentials; a client's forwarded-by header means nothing", async () => {
    leaderSaw.length = 0;
    const headers = { authorization: "Bearer t0ken", "x-raftwork-forwarded-by": "9" };
    await request(leaderSrv.url, "PUT", "/v1/kv/cred", { body: "v" });
    const r = await request(followerSrv.url, "GET", "/v1/kv/cred", { headers });
    assert.equal(r.status, 200, "still forwarded: the header is not a member's");
    assert.equal(r.body, "v");
    const relayed = leaderSaw.find(
      (s) => s.url === "/v1/kv/cred" && s.headers["x-raftwork-member"],
    );
    assert.equal(relayed?.headers.authorization, "Bearer t0ken");
    // Straight to the leader, the header does not open the internal routes.
    const forged = await request(leaderSrv.url, "POST", FORWARD_PATH, { body: "x", headers });
    assert.equal(forged.status, 403);
  });

  it("a follower that has no handshake with the leader (no secret) answers 503", async () => {
    const lonely = new FakeService(4, 1);
    const known = new PeerAddresses();
    known.set(1, leaderSrv.url);
    const srv = await serve(lonely, {
      peerHttp: known.lookup,
      members: new MemberLink({ peerSecret: () => undefined }),
    });
    try {
      const w = await request(srv.url, "PUT", "/v1/kv/lonely", { body: "v" });
      assert.equal(w.status, 503);
      assert.match(w.body, /no Raft handshake with leader 1/);
      const g = await request(srv.url, "GET", "/v1/kv/lonely");
      assert.equal(g.status, 503);
      assert.equal(leader.sm.get("lonely"), undefined);
    } finally {
      await srv.close();
    }
  });

  it("never forwards twice (a follower pointing at a follower answers 503)", async () => {
    const r = await request(otherSrv.url, "PUT", "/v1/kv/loop", { body: "v" });
    assert.equal(r.status, 503);
    assert.equal(leader.sm.get("loop"), undefined);
  });

  it("503 with no leader known or an unreachable leader; 504 when the leader hangs", async () => {
    try {
      follower.leader = null;
      const none = await request(followerSrv.url, "PUT", "/v1/kv/u", { body: "v" });
      assert.equal(none.status, 503);
      assert.match(none.body, /no leader known/);
      follower.leader = 1;
      followerKnows.set(1, null);
      const unknown = await request(followerSrv.url, "PUT", "/v1/kv/u", { body: "v" });
      assert.equal(unknown.status, 503);
      assert.match(unknown.body, /address is not known/);
      followerKnows.set(1, `127.0.0.1:${await deadPort()}`);
      assert.equal((await request(followerSrv.url, "PUT", "/v1/kv/u", { body: "v" })).status, 503);
      assert.equal((await request(followerSrv.url, "GET", "/v1/kv/u")).status, 503);
      followerKnows.set(1, leaderSrv.url);
      leader.hang = true;
      const r = await request(followerSrv.url, "PUT", "/v1/kv/u", { body: "v" });
      assert.equal(r.status, 504);
    } finally {
      follower.leader = 1;
      followerKnows.set(1, leaderSrv.url);
      leader.hang = false;
    }
  });
});
