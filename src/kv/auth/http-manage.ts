// Auth management over the native HTTP API, for `raftwork kv auth|user|role` (README,
// "Security"): POST /v1/auth/VERB with a JSON body, VERB one of
//
//   enable, disable                                    {}
//   user-add        {name, password, noPassword?}      user-delete  {name}
//   user-passwd     {name, password}                   user-get     {name}   -> {roles}
//   user-grant-role {name, role}                       user-revoke-role {name, role}
//   user-list       {}  -> {users}                     role-list    {}       -> {roles}
//   role-add        {name}                             role-delete  {name}
//   role-get        {name}  -> {perms: [{type, key, rangeEnd}]}
//   role-grant-permission  {name, type: read|write|readwrite, key, rangeEnd? | prefix? | fromKey?}
//   role-revoke-permission {name, key, rangeEnd? | prefix? | fromKey?}
//
// the same calls, rules and errors as etcd's Auth service (manage.ts). Keys are UTF-8 text.
import type { EtcdCommand } from "../commands.js";
import { prefixEnd } from "../mvcc/index.js";
import type { KvResult } from "../state-machine.js";
import type { AuthErrorCode } from "./errors.js";
import type { AuthGate } from "./gate.js";
import { httpRefusal } from "./http.js";
import { buildRequest, canReadRole, canReadUser, MANAGE_VERBS, type ManageCall } from "./manage.js";
import { type PermType, READ, READWRITE, WRITE } from "./permissions.js";

export const MANAGE_PREFIX = "/v1/auth/";
/** Largest management body. */
export const MAX_MANAGE_BODY = 64 * 1024;

const PERM_TYPES: Record<string, PermType> = { read: READ, write: WRITE, readwrite: READWRITE };
const PERM_NAMES = ["read", "write", "readwrite"];

export interface ManageContext {
  gate: AuthGate;
  /** The caller's user (undefined: none, or auth off). */
  user: string | undefined;
  /** Proposes through Raft; rejects as RaftService.propose does (NotLeaderError: forward). */
  propose: (cmd: EtcdCommand) => Promise<KvResult>;
  readBarrier: () => Promise<void>;
  now: () => number;
}

export interface ManageAnswer {
  status: number;
  body: unknown;
}

const bad = (message: string): ManageAnswer => ({ status: 400, body: { error: message } });
const refused = (code: AuthErrorCode): ManageAnswer => {
  const r = httpRefusal(code);
  return { status: r.status, body: JSON.parse(r.body) };
};

/** The range a body names: rangeEnd as given, or the prefix's end, or everything from key. */
function rangeOf(o: Record<string, unknown>, key: Buffer): Buffer | string {
  if (o.prefix === true) return key.length === 0 ? Buffer.from([0]) : Buffer.from(prefixEnd(key));
  if (o.fromKey === true) return Buffer.from([0]);
  if (o.rangeEnd === undefined) return Buffer.alloc(0);
  if (typeof o.rangeEnd !== "string") return "rangeEnd must be a string";
  return Buffer.from(o.rangeEnd, "utf8");
}

function parseCall(verb: string, o: Record<string, unknown>): ManageCall | string {
  const s = (name: string): string | null =>
    typeof o[name] === "string" ? (o[name] as string) : null;
  const need = (...names: string[]) => {
    for (const n of names) if (s(n) === null) return `"${n}" must be a string`;
    return null;
  };
  switch (verb) {
    case "enable":
    case "disable":
      return { verb };
    case "user-add": {
      const noPassword = o.noPassword === true;
      const e = need("name", ...(noPassword ? [] : ["password"]));
      if (e) return e;
      return { verb, name: s("name") as string, password: s("password") ?? "", noPassword };
    }
    case "user-passwd":
      return (
        need("name", "password") ?? {
          verb,
          name: s("name") as string,
          password: s("password") as string,
        }
      );
    case "user-grant-role":
    case "user-revoke-role":
      return need("name", "role") ?? { verb, name: s("name") as string, role: s("role") as string };
    case "user-delete":
    case "role-add":
    case "role-delete":
      return need("name") ?? { verb, name: s("name") as string };
    case "role-grant-permission":
    case "role-revoke-permission": {
      const e = need("name", "key");
      if (e) return e;
      const key = Buffer.from(s("key") as string, "utf8");
      const rangeEnd = rangeOf(o, key);
      if (typeof rangeEnd === "string") return rangeEnd;
      const name = s("name") as string;
      if (verb === "role-revoke-permission") return { verb, name, key, rangeEnd };
      const type = PERM_TYPES[s("type") ?? ""];
      if (type === undefined) return `"type" must be read, write or readwrite`;
      return { verb, name, perm: { type, key, rangeEnd } };
    }
    default:
      return `unknown auth call "${verb}"`;
  }
}

/** Serves POST /v1/auth/VERB (the body already read). */
export async function serveManagement(
  c: ManageContext,
  verb: string,
  body: Buffer,
): Promise<ManageAnswer> {
  let o: unknown = {};
  if (body.length > 0) {
    try {
      o = JSON.parse(body.toString("utf8"));
    } catch {
      return bad("body must be a JSON object");
    }
  }
  if (typeof o !== "object" || o === null || Array.isArray(o))
    return bad("body must be a JSON object");
  const args = o as Record<string, unknown>;
  const store = c.gate.store;
  const name = typeof args.name === "string" ? args.name : "";
  switch (verb) {
    case "user-list":
    case "role-list": {
      await c.readBarrier(); // then the check, on state as new as the answer
      const e = store.checkAdmin(c.user);
      if (e !== null) return refused(e);
      return {
        status: 200,
        body: verb === "user-list" ? { users: store.userNames() } : { roles: store.roleNames() },
      };
    }
    case "user-get": {
      await c.readBarrier();
      const e = canReadUser(store, c.user, name);
      if (e !== null) return refused(e);
      const u = store.user(name);
      return u === undefined
        ? refused("UserNotFound")
        : { status: 200, body: { name, roles: u.roles } };
    }
    case "role-get": {
      await c.readBarrier();
      const e = canReadRole(store, c.user, name);
      if (e !== null) return refused(e);
      const r = store.role(name);
      if (r === undefined) return refused("RoleNotFound");
      const perms = r.perms.map((p) => ({
        type: PERM_NAMES[p.type],
        key: Buffer.from(p.key).toString("utf8"),
        rangeEnd: Buffer.from(p.rangeEnd).toString("utf8"),
      }));
      return { status: 200, body: { name, perms } };
    }
  }
  if (!MANAGE_VERBS.has(verb))
    return { status: 404, body: { error: `unknown auth call "${verb}"` } };
  const admin = store.checkAdmin(c.user); // before any hashing: no work for strangers
  if (admin !== null) return refused(admin);
  const call = parseCall(verb, args);
  if (typeof call === "string") return bad(call);
  const built = await buildRequest(call);
  if (!built.ok) return refused(built.error);
  const cmd: EtcdCommand = { op: "auth", ts: c.now(), req: built.value };
  if (c.user !== undefined) cmd.user = c.user;
  const r = await c.propose(cmd);
  if (r.kind === "auth") return refused(r.error);
  if (r.kind !== "ok") return { status: 500, body: { error: `unexpected result ${r.kind}` } };
  return { status: 200, body: { revision: r.revision } };
}
