// Shared pieces of the fuzz tests: every parser of untrusted bytes is fed valid input damaged
// in the ways real damage and real attackers produce (bit flips, overwritten bytes, truncation,
// insertion, splices of random bytes, length fields set to huge values) and must answer with a
// clear rejection: no crash, no hang, no unbounded allocation.
//
// FUZZ_RUNS sets the runs per property (default: a budget that keeps `npm test` quick);
// FUZZ_SEED replays a run. A long run, as documented in the README ("Security"):
//   FUZZ_RUNS=200000 npm test -- fuzz/
import fc from "fast-check";

export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 300);
console.log(`# fuzz: seed=${FUZZ_SEED} runs=${FUZZ_RUNS} (replay with FUZZ_SEED=${FUZZ_SEED})`);

export const fuzzParams = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS } as const;

type Edit = (b: Uint8Array) => Uint8Array;

const at = (b: Uint8Array, pos: number): number => (b.length === 0 ? 0 : pos % b.length);

/** One damaging edit of a byte string. */
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ pos: fc.nat(), bit: fc.nat({ max: 7 }) }).map(({ pos, bit }) => (b: Uint8Array) => {
    const c = Uint8Array.from(b);
    const i = at(c, pos);
    if (c.length > 0) c[i] = (c[i] as number) ^ (1 << bit);
    return c;
  }),
  fc.record({ pos: fc.nat(), v: fc.nat({ max: 255 }) }).map(({ pos, v }) => (b: Uint8Array) => {
    const c = Uint8Array.from(b);
    if (c.length > 0) c[at(c, pos)] = v;
    return c;
  }),
  fc.nat().map((n) => (b: Uint8Array) => b.slice(0, at(b, n))),
  fc
    .record({ pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) })
    .map(({ pos, bytes }) => (b: Uint8Array) => {
      const p = b.length === 0 ? 0 : pos % (b.length + 1);
      return Uint8Array.from([...b.subarray(0, p), ...bytes, ...b.subarray(p)]);
    }),
  // A 32-bit field (a length, an offset, a count) overwritten with an extreme value, both byte
  // orders: what makes a careless parser allocate gigabytes or wait for bytes that never come.
  fc
    .record({ pos: fc.nat(), v: fc.constantFrom(0xffffffff, 0x7fffffff, 0x40000000, 0) })
    .map(({ pos, v }) => (b: Uint8Array) => {
      const c = Buffer.from(b);
      if (c.length >= 4) {
        const p = pos % (c.length - 3);
        if (pos % 2 === 0) c.writeUInt32LE(v, p);
        else c.writeUInt32BE(v, p);
      }
      return new Uint8Array(c);
    }),
);

/** `valid` damaged by one to four edits, or replaced by random bytes now and then. */
export function damaged(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .oneof(
      { weight: 9, arbitrary: fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 4 })) },
      { weight: 1, arbitrary: fc.tuple(fc.uint8Array({ maxLength: 256 }), fc.constant([])) },
    )
    .map(([bytes, edits]) => edits.reduce((b, e) => e(b), bytes as Uint8Array));
}

/**
 * Runs `parse` and returns what it threw, or undefined. An exception is allowed only when
 * `expected` accepts it (a typed error of the parser's own); anything else (TypeError,
 * RangeError, a decoder's raw error) fails the property with the input that caused it.
 */
export function rejection(parse: () => unknown, expected: (err: unknown) => boolean): unknown {
  try {
    parse();
    return undefined;
  } catch (err) {
    if (!expected(err)) throw err;
    return err;
  }
}

export async function rejectionAsync(
  parse: () => Promise<unknown>,
  expected: (err: unknown) => boolean,
): Promise<unknown> {
  try {
    await parse();
    return undefined;
  } catch (err) {
    if (!expected(err)) throw err;
    return err;
  }
}
