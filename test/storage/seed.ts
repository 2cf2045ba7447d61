// Seeds for randomized storage tests: STORAGE_SEED=<n> replays a run; otherwise a fresh seed is
// drawn. Every test prints the seed it used, so any failure can be replayed.

export function testSeed(label: string): number {
  const fromEnv = process.env.STORAGE_SEED;
  const seed = fromEnv === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(fromEnv);
  console.log(`# ${label}: seed=${seed} (replay with STORAGE_SEED=${seed})`);
  return seed;
}
