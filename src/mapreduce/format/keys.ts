// Key order and the default partition function. Both work on the UTF-8 encoding of a key,
// because that is what every output file is sorted by (README, "MapReduce"),
// and because a partition must not depend on how a runtime happens to store strings.

/**
 * Compares two strings in UTF-8 byte order (the order of Buffer.compare on their encodings)
 * without encoding them. UTF-16 code-unit order (JS `<`) agrees with code-point order except
 * when a surrogate (U+D800..U+DFFF, half of an astral char) meets a unit in U+E000..U+FFFF:
 * the astral char is the larger code point but the smaller unit. UTF-8 byte order equals
 * code-point order, so fixing that one case is enough.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) return fixup(x) - fixup(y);
    return x - y;
  }
  return a.length - b.length;
}

/** Moves surrogates above U+E000..U+FFFF so that unit order becomes code-point order. */
function fixup(unit: number): number {
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

/**
 * The default partition: FNV-1a (32 bit) over the key's UTF-8 bytes, modulo nReduce. Stable
 * across processes, machines and Node versions, so every map worker sends a key to the same
 * reduce task (MapReduce paper, section 4.1: "hash(key) mod R").
 */
export function defaultPartition(key: string, nReduce: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < key.length) {
      const d = key.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    } else if (c >= 0xd800 && c <= 0xdfff) {
      c = 0xfffd; // a lone surrogate encodes as U+FFFD, as Buffer.from does
    }
    for (const byte of utf8Bytes(c)) h = Math.imul(h ^ byte, 0x01000193);
  }
  return (h >>> 0) % nReduce;
}

function utf8Bytes(cp: number): number[] {
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 63)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
}
