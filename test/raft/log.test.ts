import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { RaftLog } from "../../src/raft/log.js";
import { type Entry, simpleConf } from "../../src/raft/types.js";
import { bytes, ents } from "./harness.js";

const SEED = Number(process.env.RAFT_SEED ?? Date.now() % 1_000_000);

describe("RaftLog", () => {
  it("slice clamps hi to lastIndex+1 and answers undefined below the snapshot", () => {
    const log = RaftLog.restore(null, ents(1, [1, 1, 2, 2, 3]), 5);
    log.appliedTo(5);
    assert.deepEqual(
      log.slice(4, 100)?.map((e) => e.index),
      [4, 5],
    );
    assert.deepEqual(log.slice(6, 100), []);
    log.compact(3, bytes("s"), simpleConf([1]));
    assert.equal(log.slice(3, 5), undefined);
    assert.deepEqual(
      log.slice(4, 5)?.map((e) => e.index),
      [4],
    );
    assert.equal(log.term(2), undefined, "compacted");
    assert.equal(log.term(3), 2, "the snapshot's own term stays known");
    assert.equal(log.term(6), undefined, "beyond the log");
    assert.equal(log.firstIndex(), 4);
    assert.equal(log.lastIndex(), 5);
  });

  it("slice respects maxEntries and maxBytes, always returning at least one entry", () => {
    const big = (i: number): Entry => ({
      index: i,
      term: 1,
      type: "normal",
      data: new Uint8Array(60),
    });
    const log = RaftLog.restore(null, [big(1), big(2), big(3)], 0);
    assert.equal(log.slice(1, 4, 2)?.length, 2);
    assert.equal(log.slice(1, 4, 10, 100)?.length, 1);
    assert.equal(log.slice(1, 4, 10, 10)?.length, 1);
    assert.equal(log.slice(1, 4, 10, 120)?.length, 2);
  });

  it("truncating below the commit index is a bug and throws", () => {
    const log = RaftLog.restore(null, ents(1, [1, 1, 1]), 2);
    assert.throws(() => log.maybeAppend(1, 1, ents(2, [2])), /conflicts with committed/);
  });

  it("restore rejects a log with a gap", () => {
    assert.throws(() => RaftLog.restore(null, ents(2, [1]), 0), /expected 1/);
  });

  it("matches a naive array model under random appends, commits and compactions", () => {
    // Model: terms[i-1] is the term at index i; snap is the compaction point.
    type Op =
      | { k: "append"; back: number; terms: number[] }
      | { k: "stale"; back: number; len: number }
      | { k: "commit"; back: number }
      | { k: "compact"; back: number }
      | { k: "persist" };
    const op = fc.oneof(
      fc.record({
        k: fc.constant("append" as const),
        back: fc.nat(6),
        terms: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 5 }),
      }),
      fc.record({ k: fc.constant("stale" as const), back: fc.nat(6), len: fc.nat(4) }),
      fc.record({ k: fc.constant("commit" as const), back: fc.nat(5) }),
      fc.record({ k: fc.constant("compact" as const), back: fc.nat(5) }),
      fc.record({ k: fc.constant("persist" as const) }),
    );
    console.log(`log model property seed ${SEED}`);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops: Op[]) => {
        const log = new RaftLog();
        let terms: number[] = [];
        let snap = 0;
        let committed = 0;
        let curTerm = 1;
        for (const o of ops) {
          if (o.k === "append") {
            // Leader-style append after the commit index with non-decreasing terms; a new term
            // overwrites from `from` on, the same terms leave the log as it is.
            const from = Math.max(committed + 1, terms.length + 1 - o.back, snap + 1);
            const prevTerm = from === 1 ? 0 : (terms[from - 2] as number);
            let t = Math.max(prevTerm, curTerm);
            const es = ents(
              from,
              o.terms.map((d) => (t += d)),
            );
            curTerm = t;
            assert.equal(log.maybeAppend(from - 1, prevTerm, es), from - 1 + es.length);
            const next = terms.slice();
            for (const e of es) {
              if (next[e.index - 1] !== e.term) {
                next.length = e.index - 1;
                next.push(e.term);
              }
            }
            terms = next;
          } else if (o.k === "stale") {
            // A reordered AppendEntries carrying entries we already hold changes nothing.
            const from = Math.max(snap + 1, terms.length - o.back);
            const held = ents(from, terms.slice(from - 1, from - 1 + o.len));
            const prevTerm = from === 1 ? 0 : (log.term(from - 1) as number);
            assert.equal(log.maybeAppend(from - 1, prevTerm, held), from - 1 + held.length);
          } else if (o.k === "commit") {
            const to = Math.max(committed, terms.length - o.back);
            log.commitTo(to);
            committed = to;
          } else if (o.k === "compact") {
            log.takeUnstable();
            log.stableTo(ents(1, terms));
            log.takeCommitted();
            log.appliedTo(committed);
            const at = Math.max(0, committed - o.back);
            const did = log.compact(at, bytes(""), simpleConf([1]));
            assert.equal(did, at > snap);
            if (did) snap = at;
          } else {
            const un = log.takeUnstable();
            log.stableTo(un);
          }
          assert.equal(log.lastIndex(), terms.length);
          assert.equal(log.firstIndex(), snap + 1);
          assert.equal(log.committed, committed);
          for (let i = 0; i <= terms.length + 1; i++) {
            const want =
              i === 0 && snap === 0 ? 0 : i < snap || i > terms.length ? undefined : terms[i - 1];
            assert.equal(log.term(i), want, `term(${i})`);
          }
          const lo = snap + 1;
          assert.deepEqual(
            log.slice(lo, terms.length + 5)?.map((e) => e.term),
            terms.slice(lo - 1),
          );
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
