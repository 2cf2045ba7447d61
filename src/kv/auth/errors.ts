// The errors of etcd's auth model, with etcd 3.4's exact messages and gRPC codes (etcd's
// etcdserver/api/v3rpc/rpctypes/error.go): clients match on the text (clientv3 and the etcd3
// npm client fetch a new token on "invalid auth token"). Each also has the HTTP status the
// native API answers with. Values, never thrown: a refused request changes nothing.

/** gRPC status codes used here. */
const INVALID_ARGUMENT = 3;
const FAILED_PRECONDITION = 9;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;
const RESOURCE_EXHAUSTED = 8;

const DEFS = {
  RootUserNotExist: [FAILED_PRECONDITION, 400, "etcdserver: root user does not exist"],
  RootRoleNotExist: [FAILED_PRECONDITION, 400, "etcdserver: root user does not have root role"],
  UserAlreadyExist: [FAILED_PRECONDITION, 409, "etcdserver: user name already exists"],
  UserEmpty: [INVALID_ARGUMENT, 401, "etcdserver: user name is empty"],
  UserNotFound: [FAILED_PRECONDITION, 404, "etcdserver: user name not found"],
  RoleAlreadyExist: [FAILED_PRECONDITION, 409, "etcdserver: role name already exists"],
  RoleNotFound: [FAILED_PRECONDITION, 404, "etcdserver: role name not found"],
  RoleEmpty: [INVALID_ARGUMENT, 400, "etcdserver: role name is empty"],
  AuthFailed: [
    INVALID_ARGUMENT,
    401,
    "etcdserver: authentication failed, invalid user ID or password",
  ],
  PermissionDenied: [PERMISSION_DENIED, 403, "etcdserver: permission denied"],
  RoleNotGranted: [FAILED_PRECONDITION, 409, "etcdserver: role is not granted to the user"],
  PermissionNotGranted: [
    FAILED_PRECONDITION,
    409,
    "etcdserver: permission is not granted to the role",
  ],
  AuthNotEnabled: [FAILED_PRECONDITION, 400, "etcdserver: authentication is not enabled"],
  InvalidAuthToken: [UNAUTHENTICATED, 401, "etcdserver: invalid auth token"],
  InvalidAuthMgmt: [INVALID_ARGUMENT, 400, "etcdserver: invalid auth management"],
  /** More password checks than the node takes at once (a login flood): retry later. */
  TooManyRequests: [RESOURCE_EXHAUSTED, 429, "etcdserver: too many requests"],
} as const satisfies Record<string, readonly [number, number, string]>;

export type AuthErrorCode = keyof typeof DEFS;

export interface AuthError {
  readonly code: AuthErrorCode;
  /** etcd's exact message. */
  readonly message: string;
  /** The gRPC status code etcd answers with. */
  readonly grpc: number;
  /** The native HTTP API's status. */
  readonly http: number;
}

const ERRORS = Object.fromEntries(
  Object.entries(DEFS).map(([code, [grpc, http, message]]) => [
    code,
    Object.freeze({ code, message, grpc, http }),
  ]),
) as { readonly [C in AuthErrorCode]: AuthError };

export function authError(code: AuthErrorCode): AuthError {
  return ERRORS[code];
}

export function isAuthErrorCode(v: unknown): v is AuthErrorCode {
  return typeof v === "string" && Object.hasOwn(DEFS, v);
}

export type AuthResult<T> = { ok: true; value: T } | { ok: false; error: AuthErrorCode };
