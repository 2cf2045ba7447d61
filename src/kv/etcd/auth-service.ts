// etcd's Auth service (README, "Security"): users, roles, permissions and tokens over gRPC,
// with etcd 3.4's semantics and messages. Management calls are replicated commands (op
// "auth", src/kv/auth/store.ts) checked for the root role here and again when applied;
// passwords are hashed here, at the member the call reached, off the event loop, so the log
// carries only hashes. Authenticate checks the password against this member's replicated copy
// and signs a token any member accepts.
//
// guardService() puts the other services behind auth: each method needs a known user, or the
// root role (membership changes, snapshots, hashes, defragment, leader moves, alarms).
import type * as Grpc from "@grpc/grpc-js";
import type { Permission, PermType } from "../auth/index.js";
import { buildRequest, canReadRole, canReadUser, type ManageCall } from "../auth/manage.js";
import { authGrpcError, type EtcdBackend } from "./backend.js";
import { type UnaryHandler, unary, type Wire } from "./call.js";
import { fromServiceError } from "./errors.js";

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const bytes = (v: unknown): Uint8Array => (v instanceof Uint8Array ? v : new Uint8Array(0));

export function authService(b: EtcdBackend): Record<string, UnaryHandler> {
  /** Proposes a management command for a root caller; answers the header. */
  const manage = (call: (req: Wire) => ManageCall) =>
    unary(async (req, md) => {
      const caller = b.authorizeAdmin(md); // before any hashing: no work for strangers
      const built = await buildRequest(call(req));
      if (!built.ok) throw authGrpcError(built.error);
      const res = await b.propose<{ revision: number }>(
        { op: "auth", ts: b.now(), req: built.value },
        caller,
      );
      return { header: b.header(res.revision) };
    });
  /** A read of the auth state: linearizable, as etcd serves it through its log. */
  const read = async () => {
    await b.linearize(false);
    return b.sm.auth;
  };
  const allowed = (e: ReturnType<typeof canReadUser>) => {
    if (e !== null) throw authGrpcError(e);
  };

  return {
    AuthEnable: manage(() => ({ verb: "enable" })),
    AuthDisable: manage(() => ({ verb: "disable" })),

    Authenticate: unary(async (req) => {
      const r = await b.gate.authenticate(str(req.name), str(req.password));
      if (!r.ok) throw authGrpcError(r.error);
      return { header: b.header(), token: r.value };
    }),

    UserAdd: manage((req) => ({
      verb: "user-add",
      name: str(req.name),
      password: str(req.password),
      noPassword: (req.options as Wire | null)?.no_password === true,
    })),
    UserDelete: manage((req) => ({ verb: "user-delete", name: str(req.name) })),
    UserChangePassword: manage((req) => ({
      verb: "user-passwd",
      name: str(req.name),
      password: str(req.password),
    })),
    UserGrantRole: manage((req) => ({
      verb: "user-grant-role",
      name: str(req.user),
      role: str(req.role),
    })),
    UserRevokeRole: manage((req) => ({
      verb: "user-revoke-role",
      name: str(req.name),
      role: str(req.role),
    })),
    RoleAdd: manage((req) => ({ verb: "role-add", name: str(req.name) })),
    RoleDelete: manage((req) => ({ verb: "role-delete", name: str(req.role) })),
    RoleGrantPermission: manage((req) => {
      const p = (req.perm as Wire | null) ?? {};
      const type = Number(p.permType ?? 0);
      if (![0, 1, 2].includes(type)) throw authGrpcError("InvalidAuthMgmt");
      const perm: Permission = {
        type: type as PermType,
        key: bytes(p.key),
        rangeEnd: bytes(p.range_end),
      };
      return { verb: "role-grant-permission", name: str(req.name), perm };
    }),
    RoleRevokePermission: manage((req) => ({
      verb: "role-revoke-permission",
      name: str(req.role),
      key: bytes(req.key),
      rangeEnd: bytes(req.range_end),
    })),

    UserGet: unary(async (req, md) => {
      const name = str(req.name);
      const store = await read(); // then the check, on state as new as the answer
      allowed(canReadUser(store, b.caller(md).user, name));
      const u = store.user(name);
      if (u === undefined) throw authGrpcError("UserNotFound");
      return { header: b.header(), roles: u.roles };
    }),
    UserList: unary(async (_req, md) => {
      const store = await read();
      b.authorizeAdmin(md);
      return { header: b.header(), users: store.userNames() };
    }),
    RoleGet: unary(async (req, md) => {
      const name = str(req.role);
      const store = await read();
      allowed(canReadRole(store, b.caller(md).user, name));
      const r = store.role(name);
      if (r === undefined) throw authGrpcError("RoleNotFound");
      return {
        header: b.header(),
        perm: r.perms.map((p) => ({
          permType: p.type,
          key: Buffer.from(p.key),
          range_end: Buffer.from(p.rangeEnd),
        })),
      };
    }),
    RoleList: unary(async (_req, md) => {
      const store = await read();
      b.authorizeAdmin(md);
      return { header: b.header(), roles: store.roleNames() };
    }),
  };
}

/** What a guarded method needs: a known user, or the root role. */
export type Guard = "user" | "admin";

/** Methods of the guarded services that need the root role; every other one needs a user. */
export const ADMIN_METHODS: ReadonlySet<string> = new Set([
  "MemberAdd",
  "MemberRemove",
  "MemberUpdate",
  "MemberPromote",
  "Alarm",
  "Defragment",
  "Hash",
  "HashKV",
  "Snapshot",
  "MoveLeader",
]);

type AnyHandler = (
  call: Grpc.ServerUnaryCall<Wire, Wire>,
  callback?: Grpc.sendUnaryData<Wire>,
) => void;

/**
 * The service `impl` with every method behind auth (a method's own checks come after). A
 * unary method answers the refusal through its callback; a streaming one ends the call with it.
 */
export function guardService<T extends object>(b: EtcdBackend, impl: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl)) {
    if (typeof fn !== "function") {
      out[name] = fn;
      continue;
    }
    const handler = fn as AnyHandler;
    const admin = ADMIN_METHODS.has(name);
    out[name] = (call: Grpc.ServerUnaryCall<Wire, Wire>, callback?: Grpc.sendUnaryData<Wire>) => {
      try {
        if (admin) b.authorizeAdmin(call.metadata);
        else b.authorizeUser(call.metadata);
      } catch (err) {
        const e = fromServiceError(err);
        if (callback) callback(e);
        else (call as unknown as { emit(ev: string, e: unknown): void }).emit("error", e);
        return;
      }
      handler(call, callback);
    };
  }
  return out as T;
}
