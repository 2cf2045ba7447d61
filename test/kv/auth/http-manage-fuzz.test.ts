// Random bodies to the auth routes (POST /v1/auth/VERB, /v1/auth/authenticate) and random
// bearer tokens on the KV routes: the server never crashes, answers each with a status the
// routes document and a JSON error, and refuses everything once auth is on and the caller is
// nobody.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { createKvHttpServer, type KvHttpServer } from "../../../src/kv/http-api.js";
import { FakeService, request } from "../fake-service.js";

const CODES = new Set([200, 400, 401, 403, 404, 405, 409, 413]);
const VERBS = [
  "authenticate",
  "enable",
  "disable",
  "user-add",
  "user-delete",
  "user-passwd",
  "user-get",
  "user-list",
  "user-grant-role",
  "user-revoke-role",
  "role-add",
  "role-delete",
  "role-get",
  "role-list",
  "role-grant-permission",
  "role-revoke-permission",
  "nope",
];

describe("auth routes under random requests", () => {
  let svc: FakeService;
  let server: KvHttpServer;
  before(async () => {
    svc = new FakeService(1, 1);
    server = await createKvHttpServer("127.0.0.1", 0, { service: svc, sm: svc.sm, id: 1 });
  });
  after(() => server.close());

  it("answers every request with a documented status and a JSON error, and never crashes", async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1e9);
    console.log(`# auth http fuzz seed=${seed}`);
    const value = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom("root", "alice", "read", "write", "readwrite", "", "\u0000"),
      fc.boolean(),
      fc.integer(),
      fc.constant(null),
    );
    const body = fc.oneof(
      fc
        .dictionary(
          fc.constantFrom(
            "name",
            "password",
            "role",
            "type",
            "key",
            "rangeEnd",
            "prefix",
            "fromKey",
            "noPassword",
          ),
          value,
          { maxKeys: 6 },
        )
        .map((o) => JSON.stringify(o)),
      fc.constantFrom("", "{", "[]", "null", '"x"', "{}"),
      fc.string({ maxLength: 30 }),
    );
    const reqArb = fc.record({
      method: fc.constantFrom("POST", "POST", "POST", "GET", "PUT"),
      verb: fc.constantFrom(...VERBS),
      body,
      token: fc.option(fc.oneof(fc.string({ maxLength: 40 }), fc.constant("a.b"))),
    });
    await fc.assert(
      fc.asyncProperty(reqArb, async (r) => {
        const headers: Record<string, string> =
          r.token === null ? {} : { authorization: `Bearer ${r.token}` };
        const a = await request(server.url, r.method, `/v1/auth/${r.verb}`, {
          body: r.body,
          headers,
        });
        assert.ok(CODES.has(a.status), `${r.method} ${r.verb} ${r.body}: ${a.status} ${a.body}`);
        const json = JSON.parse(a.body) as Record<string, unknown>;
        if (a.status !== 200) assert.equal(typeof json.error, "string", a.body);
      }),
      { seed, numRuns: 300 },
    );
    // Whatever the run did, a server with auth on refuses a stranger everywhere.
    if (!svc.sm.auth.enabled) {
      for (const [verb, b] of [
        ["user-add", { name: "root", password: "x" }],
        ["user-grant-role", { name: "root", role: "root" }],
        ["enable", {}],
      ] as const) {
        await request(server.url, "POST", `/v1/auth/${verb}`, { body: JSON.stringify(b) });
      }
    }
    assert.equal(svc.sm.auth.enabled, true);
    for (const [method, path] of [
      ["GET", "/v1/kv/a"],
      ["PUT", "/v1/kv/a"],
      ["GET", "/v1/kv?prefix="],
      ["POST", "/v1/auth/user-add"],
      ["POST", "/v1/auth/user-list"],
    ] as const) {
      const a = await request(server.url, method, path, { body: '{"name":"x","password":"y"}' });
      assert.ok(a.status === 401 || a.status === 403, `${method} ${path}: ${a.status}`);
    }
  });
});
