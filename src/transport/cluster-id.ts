// Cluster ids: drawn once when a cluster
// is bootstrapped, stored in every member's data, carried in every Raft handshake so a member
// of another cluster is refused. A random 64-bit value of at least 2^60 (so its decimal form
// always has 19 or 20 digits and can never be mistaken for a small id typed by hand), written as
// a decimal string: JSON and msgpack carry it exactly, which a JavaScript number could not.

import { randomBytes } from "node:crypto";

export const CLUSTER_ID_MIN = 2n ** 60n;
export const CLUSTER_ID_MAX = 2n ** 64n - 1n;

const DECIMAL = /^[1-9][0-9]{18,19}$/;

/** True for the canonical decimal form of a value in [2^60, 2^64 - 1]. */
export function isClusterId(v: unknown): v is string {
  if (typeof v !== "string" || !DECIMAL.test(v)) return false;
  const n = BigInt(v);
  return n >= CLUSTER_ID_MIN && n <= CLUSTER_ID_MAX;
}

/** Draws a new cluster id (crypto randomness: two clusters must not collide by accident). */
export function newClusterId(): string {
  const span = CLUSTER_ID_MAX - CLUSTER_ID_MIN + 1n;
  // 128 random bits reduced modulo a 64-bit span: the bias is below 2^-64.
  const r = BigInt(`0x${randomBytes(16).toString("hex")}`);
  return (CLUSTER_ID_MIN + (r % span)).toString();
}
