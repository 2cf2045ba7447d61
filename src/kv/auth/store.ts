// The replicated auth state of etcd's model (etcd's auth/store.go): users with scrypt hashes
// and roles, roles with permissions, the enabled flag, and the key that signs tokens. It
// changes only through apply(), from commands in the log, so every member holds the same
// state at the same index; it is part of the KV snapshot (state-machine.ts, section
// "kv-auth"). Pure: no clock, no randomness, no hashing (hashes and the token key arrive in
// the commands, made where the request came in).
import { Packr } from "msgpackr";
import type { AuthErrorCode, AuthResult } from "./errors.js";
import {
  allows,
  type MergedPermissions,
  mergePermissions,
  type Need,
  type Permission,
  type PermType,
} from "./permissions.js";

export const ROOT = "root";

/** An auth management command, as it travels in the log (commands.ts op "auth"). */
export type AuthRequest =
  /** `key`: the token-signing key the proposer drew (32 random bytes). */
  | { type: "enable"; key: Uint8Array }
  | { type: "disable" }
  /** `hash`: password.ts's encoding; null for etcd's no-password users (TLS identity only). */
  | { type: "user-add"; name: string; hash: string | null }
  | { type: "user-delete"; name: string }
  | { type: "user-passwd"; name: string; hash: string }
  | { type: "user-grant"; name: string; role: string }
  | { type: "user-revoke"; name: string; role: string }
  | { type: "role-add"; name: string }
  | { type: "role-delete"; name: string }
  | { type: "role-grant"; name: string; perm: Permission }
  | { type: "role-revoke"; name: string; key: Uint8Array; rangeEnd: Uint8Array };

export interface User {
  name: string;
  hash: string | null;
  /** Sorted. */
  roles: string[];
  /** Bumped by a password change: tokens issued before it stop working. */
  generation: number;
}

export interface Role {
  name: string;
  /** Sorted by key (etcd's order), one per (key, rangeEnd). */
  perms: Permission[];
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

const fail = <T>(error: AuthErrorCode): AuthResult<T> => ({ ok: false, error });
const done: AuthResult<void> = { ok: true, value: undefined };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

export class AuthStore {
  private _enabled = false;
  private _key: Uint8Array | null = null;
  /** Bumped by every change (etcd's auth revision). */
  private _revision = 0;
  private readonly users = new Map<string, User>();
  private readonly roles = new Map<string, Role>();
  /** Users' merged permissions, rebuilt lazily after a change; "root" for root users. */
  private cache = new Map<string, MergedPermissions | "root">();

  get enabled(): boolean {
    return this._enabled;
  }
  /** The token-signing key while auth is enabled. */
  get key(): Uint8Array | null {
    return this._key;
  }
  get revision(): number {
    return this._revision;
  }

  user(name: string): User | undefined {
    return this.users.get(name);
  }
  role(name: string): Role | undefined {
    return this.roles.get(name);
  }
  userNames(): string[] {
    return [...this.users.keys()].sort();
  }
  roleNames(): string[] {
    return [...this.roles.keys()].sort();
  }

  /** Whether `user` holds the root role. */
  isRoot(user: string): boolean {
    return this.users.get(user)?.roles.includes(ROOT) === true;
  }

  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) === true;
  }

  /**
   * Whether `user` (undefined: the request named none) may make a request touching `needs`;
   * null when allowed. Always allowed while auth is disabled.
   */
  check(user: string | undefined, needs: readonly Need[]): AuthErrorCode | null {
    if (!this._enabled) return null;
    if (user === undefined || user === "") return "UserEmpty";
    const merged = this.merged(user);
    if (merged === undefined) return "PermissionDenied";
    if (merged === "root") return null;
    return allows(merged, needs) ? null : "PermissionDenied";
  }

  /** Whether `user` may manage the cluster (etcd's IsAdminPermitted); null when allowed. */
  checkAdmin(user: string | undefined): AuthErrorCode | null {
    if (!this._enabled) return null;
    if (user === undefined || user === "") return "UserEmpty";
    const u = this.users.get(user);
    if (u === undefined) return "UserNotFound";
    return u.roles.includes(ROOT) ? null : "PermissionDenied";
  }

  /** Whether `user` is a known user (any request beyond KV ranges asks only this). */
  checkUser(user: string | undefined): AuthErrorCode | null {
    if (!this._enabled) return null;
    if (user === undefined || user === "") return "UserEmpty";
    return this.users.has(user) ? null : "PermissionDenied";
  }

  private merged(user: string): MergedPermissions | "root" | undefined {
    const hit = this.cache.get(user);
    if (hit !== undefined) return hit;
    const u = this.users.get(user);
    if (u === undefined) return undefined;
    let m: MergedPermissions | "root";
    if (u.roles.includes(ROOT)) m = "root";
    else m = mergePermissions(u.roles.flatMap((r) => this.roles.get(r)?.perms ?? []));
    this.cache.set(user, m);
    return m;
  }

  /** Applies one management command (etcd's semantics and errors). Deterministic. */
  apply(req: AuthRequest): AuthResult<void> {
    const r = this.run(req);
    if (r.ok) {
      this._revision++;
      this.cache = new Map();
    }
    return r;
  }

  private run(req: AuthRequest): AuthResult<void> {
    switch (req.type) {
      case "enable": {
        if (this._enabled) return done;
        const root = this.users.get(ROOT);
        if (root === undefined) return fail("RootUserNotExist");
        if (!root.roles.includes(ROOT)) return fail("RootRoleNotExist");
        this._enabled = true;
        this._key = Uint8Array.from(req.key);
        return done;
      }
      case "disable":
        this._enabled = false;
        this._key = null;
        return done;
      case "user-add": {
        if (req.name === "") return fail("UserEmpty");
        if (this.users.has(req.name)) return fail("UserAlreadyExist");
        this.users.set(req.name, { name: req.name, hash: req.hash, roles: [], generation: 0 });
        return done;
      }
      case "user-delete": {
        if (this._enabled && req.name === ROOT) return fail("InvalidAuthMgmt");
        if (!this.users.delete(req.name)) return fail("UserNotFound");
        return done;
      }
      case "user-passwd": {
        const u = this.users.get(req.name);
        if (u === undefined) return fail("UserNotFound");
        u.hash = req.hash;
        u.generation++;
        return done;
      }
      case "user-grant": {
        const u = this.users.get(req.name);
        if (u === undefined) return fail("UserNotFound");
        if (req.role !== ROOT && !this.roles.has(req.role)) return fail("RoleNotFound");
        if (!u.roles.includes(req.role)) u.roles = [...u.roles, req.role].sort();
        return done;
      }
      case "user-revoke": {
        if (this._enabled && req.name === ROOT && req.role === ROOT) return fail("InvalidAuthMgmt");
        const u = this.users.get(req.name);
        if (u === undefined) return fail("UserNotFound");
        if (!u.roles.includes(req.role)) return fail("RoleNotGranted");
        u.roles = u.roles.filter((r) => r !== req.role);
        return done;
      }
      case "role-add": {
        if (req.name === "") return fail("RoleEmpty");
        if (this.roles.has(req.name)) return fail("RoleAlreadyExist");
        this.roles.set(req.name, { name: req.name, perms: [] });
        return done;
      }
      case "role-delete": {
        if (this._enabled && req.name === ROOT) return fail("InvalidAuthMgmt");
        if (!this.roles.delete(req.name)) return fail("RoleNotFound");
        for (const u of this.users.values()) u.roles = u.roles.filter((r) => r !== req.name);
        return done;
      }
      case "role-grant": {
        const role = this.roles.get(req.name);
        if (role === undefined) return fail("RoleNotFound");
        const p = req.perm;
        const same = role.perms.find(
          (q) => sameBytes(q.key, p.key) && sameBytes(q.rangeEnd, p.rangeEnd),
        );
        if (same) same.type = p.type;
        else {
          role.perms.push({
            type: p.type,
            key: Uint8Array.from(p.key),
            rangeEnd: Uint8Array.from(p.rangeEnd),
          });
          role.perms.sort((a, b) => Buffer.compare(a.key, b.key));
        }
        return done;
      }
      case "role-revoke": {
        const role = this.roles.get(req.name);
        if (role === undefined) return fail("RoleNotFound");
        const kept = role.perms.filter(
          (q) => !(sameBytes(q.key, req.key) && sameBytes(q.rangeEnd, req.rangeEnd)),
        );
        if (kept.length === role.perms.length) return fail("PermissionNotGranted");
        role.perms = kept;
        return done;
      }
    }
  }

  /** The state as bytes for the snapshot (deterministic: users and roles sorted by name). */
  encode(): Uint8Array {
    const users = this.userNames().map((n) => {
      const u = this.users.get(n) as User;
      return [u.name, u.hash, u.roles, u.generation];
    });
    const roles = this.roleNames().map((n) => {
      const r = this.roles.get(n) as Role;
      return [r.name, r.perms.map((p) => [p.type, p.key, p.rangeEnd])];
    });
    return packr.pack([1, this._enabled, this._key, this._revision, users, roles]);
  }

  /**
   * Replaces the state with encode()'s bytes; undefined (a snapshot from before auth existed)
   * is the empty state, auth disabled. Throws on bytes that are not a state.
   */
  restore(data: Uint8Array | undefined): void {
    const next = { enabled: false, key: null as Uint8Array | null, revision: 0 };
    const users = new Map<string, User>();
    const roles = new Map<string, Role>();
    if (data !== undefined) {
      const v = packr.unpack(data) as unknown;
      if (!Array.isArray(v) || v[0] !== 1 || v.length !== 6)
        throw new Error("auth state: unknown format");
      const [, enabled, key, revision, us, rs] = v as [
        number,
        unknown,
        unknown,
        unknown,
        unknown,
        unknown,
      ];
      if (typeof enabled !== "boolean" || !(key === null || key instanceof Uint8Array))
        throw new Error("auth state: bad header");
      if (!Number.isSafeInteger(revision) || !Array.isArray(us) || !Array.isArray(rs))
        throw new Error("auth state: bad header");
      next.enabled = enabled;
      next.key = key;
      next.revision = revision as number;
      for (const u of us) {
        const [name, hash, rl, generation] = u as [string, string | null, string[], number];
        if (typeof name !== "string" || !(hash === null || typeof hash === "string"))
          throw new Error("auth state: bad user");
        if (
          !Array.isArray(rl) ||
          !rl.every((x) => typeof x === "string") ||
          !Number.isSafeInteger(generation)
        )
          throw new Error("auth state: bad user");
        users.set(name, { name, hash, roles: rl, generation });
      }
      for (const r of rs) {
        const [name, perms] = r as [string, Array<[number, Uint8Array, Uint8Array]>];
        if (typeof name !== "string" || !Array.isArray(perms))
          throw new Error("auth state: bad role");
        roles.set(name, {
          name,
          perms: perms.map(([type, k, e]) => {
            if (
              ![0, 1, 2].includes(type) ||
              !(k instanceof Uint8Array) ||
              !(e instanceof Uint8Array)
            )
              throw new Error("auth state: bad permission");
            return { type: type as PermType, key: k, rangeEnd: e };
          }),
        });
      }
    }
    this._enabled = next.enabled;
    this._key = next.key;
    this._revision = next.revision;
    this.users.clear();
    for (const [k, u] of users) this.users.set(k, u);
    this.roles.clear();
    for (const [k, r] of roles) this.roles.set(k, r);
    this.cache = new Map();
  }
}

// ---- shape checks of decoded commands (commands.ts) ----

const isStr = (v: unknown): v is string => typeof v === "string";
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

/** Whether a decoded payload is an AuthRequest (commands never trust the log's bytes). */
export function isAuthRequest(
  o: Record<string, unknown>,
): o is AuthRequest & Record<string, unknown> {
  switch (o.type) {
    case "enable":
      return isBytes(o.key) && o.key.length >= 16;
    case "disable":
      return true;
    case "user-add":
      return isStr(o.name) && (o.hash === null || isStr(o.hash));
    case "user-delete":
    case "role-add":
    case "role-delete":
      return isStr(o.name);
    case "user-passwd":
      return isStr(o.name) && isStr(o.hash);
    case "user-grant":
    case "user-revoke":
      return isStr(o.name) && isStr(o.role);
    case "role-grant": {
      const p = o.perm as Record<string, unknown> | null;
      return (
        isStr(o.name) &&
        typeof p === "object" &&
        p !== null &&
        [0, 1, 2].includes(p.type as number) &&
        isBytes(p.key) &&
        isBytes(p.rangeEnd)
      );
    }
    case "role-revoke":
      return isStr(o.name) && isBytes(o.key) && isBytes(o.rangeEnd);
    default:
      return false;
  }
}
