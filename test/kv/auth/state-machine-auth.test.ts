import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Packr } from "msgpackr";
import { READ, READWRITE } from "../../../src/kv/auth/permissions.js";
import type { AuthRequest } from "../../../src/kv/auth/store.js";
import { type Command, decodeCommand, encodeCommand } from "../../../src/kv/commands.js";
import { MvccStore, snapshotChunks } from "../../../src/kv/mvcc/index.js";
import { type KvResult, KvStateMachine } from "../../../src/kv/state-machine.js";

const T0 = 1_700_000_000_000;
const b = (s: string) => Buffer.from(s);
const KEY = new Uint8Array(32).fill(7);

function harness() {
  const sm = new KvStateMachine();
  let index = 0;
  const apply = (cmd: Command): KvResult =>
    sm.apply({ index: ++index, term: 1, type: "normal", data: encodeCommand(cmd) });
  const auth = (req: AuthRequest, user?: string) =>
    apply({ op: "auth", ts: T0, req, ...(user ? { user } : {}) });
  const put = (key: string, user?: string) =>
    apply({
      op: "etcd-put",
      ts: T0,
      req: { key: b(key), value: b("v") },
      ...(user ? { user } : {}),
    });
  return { sm, apply, auth, put };
}

const ok = { kind: "ok" };
const denied = (error: string) => ({ kind: "auth", error });
const kindOf = (r: KvResult) =>
  r.kind === "auth" ? { kind: r.kind, error: r.error } : { kind: r.kind };

/** root with the root role, alice with role "app" (readwrite on prefix "app/"), auth on. */
function withUsers() {
  const h = harness();
  for (const req of [
    { type: "user-add", name: "root", hash: "h-root" },
    { type: "role-add", name: "root" },
    { type: "user-grant", name: "root", role: "root" },
    { type: "user-add", name: "alice", hash: "h-alice" },
    { type: "role-add", name: "app" },
    {
      type: "role-grant",
      name: "app",
      perm: { type: READWRITE, key: b("app/"), rangeEnd: b("app0") },
    },
    { type: "user-grant", name: "alice", role: "app" },
    { type: "enable", key: KEY },
  ] as AuthRequest[]) {
    assert.deepEqual(kindOf(h.auth(req)), ok, JSON.stringify(req.type));
  }
  return h;
}

describe("auth in the state machine", () => {
  it("commands with a user and auth requests round-trip; old shapes still decode", () => {
    const cmds: Command[] = [
      {
        op: "auth",
        ts: T0,
        req: { type: "role-grant", name: "r", perm: { type: READ, key: b("a"), rangeEnd: b("") } },
      },
      { op: "etcd-put", ts: T0, req: { key: b("k"), value: b("v") }, user: "alice" },
      { op: "put", key: "k", ts: T0, value: b("v"), user: "bob" },
      {
        op: "put",
        key: "k",
        ts: T0,
        value: b("v"),
        user: "bob",
        session: { clientId: "c", requestId: 3 },
      },
      { op: "del", key: "k", ts: T0, session: { clientId: "c", requestId: 4 } },
    ];
    for (const c of cmds) assert.deepEqual(decodeCommand(encodeCommand(c)), c);
    const packr = new Packr({ useRecords: false });
    assert.equal(
      decodeCommand(packr.pack([1, T0, "k", b("v"), null, null, null, ""])),
      "malformed user",
    );
    assert.equal(decodeCommand(packr.pack([20, T0, { type: "nope" }])), "malformed auth request");
  });

  it("enabling needs a root user with the root role", () => {
    const h = harness();
    assert.deepEqual(kindOf(h.auth({ type: "enable", key: KEY })), denied("RootUserNotExist"));
    h.auth({ type: "user-add", name: "root", hash: "x" });
    assert.deepEqual(kindOf(h.auth({ type: "enable", key: KEY })), denied("RootRoleNotExist"));
    h.auth({ type: "user-grant", name: "root", role: "root" }); // root needs no role-add (etcd)
    assert.deepEqual(kindOf(h.auth({ type: "enable", key: KEY })), ok);
    assert.equal(h.sm.auth.enabled, true);
    assert.deepEqual(Buffer.from(h.sm.auth.key ?? []), Buffer.from(KEY));
  });

  it("with auth on, writes are checked when applied against the user they carry", () => {
    const h = withUsers();
    const rev = h.sm.revision;
    assert.deepEqual(kindOf(h.put("app/x", "alice")), { kind: "etcd" });
    assert.deepEqual(kindOf(h.put("other", "alice")), denied("PermissionDenied"));
    assert.deepEqual(kindOf(h.put("other")), denied("UserEmpty"));
    assert.deepEqual(kindOf(h.put("other", "mallory")), denied("PermissionDenied"));
    assert.deepEqual(kindOf(h.put("other", "root")), { kind: "etcd" });
    assert.equal(h.sm.revision, rev + 2, "refused writes change nothing");
    // The native API's writes too; a CAS also needs read (a mismatch returns the value).
    assert.deepEqual(
      kindOf(h.apply({ op: "put", key: "x", ts: T0, value: b("1"), user: "alice" })),
      denied("PermissionDenied"),
    );
    assert.deepEqual(
      kindOf(h.apply({ op: "append", key: "app/y", ts: T0, value: b("1"), user: "alice" })),
      ok,
    );
    // A txn needs every op of both branches and its compares.
    const txn = (user: string, key: string) =>
      h.apply({
        op: "etcd-txn",
        ts: T0,
        user,
        req: {
          compare: [],
          success: [{ put: { key: b("app/t"), value: b("1") } }],
          failure: [{ deleteRange: { key: b(key) } }],
        },
      });
    assert.deepEqual(kindOf(txn("alice", "app/u")), { kind: "etcd" });
    assert.deepEqual(kindOf(txn("alice", "elsewhere")), denied("PermissionDenied"));
  });

  it("the leader's auto-compaction runs with auth on; a client's compaction needs root", () => {
    const h = withUsers();
    for (let i = 0; i < 5; i++) h.put(`app/${i}`, "alice");
    const rev = h.sm.revision;
    assert.deepEqual(
      kindOf(h.apply({ op: "compact", ts: T0, revision: rev - 1 })),
      denied("UserEmpty"),
    );
    assert.deepEqual(
      kindOf(h.apply({ op: "compact", ts: T0, revision: rev - 1, user: "alice" })),
      denied("PermissionDenied"),
    );
    assert.deepEqual(kindOf(h.apply({ op: "compact", ts: T0, revision: rev - 1, auto: true })), {
      kind: "etcd",
    });
    assert.equal(h.sm.store.compactRevision, rev - 1);
    const c = { op: "compact" as const, ts: T0, revision: 3, auto: true as const };
    assert.deepEqual(decodeCommand(encodeCommand(c)), c);
  });

  it("a permission revoked before a write is applied refuses it (checked at apply, not only at arrival)", () => {
    const h = withUsers();
    assert.deepEqual(kindOf(h.put("app/a", "alice")), { kind: "etcd" });
    assert.deepEqual(
      kindOf(
        h.auth({ type: "role-revoke", name: "app", key: b("app/"), rangeEnd: b("app0") }, "root"),
      ),
      ok,
    );
    assert.deepEqual(kindOf(h.put("app/a", "alice")), denied("PermissionDenied"));
  });

  it("management needs root once auth is on, and keeps root and its role", () => {
    const h = withUsers();
    assert.deepEqual(
      kindOf(h.auth({ type: "role-add", name: "r2" }, "alice")),
      denied("PermissionDenied"),
    );
    assert.deepEqual(kindOf(h.auth({ type: "role-add", name: "r2" })), denied("UserEmpty"));
    assert.deepEqual(
      kindOf(h.auth({ type: "user-delete", name: "root" }, "root")),
      denied("InvalidAuthMgmt"),
    );
    assert.deepEqual(
      kindOf(h.auth({ type: "role-delete", name: "root" }, "root")),
      denied("InvalidAuthMgmt"),
    );
    assert.deepEqual(
      kindOf(h.auth({ type: "user-revoke", name: "root", role: "root" }, "root")),
      denied("InvalidAuthMgmt"),
    );
    assert.deepEqual(
      kindOf(h.auth({ type: "role-add", name: "app" }, "root")),
      denied("RoleAlreadyExist"),
    );
    assert.deepEqual(
      kindOf(h.auth({ type: "user-add", name: "alice", hash: "x" }, "root")),
      denied("UserAlreadyExist"),
    );
    assert.deepEqual(
      kindOf(h.auth({ type: "user-grant", name: "alice", role: "nope" }, "root")),
      denied("RoleNotFound"),
    );
    assert.deepEqual(
      kindOf(h.auth({ type: "user-grant", name: "nobody", role: "app" }, "root")),
      denied("UserNotFound"),
    );
    assert.deepEqual(
      kindOf(h.auth({ type: "user-revoke", name: "alice", role: "root" }, "root")),
      denied("RoleNotGranted"),
    );
    assert.deepEqual(
      kindOf(h.auth({ type: "role-revoke", name: "app", key: b("zz"), rangeEnd: b("") }, "root")),
      denied("PermissionNotGranted"),
    );
    // Deleting a role takes it from its users; a password change moves the user's generation.
    const gen = h.sm.auth.user("alice")?.generation;
    assert.deepEqual(
      kindOf(h.auth({ type: "user-passwd", name: "alice", hash: "h2" }, "root")),
      ok,
    );
    assert.equal(h.sm.auth.user("alice")?.generation, (gen ?? 0) + 1);
    assert.deepEqual(kindOf(h.auth({ type: "role-delete", name: "app" }, "root")), ok);
    assert.deepEqual(h.sm.auth.user("alice")?.roles, []);
    assert.deepEqual(kindOf(h.auth({ type: "disable" }, "alice")), denied("PermissionDenied"));
    assert.deepEqual(kindOf(h.auth({ type: "disable" }, "root")), ok);
    assert.equal(h.sm.auth.key, null);
    assert.deepEqual(kindOf(h.put("anything")), { kind: "etcd" }, "auth off: no checks");
  });

  it("the auth state is in snapshots and survives restore on another member", () => {
    const h = withUsers();
    const snap = h.sm.snapshot();
    const other = new KvStateMachine();
    other.restore(snap);
    assert.equal(other.auth.enabled, true);
    assert.deepEqual(other.auth.userNames(), ["alice", "root"]);
    assert.deepEqual(other.auth.roleNames(), ["app", "root"]);
    assert.equal(other.auth.user("alice")?.hash, "h-alice");
    assert.deepEqual(Buffer.from(other.auth.key ?? []), Buffer.from(KEY));
    assert.equal(other.auth.check("alice", [{ access: "write", key: b("app/q") }]), null);
    assert.equal(other.auth.check("alice", [{ access: "write", key: b("q") }]), "PermissionDenied");
    assert.deepEqual(Buffer.from(other.snapshot()), Buffer.from(snap), "same state, same bytes");
  });

  it("a snapshot from before auth restores with auth off and no users", () => {
    const h = withUsers();
    const packr = new Packr({ useRecords: false, mapsAsObjects: true });
    const old = Buffer.concat([
      ...snapshotChunks(new MvccStore(), { extras: [["kv-sessions", packr.pack([T0, []])]] }),
    ]);
    h.sm.restore(old);
    assert.equal(h.sm.auth.enabled, false);
    assert.deepEqual(h.sm.auth.userNames(), []);
    assert.deepEqual(kindOf(h.put("x")), { kind: "etcd" });
  });
});
