// Batched forwarding of writes (src/kv/forward-batch.ts): one HTTP request per batch, an answer
// per item in order, strict validation on the leader's side.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { Packr } from "msgpackr";
import type { KvCommand } from "../../src/kv/commands.js";
import {
  FORWARD_PATH,
  type ForwardedWrite,
  parseForwardBatch,
  WriteForwarder,
} from "../../src/kv/forward-batch.js";
import { createKvHttpServer, FORWARDED_HEADER, type KvHttpServer } from "../../src/kv/http-api.js";
import { MEMBER_HEADER } from "../../src/kv/member-link.js";
import { FakeService, MemberRoster, request, serverAddress } from "./fake-service.js";

const packr = new Packr({ useRecords: false });
const bytes = (s: string) => Buffer.from(s);

describe("batched forwarding of writes", () => {
  let leader: FakeService;
  let srv: KvHttpServer;
  let batches = 0;
  const roster = new MemberRoster();
  const forwarder = new WriteForwarder({
    link: roster.link(2),
    from: "2",
    headerName: FORWARDED_HEADER,
    timeoutMs: 2000,
  });

  before(async () => {
    leader = new FakeService(1, 1);
    srv = await createKvHttpServer("127.0.0.1", 0, {
      service: leader,
      sm: leader.sm,
      id: 1,
      members: roster.link(1),
    });
    srv.server.on("request", (req: http.IncomingMessage) => {
      if (req.url === FORWARD_PATH) batches++;
    });
  });
  after(async () => {
    roster.link(2).close();
    await srv.close();
  });

  it("sends the writes of one turn as one request and answers each in order", async () => {
    const target = serverAddress(srv);
    const before = batches;
    const cmds: KvCommand[] = [
      { op: "put", key: "a", ts: 0, value: bytes("1") },
      { op: "append", key: "a", ts: 0, value: bytes("2") },
      { op: "cas", key: "a", ts: 0, expect: bytes("nope"), value: bytes("3") },
      { op: "put", key: "s", ts: 0, value: bytes("x"), session: { clientId: "c", requestId: 5 } },
      { op: "put", key: "s", ts: 0, value: bytes("y"), session: { clientId: "c", requestId: 4 } },
      { op: "del", key: "gone", ts: 0 },
    ];
    const answers = await Promise.all(cmds.map((cmd) => forwarder.forward(1, target, { cmd })));
    assert.equal(batches - before, 1, "one HTTP request for the whole turn");
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 409, 200, 400, 200],
    );
    assert.equal(JSON.parse(answers[2]?.body.toString() ?? "").current, "12");
    assert.match(answers[4]?.body.toString() ?? "", /stale X-Request-Id/);
    assert.equal(Buffer.from(leader.sm.get("a") ?? []).toString(), "12");
    assert.equal(Buffer.from(leader.sm.get("s") ?? []).toString(), "x");
  });

  it("items carry a token only when there is one (a leader from before auth reads the rest)", async () => {
    const bodies: Buffer[] = [];
    const capture = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        bodies.push(Buffer.concat(chunks));
        res.end(
          packr.pack([
            [200, "text/plain", Buffer.alloc(0)],
            [200, "text/plain", Buffer.alloc(0)],
          ]),
        );
      });
    });
    await new Promise<void>((r) => capture.listen(0, "127.0.0.1", r));
    try {
      const port = (capture.address() as { port: number }).port;
      const target = { host: "127.0.0.1", port };
      await Promise.all([
        forwarder.forward(1, target, { cmd: { op: "del", key: "a", ts: 0 } }),
        forwarder.forward(1, target, { cmd: { op: "del", key: "b", ts: 0 }, token: "tok" }),
      ]);
      const items = packr.unpack(bodies[0] as Buffer) as unknown[][];
      assert.deepEqual(
        items.map((i) => i.length),
        [6, 7],
      );
      assert.equal(items[1]?.[6], "tok");
    } finally {
      capture.close();
    }
  });

  it("starts a new batch past 1 MiB of values", async () => {
    const target = serverAddress(srv);
    const before = batches;
    const big = Buffer.alloc(400 * 1024, 0x61);
    const answers = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        forwarder.forward(1, target, { cmd: { op: "put", key: `b${i}`, ts: 0, value: big } }),
      ),
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200, 200],
    );
    assert.equal(batches - before, 2);
  });

  it("the leader's route refuses requests that are not a member's, and malformed batches", async () => {
    const h = { [FORWARDED_HEADER]: "2", [MEMBER_HEADER]: roster.link(1).secret };
    const ok = packr.pack([[1, "forged", bytes("v"), null, null, null]]);
    const proposed = leader.proposals;
    // No proof, a forged forwarded-by header, a wrong secret: refused, nothing proposed.
    for (const headers of <Record<string, string>[]>[
      {},
      { [FORWARDED_HEADER]: "2" },
      { [FORWARDED_HEADER]: "2", [MEMBER_HEADER]: roster.link(2).secret },
      { [FORWARDED_HEADER]: "2", [MEMBER_HEADER]: "" },
    ]) {
      const r = await request(srv.url, "POST", FORWARD_PATH, { body: ok, headers });
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.match(r.body, /only members/);
    }
    assert.equal(leader.proposals, proposed);
    assert.equal(leader.sm.get("forged"), undefined);
    assert.equal((await request(srv.url, "GET", FORWARD_PATH, { headers: h })).status, 405);
    const garbage = await request(srv.url, "POST", FORWARD_PATH, { body: "\xc1", headers: h });
    assert.equal(garbage.status, 400);
    const proposals = leader.proposals;
    const half = packr.pack([
      [1, "k", bytes("v"), null, null, null],
      [1, "k", bytes("v"), null, "c", null],
    ]);
    const r = await request(srv.url, "POST", FORWARD_PATH, { body: half, headers: h });
    assert.equal(r.status, 400);
    assert.match(r.body, /item 1: bad request id/);
    assert.equal(leader.proposals, proposals, "nothing of a malformed batch is proposed");
  });

  it("validates every field of every item", () => {
    const ok = [1, "k", bytes("v"), null, null, null];
    assert.equal(typeof parseForwardBatch(packr.pack([ok]), 7), "object");
    assert.equal((parseForwardBatch(packr.pack([ok]), 7) as ForwardedWrite[])[0]?.cmd.ts, 7);
    const withToken = parseForwardBatch(packr.pack([[...ok, "tok"]]), 7) as ForwardedWrite[];
    assert.equal(withToken[0]?.token, "tok");
    const bad: [unknown, RegExp][] = [
      [[], /non-empty/],
      [[[9, "k", bytes("v"), null, null, null]], /unknown op/],
      [[[1, "", bytes("v"), null, null, null]], /bad key/],
      [[[1, "k".repeat(1025), bytes("v"), null, null, null]], /bad key/],
      [[[1, "k", Buffer.from([0xff]), null, null, null]], /bad value/],
      [[[1, "k", Buffer.alloc(1024 * 1024 + 1), null, null, null]], /bad value/],
      [[[2, "k", bytes("v"), null, null, null]], /bad delete/],
      [[[1, "k", bytes("v"), bytes("e"), null, null]], /bad expect/],
      [[[4, "k", bytes("v"), 5, null, null]], /bad expect/],
      [[[1, "k", bytes("v"), null, "c".repeat(129), 1]], /bad client id/],
      [[[1, "k", bytes("v"), null, "c", 0]], /bad request id/],
      [[[1, "k", bytes("v"), null, null, null, 5]], /bad token/],
      [[[1, "k", bytes("v"), null, null, null, "t".repeat(5000)]], /bad token/],
      [[[1, "k", bytes("v"), null]], /6-element/],
    ];
    for (const [batch, want] of bad) {
      const r = parseForwardBatch(packr.pack(batch), 0);
      assert.equal(typeof r, "string", JSON.stringify(batch).slice(0, 80));
      assert.match(r as string, want);
    }
  });
});
