// Random requests never crash the server, always get a contract status code with a JSON error
// body, and leave the state untouched unless they were accepted.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { createKvHttpServer, type KvHttpServer } from "../../src/kv/http-api.js";
import { FakeService, request } from "./fake-service.js";

const CONTRACT_CODES = new Set([200, 400, 404, 405, 409, 413]);

describe("KV HTTP API under random requests", () => {
  let svc: FakeService;
  let server: KvHttpServer;
  before(async () => {
    svc = new FakeService(1, 1);
    server = await createKvHttpServer("127.0.0.1", 0, { service: svc, sm: svc.sm, id: 1 });
  });
  after(() => server.close());

  it("answers every request with a contract status and never crashes", async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    console.log(`# http fuzz seed=${seed}`);
    // Path pieces biased towards the API's own shapes so the deep branches get hit.
    const segment = fc.oneof(
      fc.constantFrom(
        "v1",
        "kv",
        "status",
        "metrics",
        "",
        "%",
        "%2F",
        "%ZZ",
        "%C3%28",
        "%E2%82%AC",
      ),
      fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,12}$/),
    );
    const query = fc.oneof(
      fc.constant(""),
      fc.constantFrom("?op=append", "?op=cas", "?op=", "?op=x", "?prefix=a&limit=2", "?limit=0"),
      fc.stringMatching(/^\?[A-Za-z0-9=&%]{0,16}$/),
    );
    const reqArb = fc.record({
      method: fc.constantFrom("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"),
      path: fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join("/")}`),
      query,
      body: fc.oneof(
        fc.string({ maxLength: 20 }),
        fc.constantFrom('{"expect":null,"value":"v"}', '{"expect":"v","value":"w"}', "{", "null"),
        fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b)),
      ),
      session: fc.option(
        fc.tuple(
          fc.constantFrom("c", "", "x".repeat(200)),
          fc.constantFrom("1", "2", "0", "-1", "1e3"),
        ),
      ),
    });
    await fc.assert(
      fc.asyncProperty(reqArb, async (r) => {
        const headers: Record<string, string> = r.session
          ? { "x-client-id": r.session[0], "x-request-id": r.session[1] }
          : {};
        const before = svc.proposals;
        const reply = await request(server.url, r.method, `${r.path}${r.query}`, {
          body: r.body,
          headers,
        });
        assert.ok(CONTRACT_CODES.has(reply.status), `${reply.status} for ${JSON.stringify(r)}`);
        if (reply.status !== 200) {
          const error = JSON.parse(reply.body).error;
          assert.equal(typeof error, "string");
        }
        if (r.method === "GET") assert.equal(svc.proposals, before, "a GET proposed something");
      }),
      { seed, numRuns: 300 },
    );
    // Still serving.
    assert.equal((await request(server.url, "GET", "/v1/status")).status, 200);
  });
});
