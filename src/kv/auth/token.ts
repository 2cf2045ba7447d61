// Auth tokens: "PAYLOAD.MAC", PAYLOAD the base64url of {u: user, g: the user's credential
// generation, e: expiry in ms since the epoch}, MAC its HMAC-SHA256 under the key drawn when
// auth was enabled. The key is in the replicated auth state, so every member checks a token
// any member issued (a client failing over keeps working; etcd's simple tokens are per member).
// A token dies when it expires, when its user is deleted or changes password (the generation
// moves), and when auth is disabled or re-enabled (the key changes).
import { createHmac, timingSafeEqual } from "node:crypto";

export interface TokenClaims {
  user: string;
  generation: number;
  expiresAt: number;
}

/** Longest token accepted: a bound on the work a forged one can cost. */
const MAX_TOKEN_CHARS = 4096;

function mac(key: Uint8Array, payload: string): Buffer {
  return createHmac("sha256", key).update(payload).digest();
}

export function signToken(key: Uint8Array, claims: TokenClaims): string {
  const payload = Buffer.from(
    JSON.stringify({ u: claims.user, g: claims.generation, e: claims.expiresAt }),
  ).toString("base64url");
  return `${payload}.${mac(key, payload).toString("base64url")}`;
}

/** The claims of a token signed with `key` that has not expired at `now`, else null. */
export function verifyToken(key: Uint8Array, token: string, now: number): TokenClaims | null {
  if (token.length > MAX_TOKEN_CHARS) return null;
  const dot = token.indexOf(".");
  if (dot <= 0) return null;
  const payload = token.slice(0, dot);
  const sig = Buffer.from(token.slice(dot + 1), "base64url");
  const want = mac(key, payload);
  if (sig.length !== want.length || !timingSafeEqual(sig, want)) return null;
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  if (typeof o !== "object" || o === null) return null;
  const { u, g, e } = o as Record<string, unknown>;
  if (typeof u !== "string" || !Number.isSafeInteger(g) || typeof e !== "number") return null;
  if (e <= now) return null;
  return { user: u, generation: g as number, expiresAt: e };
}
