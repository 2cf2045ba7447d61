// What every API asks of auth at the member a request reached: who the caller is (a token
// checked against the replicated state: its key, the user, the user's credential generation),
// whether the caller may do what it asks (the same checks apply() makes again), and tokens for
// a name and password. The HTTP API, the etcd API and the dashboard share one gate per node.
import { randomBytes } from "node:crypto";
import type { AuthErrorCode, AuthResult } from "./errors.js";
import { hashPassword, PasswordBusyError, verifyPassword } from "./password.js";
import type { Need } from "./permissions.js";
import type { AuthStore } from "./store.js";
import { signToken, verifyToken } from "./token.js";

/** etcd's --auth-token-ttl default (simple tokens): 5 minutes. */
export const DEFAULT_TOKEN_TTL_MS = 300_000;

export interface AuthGateOptions {
  /** The replicated auth state (KvStateMachine.auth). */
  store: AuthStore;
  /** How long an issued token is valid. Default DEFAULT_TOKEN_TTL_MS. */
  tokenTtlMs?: number;
  now?: () => number;
}

/** A hash checked when the user does not exist, so a missing user costs as long as a wrong password. */
let decoy: Promise<string> | null = null;

export class AuthGate {
  readonly store: AuthStore;
  readonly tokenTtlMs: number;
  private readonly now: () => number;

  constructor(o: AuthGateOptions) {
    this.store = o.store;
    this.tokenTtlMs = o.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.now = o.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.store.enabled;
  }

  /**
   * The user a token names: undefined when auth is off (tokens are then ignored, as a client
   * may still hold one) or no token was sent; InvalidAuthToken for a token that is forged,
   * expired, of a deleted user or from before a password change or a re-enable.
   */
  identify(token: string | undefined): AuthResult<string | undefined> {
    const key = this.store.key;
    if (!this.store.enabled || key === null || token === undefined)
      return { ok: true, value: undefined };
    const claims = verifyToken(key, token, this.now());
    const u = claims === null ? undefined : this.store.user(claims.user);
    if (claims === null || u === undefined || u.generation !== claims.generation) {
      return { ok: false, error: "InvalidAuthToken" };
    }
    return { ok: true, value: u.name };
  }

  /** A token for `name` if `password` is its password (the check runs off the event loop). */
  async authenticate(
    name: string,
    password: string,
    ttlMs = this.tokenTtlMs,
  ): Promise<AuthResult<string>> {
    try {
      return await this.login(name, password, ttlMs);
    } catch (e) {
      if (e instanceof PasswordBusyError) return { ok: false, error: "TooManyRequests" };
      throw e;
    }
  }

  private async login(name: string, password: string, ttlMs: number): Promise<AuthResult<string>> {
    if (!this.store.enabled) return { ok: false, error: "AuthNotEnabled" };
    const u = this.store.user(name);
    if (u === undefined || u.hash === null) {
      decoy ??= hashPassword(randomBytes(16).toString("hex"));
      await verifyPassword(password, await decoy);
      return { ok: false, error: "AuthFailed" };
    }
    const generation = u.generation;
    const good = await verifyPassword(password, u.hash);
    // The state may have moved while the hash ran: sign with what holds now.
    const key = this.store.key;
    const still = this.store.user(name);
    if (!good || key === null || still === undefined || still.generation !== generation) {
      return { ok: false, error: "AuthFailed" };
    }
    return {
      ok: true,
      value: signToken(key, { user: name, generation, expiresAt: this.now() + ttlMs }),
    };
  }

  check(user: string | undefined, needs: readonly Need[]): AuthErrorCode | null {
    return this.store.check(user, needs);
  }

  checkAdmin(user: string | undefined): AuthErrorCode | null {
    return this.store.checkAdmin(user);
  }

  checkUser(user: string | undefined): AuthErrorCode | null {
    return this.store.checkUser(user);
  }
}
