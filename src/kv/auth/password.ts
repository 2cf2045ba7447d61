// Password hashing with scrypt (node:crypto), run off the event loop: crypto.scrypt's callback
// form does the work on libuv's thread pool, so a node hashing or checking a password keeps
// serving requests. Hashes are computed where a request arrives (the proposing boundary) and
// travel in the replicated command; apply() never hashes, so it stays fast and deterministic.
//
// Encoded form: "scrypt$N$r$p$SALT$HASH" (salt and hash in base64), so the cost can be raised
// later without breaking stored hashes.
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

const N = 1 << 14;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Costs a stored hash may name (a bound on the memory a check may take). */
const MAX_N = 1 << 20;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, { N: n, r, p, maxmem: 256 * n * r + (1 << 20) }, (e, key) =>
      e ? reject(e) : resolve(key),
    );
  });
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
