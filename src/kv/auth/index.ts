// etcd's auth model on raftwork's replicated state (README, "Security"): users, roles,
// permissions, tokens; the state machine applies the management commands, every API checks
// requests through an AuthGate.
export {
  type AuthError,
  type AuthErrorCode,
  type AuthResult,
  authError,
  isAuthErrorCode,
} from "./errors.js";
export { AuthGate, type AuthGateOptions, DEFAULT_TOKEN_TTL_MS } from "./gate.js";
export { hashPassword, verifyPassword } from "./password.js";
export * from "./permissions.js";
export { type AuthRequest, AuthStore, isAuthRequest, ROOT, type Role, type User } from "./store.js";
export { signToken, type TokenClaims, verifyToken } from "./token.js";
