// Password hashing with scrypt (node:crypto), run off the event loop: crypto.scrypt's callback
// form does the work on libuv's thread pool, so a node hashing or checking a password keeps
// serving requests. Hashes are computed where a request arrives (the proposing boundary) and
// travel in the replicated command; apply() never hashes, so it stays fast and deterministic.
//
// Encoded form: "scrypt$N$r$p$SALT$HASH" (salt and hash in base64), so the cost can be raised
// later without breaking stored hashes.
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { RaftworkError } from "../../util/errors.js";

const N = 1 << 14;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Costs a stored hash may name (a bound on the memory a check may take). */
const MAX_N = 1 << 20;

/**
 * Hashes running at once. libuv's pool has 4 threads by default and the node's file I/O (WAL
 * writes and fsyncs) runs there too: a burst of logins must not take every thread, or commits
 * would wait behind them. The rest wait their turn here.
 */
const MAX_CONCURRENT = 2;
/** Hashes that may wait their turn; past that a request is refused at once (a login flood). */
export const MAX_WAITING = 256;
let running = 0;
const waiting: (() => void)[] = [];

/** More password checks were asked for than the node takes at once. */
export class PasswordBusyError extends RaftworkError {
  readonly code = "password-busy";
}

async function derive(
  password: string,
  salt: Buffer,
  n: number,
  r: number,
  p: number,
): Promise<Buffer> {
  if (running >= MAX_CONCURRENT) {
    if (waiting.length >= MAX_WAITING)
      throw new PasswordBusyError("too many password checks at once; retry later");
    await new Promise<void>((go) => waiting.push(go));
  }
  running++;
  try {
    return await new Promise((resolve, reject) => {
      scrypt(
        password,
        salt,
        KEY_BYTES,
        { N: n, r, p, maxmem: 256 * n * r + (1 << 20) },
        (e, key) => (e ? reject(e) : resolve(key)),
      );
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Hashes on the thread pool now (for tests and metrics). */
export function hashesRunning(): number {
  return running;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Whether `password` matches `encoded`; false for a hash this code cannot read. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!Number.isSafeInteger(n) || n < 2 || n > MAX_N || (n & (n - 1)) !== 0) return false;
  if (!Number.isSafeInteger(r) || r < 1 || r > 32 || !Number.isSafeInteger(p) || p < 1 || p > 16)
    return false;
  const salt = Buffer.from(parts[4] as string, "base64");
  const want = Buffer.from(parts[5] as string, "base64");
  if (want.length !== KEY_BYTES) return false;
  const got = await derive(password, salt, n, r, p);
  return timingSafeEqual(got, want);
}
