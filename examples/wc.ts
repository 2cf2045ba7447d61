// Word count: how often each word occurs. A word is a maximal run of letters (any script),
// as in the MIT 6.5840 lab's wc. `combine` sums partial counts on the map side (MapReduce
// paper, section 4.3), so a map task sends each word once per reduce partition.
//
//   raftwork mr run --app examples/wc.ts --workers 2 --reduce 4 --out out input/*.txt

const WORD = /\p{L}+/gu;

export function* map(
  _filename: string,
  contents: string,
): Generator<{ key: string; value: string }> {
  for (const m of contents.matchAll(WORD)) yield { key: m[0], value: "1" };
}

export function reduce(_key: string, values: string[]): string {
  let sum = 0;
  for (const v of values) sum += Number(v);
  return String(sum);
}

export const combine = reduce;
