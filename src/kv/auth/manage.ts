// Auth management as both APIs offer it (etcd's Auth service over gRPC, POST /v1/auth/VERB
// over HTTP): turning a call into the replicated command (names checked, the password hashed
// here, the signing key drawn here, never in apply) and the read rules etcd has (a user may
// read its own record and the roles it holds; everything else needs the root role).
import { randomBytes } from "node:crypto";
import type { AuthErrorCode, AuthResult } from "./errors.js";
import { hashPassword, PasswordBusyError } from "./password.js";
import type { Permission } from "./permissions.js";
import type { AuthRequest, AuthStore } from "./store.js";

export type ManageCall =
  | { verb: "enable" }
  | { verb: "disable" }
  | { verb: "user-add"; name: string; password: string; noPassword?: boolean }
  | { verb: "user-delete"; name: string }
  | { verb: "user-passwd"; name: string; password: string }
  | { verb: "user-grant-role"; name: string; role: string }
  | { verb: "user-revoke-role"; name: string; role: string }
  | { verb: "role-add"; name: string }
  | { verb: "role-delete"; name: string }
  | { verb: "role-grant-permission"; name: string; perm: Permission }
  | { verb: "role-revoke-permission"; name: string; key: Uint8Array; rangeEnd: Uint8Array };

export const MANAGE_VERBS: ReadonlySet<string> = new Set([
  "enable",
  "disable",
  "user-add",
  "user-delete",
  "user-passwd",
  "user-grant-role",
  "user-revoke-role",
  "role-add",
  "role-delete",
  "role-grant-permission",
  "role-revoke-permission",
]);

/** The command for `call` (async: a password is hashed off the event loop). */
export async function buildRequest(call: ManageCall): Promise<AuthResult<AuthRequest>> {
  try {
    return await build(call);
  } catch (e) {
    if (e instanceof PasswordBusyError) return { ok: false, error: "TooManyRequests" };
    throw e;
  }
}

async function build(call: ManageCall): Promise<AuthResult<AuthRequest>> {
  const ok = (value: AuthRequest): AuthResult<AuthRequest> => ({ ok: true, value });
  switch (call.verb) {
    case "enable":
      return ok({ type: "enable", key: randomBytes(32) });
    case "disable":
      return ok({ type: "disable" });
    case "user-add":
      if (call.name === "") return { ok: false, error: "UserEmpty" };
      return ok({
        type: "user-add",
        name: call.name,
        hash: call.noPassword ? null : await hashPassword(call.password),
      });
    case "user-delete":
      return ok({ type: "user-delete", name: call.name });
    case "user-passwd":
      return ok({ type: "user-passwd", name: call.name, hash: await hashPassword(call.password) });
    case "user-grant-role":
      return ok({ type: "user-grant", name: call.name, role: call.role });
    case "user-revoke-role":
      return ok({ type: "user-revoke", name: call.name, role: call.role });
    case "role-add":
      if (call.name === "") return { ok: false, error: "RoleEmpty" };
      return ok({ type: "role-add", name: call.name });
    case "role-delete":
      return ok({ type: "role-delete", name: call.name });
    case "role-grant-permission":
      return ok({ type: "role-grant", name: call.name, perm: call.perm });
    case "role-revoke-permission":
      return ok({ type: "role-revoke", name: call.name, key: call.key, rangeEnd: call.rangeEnd });
  }
}

/** Whether `caller` may read user `name` (its own record, or root); null if it may. */
export function canReadUser(
  store: AuthStore,
  caller: string | undefined,
  name: string,
): AuthErrorCode | null {
  if (caller !== undefined && caller === name) return null;
  return store.checkAdmin(caller);
}

/** Whether `caller` may read role `role` (a role it holds, or root); null if it may. */
export function canReadRole(
  store: AuthStore,
  caller: string | undefined,
  role: string,
): AuthErrorCode | null {
  if (caller !== undefined && store.hasRole(caller, role)) return null;
  return store.checkAdmin(caller);
}
