// Cheap 32-bit rolling hashes (FNV-1a steps) for the invariant checker: a log prefix or a state
// machine history folds into one number, so comparing two histories costs O(1). A collision can
// only hide a violation, never invent one, and at 2^-32 per comparison it is not a practical risk.

const FNV_PRIME = 16777619;
export const HASH_SEED = 2166136261;

export function mixInt(h: number, n: number): number {
  let x = h;
  // Two 26-bit halves so numbers up to 2^52 all count.
  const lo = n % 67108864;
  const hi = Math.floor(n / 67108864);
  x = Math.imul(x ^ lo, FNV_PRIME);
  x = Math.imul(x ^ hi, FNV_PRIME);
  return x >>> 0;
}

export function mixBytes(h: number, bytes: Uint8Array): number {
  let x = h;
  for (let i = 0; i < bytes.length; i++) x = Math.imul(x ^ (bytes[i] as number), FNV_PRIME);
  return mixInt(x >>> 0, bytes.length);
}
