// One seed per test run for fast-check properties and the crash tests' fault dice, printed so a
// failure can be replayed with MR_SEED=<seed>.
export const SEED = Number(process.env.MR_SEED ?? Date.now() % 2 ** 31);
console.log(`mapreduce property tests: seed ${SEED} (replay with MR_SEED=${SEED})`);
