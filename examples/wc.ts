// Word count: how often each word occurs. A word is a maximal run of letters (any script),
// as in the MIT 6.5840 lab's wc.
//
// map counts the words of its input itself and emits one pair per distinct word ("in-mapper
// combining", Lin and Dyer, "Data-Intensive Text Processing with MapReduce", section 3.1):
// for text, that is about 15 times fewer pairs to partition, sort and store than one pair per
// occurrence. `combine` then adds up counts of map calls that share a map task (the MapReduce
// paper's combiner, section 4.3), and `reduce` adds up the counts of all map tasks.
//
//   raftwork mr run --app examples/wc.ts --workers 2 --reduce 4 --out out input/*.txt

const WORD = /\p{L}+/gu;

export function map(_filename: string, contents: string): { key: string; value: string }[] {
  const counts = new Map<string, number>();
  for (const word of contents.match(WORD) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1);
  return Array.from(counts, ([key, n]) => ({ key, value: String(n) }));
}

export function reduce(_key: string, values: string[]): string {
  let sum = 0;
  for (const v of values) sum += Number(v);
  return String(sum);
}

export const combine = reduce;
