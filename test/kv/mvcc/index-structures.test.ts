// The store's two index structures against plain arrays, with enough keys and revisions to
// split and merge blocks and to fill and drop pages.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { KeyIndex } from "../../../src/kv/mvcc/key-index.js";
import { AFTER_ALL_KEYS } from "../../../src/kv/mvcc/keys.js";
import { RevisionLog } from "../../../src/kv/mvcc/revision-log.js";
import { SEED } from "./model.js";

interface Rec {
  key: string;
  live: boolean;
}

describe("KeyIndex", () => {
  it("matches a sorted array through inserts, removals and liveness changes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(4000), fc.constantFrom("insert", "remove", "flip", "probe")), {
          minLength: 500,
          maxLength: 6000,
        }),
        (ops) => {
          const index = new KeyIndex<Rec>((r) => r.live);
          const ref = new Map<string, Rec>();
          const name = (n: number) => String.fromCharCode(n % 256, (n >> 8) % 256, 65 + (n % 7));
          for (const [n, op] of ops) {
            const key = name(n);
            const rec = ref.get(key);
            if (op === "insert" && !rec) {
              const fresh = { key, live: n % 3 !== 0 };
              ref.set(key, fresh);
              index.insert(fresh);
            } else if (op === "remove" && rec) {
              ref.delete(key);
              index.remove(rec);
            } else if (op === "flip" && rec) {
              rec.live = !rec.live;
              index.liveChanged(rec, rec.live ? 1 : -1);
            } else if (op === "probe") {
              assert.equal(index.get(key), rec);
              const sorted = [...ref.keys()].sort();
              const lo = name(n);
              const hi = name(n + 900);
              const inRange = sorted.filter((k) => k >= lo && k < hi);
              const seen: string[] = [];
              index.scan(lo, hi, (r) => {
                seen.push(r.key);
                return true;
              });
              assert.deepEqual(seen, inRange);
              assert.equal(
                index.countLiveIn(lo, hi),
                inRange.filter((k) => (ref.get(k) as Rec).live).length,
              );
              assert.deepEqual(
                index.after(lo, 5).map((r) => r.key),
                sorted.filter((k) => k > lo).slice(0, 5),
              );
            }
          }
          assert.equal(index.size, ref.size);
          const all: string[] = [];
          index.scan("", AFTER_ALL_KEYS, (r) => {
            all.push(r.key);
            return true;
          });
          assert.deepEqual(all, [...ref.keys()].sort());
        },
      ),
      { seed: SEED, numRuns: 20 },
    );
  });

  it("append builds the same index as inserts, and refuses keys out of order", () => {
    const index = new KeyIndex<Rec>((r) => r.live);
    for (let i = 0; i < 2000; i++)
      index.append({ key: String(i).padStart(5, "0"), live: i % 2 === 0 });
    assert.equal(index.countLiveIn("", AFTER_ALL_KEYS), 1000);
    assert.equal(index.get("01234")?.key, "01234");
    assert.throws(() => index.append({ key: "00001", live: true }), /out of order/);
  });
});

describe("RevisionLog", () => {
  it("holds each revision's records across pages and forgets a dropped prefix", () => {
    const log = new RevisionLog<{ id: number }>();
    const recs = Array.from({ length: 20_000 }, (_, i) => ({ id: i }));
    for (let rev = 2; rev < 10_002; rev++) {
      log.add(rev, recs[rev] as { id: number });
      if (rev % 1000 === 0) log.add(rev, recs[rev + 10_000] as { id: number });
    }
    assert.deepEqual(
      log.at(5000).map((r) => r.id),
      [5000, 15_000],
    );
    assert.deepEqual(
      log.at(5001).map((r) => r.id),
      [5001],
    );
    assert.deepEqual(log.at(1), []);
    assert.deepEqual(log.at(10_002), []);
    log.dropBefore(9000);
    assert.equal(log.firstRevision, 9000);
    assert.deepEqual(log.at(8999), []);
    assert.deepEqual(
      log.at(9000).map((r) => r.id),
      [9000, 19_000],
    );
    log.dropBefore(20_000);
    assert.deepEqual(log.at(10_001), []);
    log.add(20_000, recs[1] as { id: number });
    assert.deepEqual(
      log.at(20_000).map((r) => r.id),
      [1],
    );
  });

  it("startAt takes revisions in any order (snapshot restore adds them key by key)", () => {
    const log = new RevisionLog<{ id: number }>();
    log.startAt(7);
    log.add(9000, { id: 1 });
    log.add(7, { id: 2 });
    log.add(9000, { id: 3 });
    assert.deepEqual(
      log.at(9000).map((r) => r.id),
      [1, 3],
    );
    assert.deepEqual(
      log.at(7).map((r) => r.id),
      [2],
    );
    assert.throws(() => log.add(6, { id: 4 }), /below/);
  });
});
