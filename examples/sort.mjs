// Distributed sort with range partitioning: each input line is a key, and `partition` sends
// keys to reduce tasks by ranges of their first character, so that mr-out-0, mr-out-1, ...
// concatenated are globally sorted (UTF-8 byte order). Output lines: "LINE COUNT", COUNT being
// how many times the line occurs.
//
//   raftwork mr run --app examples/sort.mjs --workers 2 --reduce 4 --out out data.txt
//   cat out/mr-out-{0,1,2,3}     # sorted

export function* map(_filename, contents) {
  for (const line of contents.split("\n")) if (line.length > 0) yield { key: line, value: "1" };
}

export function reduce(_line, counts) {
  let n = 0;
  for (const c of counts) n += Number(c);
  return String(n);
}

export const combine = reduce;

// Keys are ranked by their first UTF-16 unit: printable ASCII (0x20..0x7e) is cut into
// nReduce - 1 equal ranges, everything above goes to the last partition. Monotonic in UTF-8
// byte order, since every non-ASCII character encodes above every ASCII one.
export function partition(key, nReduce) {
  if (nReduce === 1) return 0;
  const c = key.length === 0 ? 0 : key.charCodeAt(0);
  if (c >= 0x7f) return nReduce - 1;
  const rank = Math.max(0, c - 0x20) / (0x7f - 0x20);
  return Math.min(nReduce - 2, Math.floor(rank * (nReduce - 1)));
}
