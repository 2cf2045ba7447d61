import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { guardDashboard, SESSION_TTL_MS } from "../../../src/kv/auth/dashboard-login.js";
import { AuthGate } from "../../../src/kv/auth/gate.js";
import { SESSION_COOKIE } from "../../../src/kv/auth/http.js";
import {
  hashesRunning,
  hashPassword,
  MAX_WAITING,
  PasswordBusyError,
  verifyPassword,
} from "../../../src/kv/auth/password.js";
import { AuthStore } from "../../../src/kv/auth/store.js";
import { signToken, verifyToken } from "../../../src/kv/auth/token.js";

const KEY = new Uint8Array(32).fill(1);

async function storeWith(enabled = true): Promise<AuthStore> {
  const s = new AuthStore();
  for (const r of [
    { type: "user-add", name: "root", hash: await hashPassword("rootpw") },
    { type: "user-grant", name: "root", role: "root" },
    { type: "user-add", name: "alice", hash: await hashPassword("alicepw") },
    { type: "user-add", name: "tls-only", hash: null },
  ] as const) {
    assert.ok(s.apply(r).ok);
  }
  if (enabled) assert.ok(s.apply({ type: "enable", key: KEY }).ok);
  return s;
}

describe("auth gate and tokens", () => {
  it("scrypt hashes are salted and check only the right password", async () => {
    const a = await hashPassword("pw");
    const b = await hashPassword("pw");
    assert.notEqual(a, b, "a fresh salt each time");
    assert.equal(await verifyPassword("pw", a), true);
    assert.equal(await verifyPassword("pW", a), false);
    assert.equal(
      await verifyPassword("pw", "scrypt$1048577$8$1$AA==$AA=="),
      false,
      "cost out of bounds",
    );
    assert.equal(await verifyPassword("pw", "plain"), false);
  });

  it("hashing runs off the event loop, at most two at a time", async () => {
    let ticks = 0;
    let most = 0;
    const timer = setInterval(() => {
      ticks++;
      most = Math.max(most, hashesRunning());
    }, 1);
    try {
      const all = Promise.all([1, 2, 3, 4, 5].map((i) => hashPassword(`pw${i}`)));
      most = Math.max(most, hashesRunning());
      await all;
    } finally {
      clearInterval(timer);
    }
    // Had the hashes run on the event loop, the timer could not have fired while they ran.
    assert.ok(ticks >= 3, `the event loop turned ${ticks} times during five hashes`);
    assert.equal(most, 2);
    assert.equal(hashesRunning(), 0);
  });

  it("a flood of password checks is refused past the queue, not held in memory", async () => {
    // A hash of the lowest cost keeps this fast; the bound is the same for every cost.
    const cheap = `scrypt$2$1$1$${Buffer.alloc(16).toString("base64")}$${Buffer.alloc(32).toString("base64")}`;
    const extra = 40;
    const all = await Promise.allSettled(
      Array.from({ length: 2 + MAX_WAITING + extra }, () => verifyPassword("x", cheap)),
    );
    const busy = all.filter(
      (r) => r.status === "rejected" && r.reason instanceof PasswordBusyError,
    );
    assert.equal(busy.length, extra);
    assert.equal(all.filter((r) => r.status === "fulfilled").length, 2 + MAX_WAITING);
    assert.equal(hashesRunning(), 0);
  });

  it("tokens: signed, expiring, bound to the key", () => {
    const t = signToken(KEY, { user: "alice", generation: 0, expiresAt: 2000 });
    assert.deepEqual(verifyToken(KEY, t, 1999), { user: "alice", generation: 0, expiresAt: 2000 });
    assert.equal(verifyToken(KEY, t, 2000), null, "expired");
    assert.equal(verifyToken(new Uint8Array(32).fill(2), t, 0), null, "another key");
    const [payload, mac] = t.split(".") as [string, string];
    const forged = Buffer.from(JSON.stringify({ u: "root", g: 0, e: 9e15 })).toString("base64url");
    assert.equal(verifyToken(KEY, `${forged}.${mac}`, 0), null, "payload swapped");
    assert.equal(verifyToken(KEY, `${payload}.`, 0), null);
    assert.equal(verifyToken(KEY, "x".repeat(5000), 0), null);
  });

  it("authenticate and identify: wrong passwords, password changes, re-enable, no-password users", async () => {
    let now = 1_000_000;
    const store = await storeWith();
    const gate = new AuthGate({ store, tokenTtlMs: 1000, now: () => now });
    assert.deepEqual(await gate.authenticate("alice", "nope"), { ok: false, error: "AuthFailed" });
    assert.deepEqual(await gate.authenticate("ghost", "x"), { ok: false, error: "AuthFailed" });
    assert.deepEqual(await gate.authenticate("tls-only", ""), { ok: false, error: "AuthFailed" });
    const r = await gate.authenticate("alice", "alicepw");
    assert.ok(r.ok);
    assert.deepEqual(gate.identify(r.value), { ok: true, value: "alice" });
    assert.deepEqual(gate.identify(undefined), { ok: true, value: undefined });
    now += 1000;
    assert.deepEqual(gate.identify(r.value), { ok: false, error: "InvalidAuthToken" }, "expired");
    const r2 = await gate.authenticate("alice", "alicepw");
    assert.ok(r2.ok);
    store.apply({ type: "user-passwd", name: "alice", hash: await hashPassword("new") });
    assert.deepEqual(
      gate.identify(r2.value),
      { ok: false, error: "InvalidAuthToken" },
      "password changed",
    );
    const r3 = await gate.authenticate("alice", "new");
    assert.ok(r3.ok);
    store.apply({ type: "disable" });
    assert.deepEqual(
      gate.identify(r3.value),
      { ok: true, value: undefined },
      "auth off: tokens ignored",
    );
    assert.deepEqual(await gate.authenticate("alice", "new"), {
      ok: false,
      error: "AuthNotEnabled",
    });
    store.apply({ type: "enable", key: new Uint8Array(32).fill(9) });
    assert.deepEqual(gate.identify(r3.value), { ok: false, error: "InvalidAuthToken" }, "new key");
  });

  it("the dashboard asks for a login with auth on, and sets an HttpOnly SameSite=Strict cookie", async () => {
    const store = await storeWith();
    const gate = new AuthGate({ store });
    const served: string[] = [];
    const inner = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!req.url?.startsWith("/ui")) return false;
      served.push(req.url);
      res.end("dashboard");
      return true;
    };
    const guarded = guardDashboard(inner, gate);
    const srv = http.createServer((req, res) => {
      if (!guarded(req, res)) {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      const page = await fetch(`${base}/ui`, { redirect: "manual" });
      assert.equal(page.status, 303);
      assert.equal(page.headers.get("location"), "/ui/login");
      assert.equal((await fetch(`${base}/ui/events`)).status, 401);
      assert.equal((await fetch(`${base}/ui/api/metrics`)).status, 401);
      assert.equal(
        (await fetch(`${base}/ui/api/node`)).status,
        200,
        "peers' status fetch stays open",
      );
      const form = await fetch(`${base}/ui/login`);
      assert.match(await form.text(), /<form method="post" action="\/ui\/login">/);
      const post = (body: string, headers: Record<string, string> = {}) =>
        fetch(`${base}/ui/login`, {
          method: "POST",
          redirect: "manual",
          body,
          headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        });
      const bad = await post("name=alice&password=wrong");
      assert.equal(bad.status, 401);
      assert.match(await bad.text(), /Wrong user name or password/);
      const foreign = await post("name=alice&password=alicepw", { origin: "http://evil.example" });
      assert.equal(foreign.status, 403);
      const crossSite = await post("name=alice&password=alicepw", {
        "sec-fetch-site": "cross-site",
      });
      assert.equal(crossSite.status, 403);
      const good = await post("name=alice&password=alicepw");
      assert.equal(good.status, 303);
      const setCookie = good.headers.get("set-cookie") ?? "";
      assert.match(
        setCookie,
        new RegExp(
          `^${SESSION_COOKIE}=[^;]+; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}$`,
        ),
      );
      const cookie = setCookie.split(";")[0] as string;
      const inside = await fetch(`${base}/ui`, { headers: { cookie } });
      assert.equal(await inside.text(), "dashboard");
      assert.equal((await fetch(`${base}/ui/events`, { headers: { cookie } })).status, 200);
      store.apply({ type: "disable" });
      assert.equal(await (await fetch(`${base}/ui`)).text(), "dashboard", "auth off: no login");
    } finally {
      srv.close();
    }
  });
});
