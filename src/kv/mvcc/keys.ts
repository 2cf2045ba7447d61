// Keys inside the store are "byte strings": one JavaScript character per byte (latin1). JS
// compares strings by UTF-16 code unit, and every unit here is below 0x100, so `<` on byte
// strings is exactly etcd's unsigned byte order, computed natively; V8 stores them one byte per
// character, and Map/Set hash them. Bytes cross the store's API as Uint8Array only.

/** A byte string: one character (0..255) per byte. */
export type ByteString = string;

/** Above every byte string: its first character is beyond any byte. */
export const AFTER_ALL_KEYS: ByteString = "\u0100";

export function toByteString(bytes: Uint8Array): ByteString {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

export function fromByteString(key: ByteString): Uint8Array {
  return Buffer.from(key, "latin1");
}

/**
 * A request's key range in etcd's conventions: `end` null is the single key `start`; otherwise
 * [start, end), where end AFTER_ALL_KEYS means "every key >= start".
 */
export interface KeyRange {
  readonly start: ByteString;
  readonly end: ByteString | null;
}

/**
 * etcd's reading of (key, range_end): an empty range_end is the single key; "\0" is every key
 * >= key (etcd's mkGteRange); anything else is the half-open range [key, range_end), empty when
 * range_end <= key.
 */
export function keyRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyRange {
  const start = toByteString(key);
  if (rangeEnd === undefined || rangeEnd.length === 0) return { start, end: null };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: AFTER_ALL_KEYS };
  return { start, end: toByteString(rangeEnd) };
}

export function inRange(r: KeyRange, key: ByteString): boolean {
  return r.end === null ? key === r.start : key >= r.start && key < r.end;
}

/**
 * The range_end that selects every key with `prefix` (etcd's clientv3.GetPrefixRangeEnd): the
 * prefix with its last byte below 0xff incremented and what follows dropped; "\0" (all keys)
 * when every byte is 0xff or the prefix is empty.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i] as number;
    if (b < 0xff) {
      const end = Uint8Array.from(prefix.subarray(0, i + 1));
      end[i] = b + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}
