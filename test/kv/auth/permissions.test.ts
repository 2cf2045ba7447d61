import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  allows,
  covers,
  mergePermissions,
  type Permission,
  READ,
  READWRITE,
  toInterval,
  WRITE,
} from "../../../src/kv/auth/permissions.js";

const SEED = Number(process.env.AUTH_SEED ?? Date.now() % 2 ** 31);
console.log(`auth permission property tests: seed ${SEED} (replay with AUTH_SEED=${SEED})`);

const b = (s: string) => Buffer.from(s, "latin1");
const perm = (type: Permission["type"], key: string, rangeEnd = ""): Permission => ({
  type,
  key: b(key),
  rangeEnd: b(rangeEnd),
});

/**
 * The model: a key k is in a grant when start <= k < end (end null: no bound). A request
 * range is covered iff every key in it is in some grant; if a key in it is not, then one of
 * the "candidate" keys is not either: the request's start, or a grant's end that falls inside
 * the request (the first uncovered key after a covered stretch is where a grant ends). So
 * checking those few points, each against every grant on its own, decides coverage exactly,
 * without the sweep covers() does.
 */
function modelCovers(perms: Permission[], access: "read" | "write", key: Buffer, end: Buffer) {
  const grants = perms
    .filter((p) => (access === "read" ? p.type !== WRITE : p.type !== READ))
    .map((p) => toInterval(p.key, p.rangeEnd))
    .filter((iv) => iv !== null);
  const want = toInterval(key, end) ?? toInterval(key);
  assert.ok(want);
  const inReq = (k: Buffer) =>
    Buffer.compare(k, want.start) >= 0 && (want.end === null || Buffer.compare(k, want.end) < 0);
  const inGrant = (k: Buffer) =>
    grants.some(
      (g) => Buffer.compare(k, g.start) >= 0 && (g.end === null || Buffer.compare(k, g.end) < 0),
    );
  const candidates = [want.start, ...grants.flatMap((g) => (g.end === null ? [] : [g.end]))];
  return candidates.filter(inReq).every(inGrant);
}

// A small alphabet with the edge bytes, so ranges overlap, touch and nest often.
const keyArb = fc
  .array(fc.constantFrom(0x00, 0x61, 0x62, 0x63, 0xff), { maxLength: 3 })
  .map((a) => Buffer.from(a));
const endArb = fc.oneof(
  fc.constant(Buffer.alloc(0)), // the key alone
  fc.constant(Buffer.from([0])), // from key on
  keyArb, // a range (maybe empty)
);
const permArb = fc.record({
  type: fc.constantFrom(READ, WRITE, READWRITE),
  key: keyArb,
  rangeEnd: endArb,
});

describe("auth permissions", () => {
  it("covers() agrees with a point-checking model on keys, ranges and prefixes", () => {
    fc.assert(
      fc.property(
        fc.array(permArb, { maxLength: 6 }),
        fc.constantFrom("read" as const, "write" as const),
        keyArb,
        endArb,
        (perms, access, key, end) => {
          const merged = mergePermissions(perms);
          const got = allows(merged, [{ access, key, rangeEnd: end }]);
          assert.equal(got, modelCovers(perms, access, key, end));
        },
      ),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it("a range is covered by grants that meet end to start, not by ones with a gap", () => {
    const merged = mergePermissions([perm(READ, "a", "c"), perm(READ, "c", "e")]);
    assert.equal(covers(merged.read, b("a"), b("e")), true);
    assert.equal(covers(merged.read, b("b"), b("d")), true);
    assert.equal(covers(merged.read, b("a"), b("f")), false);
    const gap = mergePermissions([perm(READ, "a", "c"), perm(READ, "c\x00", "e")]);
    assert.equal(covers(gap.read, b("a"), b("e")), false, "key c itself is not granted");
  });

  it("prefix grants (etcdctl --prefix) cover the prefix and nothing beside it", () => {
    // etcdctl role grant-permission r read foo --prefix sends range_end "fop".
    const merged = mergePermissions([perm(READWRITE, "foo", "fop")]);
    assert.equal(allows(merged, [{ access: "write", key: b("foo/bar") }]), true);
    assert.equal(allows(merged, [{ access: "read", key: b("foo"), rangeEnd: b("fop") }]), true);
    assert.equal(allows(merged, [{ access: "read", key: b("fop") }]), false);
    assert.equal(allows(merged, [{ access: "read", key: b("fo") }]), false);
    assert.equal(allows(merged, [{ access: "read", key: b("foo"), rangeEnd: b("\0") }]), false);
  });

  it("read and write are separate; readwrite gives both; from-key grants reach the end", () => {
    const merged = mergePermissions([
      perm(READ, "r"),
      perm(WRITE, "w"),
      perm(READWRITE, "x", "\0"),
    ]);
    assert.equal(allows(merged, [{ access: "read", key: b("r") }]), true);
    assert.equal(allows(merged, [{ access: "write", key: b("r") }]), false);
    assert.equal(allows(merged, [{ access: "write", key: b("w") }]), true);
    assert.equal(allows(merged, [{ access: "read", key: b("w") }]), false);
    assert.equal(allows(merged, [{ access: "write", key: b("zzzz") }]), true);
    assert.equal(allows(merged, [{ access: "read", key: b("x"), rangeEnd: b("\0") }]), true);
    assert.equal(allows(merged, [{ access: "read", key: b(""), rangeEnd: b("\0") }]), false);
  });
});
