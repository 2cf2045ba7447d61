// WAL segments at recovery, damaged anywhere: the reader either returns a prefix of what was
// written (a torn tail is dropped, never altered) or refuses with StorageCorruptionError naming
// the file. It never returns a batch that was not written and never throws anything else.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Entry } from "../../src/raft/types.js";
import { StorageCorruptionError } from "../../src/storage/errors.js";
import {
  encodeEntries,
  encodeHardState,
  encodeSegmentHeader,
  RecordEncoder,
  RecordKind,
} from "../../src/storage/wal-format.js";
import { type DecodedBatch, scanSegment } from "../../src/storage/wal-reader.js";
import { damaged, fuzzParams, rejection } from "./fuzz.js";

const PATH = "/data/wal/0000000000000001-0000000000000001.wal";

interface Written {
  bytes: Uint8Array;
  batches: Pick<DecodedBatch, "entries" | "hardState">[];
}

const batchArb = fc.record({
  entries: fc.array(
    fc.record({ term: fc.integer({ min: 1, max: 5 }), data: fc.uint8Array({ maxLength: 24 }) }),
    { minLength: 1, maxLength: 4 },
  ),
  withHardState: fc.boolean(),
});

/** A segment as FileStorage writes it: header, then batches of chained records. */
const segmentArb: fc.Arbitrary<Written> = fc
  .array(batchArb, { minLength: 1, maxLength: 5 })
  .map((spec) => {
    const header = encodeSegmentHeader(1, 1, 0);
    const enc = new RecordEncoder(header.hcrc);
    enc.appendRaw(header.bytes);
    let index = 1;
    const batches: Written["batches"] = [];
    for (const b of spec) {
      const entries: Entry[] = b.entries.map((e) => ({
        index: index++,
        term: e.term,
        type: "normal",
        data: e.data,
      }));
      const hardState = { term: 5, vote: 1, commit: index - 1 };
      enc.append(RecordKind.Entries, !b.withHardState, encodeEntries(entries));
      if (b.withHardState) enc.append(RecordKind.HardState, true, encodeHardState(hardState));
      batches.push(b.withHardState ? { entries, hardState } : { entries });
    }
    return { bytes: new Uint8Array(enc.take()), batches };
  });

const plain = (b: DecodedBatch) => ({
  ...(b.entries ? { entries: b.entries.map((e) => ({ ...e, data: [...e.data] })) } : {}),
  ...(b.hardState ? { hardState: b.hardState } : {}),
});

describe("fuzz: WAL segments at recovery", () => {
  it("a damaged segment yields a prefix of its batches or a corruption error (property)", () => {
    const arb = segmentArb.chain((w) =>
      fc.tuple(fc.constant(w), damaged(fc.constant(w.bytes)), fc.boolean()),
    );
    fc.assert(
      fc.property(arb, ([written, bytes, isLast]) => {
        let scan: ReturnType<typeof scanSegment> | undefined;
        const thrown = rejection(
          () => {
            scan = scanSegment(PATH, Buffer.from(bytes), isLast);
          },
          (e) => e instanceof StorageCorruptionError && e.path === PATH,
        );
        if (thrown !== undefined) return;
        assert.ok(scan);
        const got = scan.batches.map(plain);
        const want = written.batches
          .slice(0, got.length)
          .map((b) => plain({ ...b, path: "", offset: 0 }));
        assert.deepEqual(got, want, "returned batches must be exactly the first ones written");
        if (!isLast) assert.equal(scan.torn, false, "only the last segment may have a torn tail");
      }),
      fuzzParams,
    );
  });

  it("records whose checksums match but whose payloads are garbage are corruption (property)", () => {
    // What a foreign file or a bug would look like: framing and CRC chain intact, contents not.
    const arb = fc.array(
      fc.tuple(
        fc.constantFrom(RecordKind.Entries, RecordKind.HardState, RecordKind.Snapshot),
        fc.uint8Array({ maxLength: 40 }),
      ),
      { minLength: 1, maxLength: 4 },
    );
    fc.assert(
      fc.property(arb, fc.boolean(), (records, isLast) => {
        const header = encodeSegmentHeader(1, 1, 0);
        const enc = new RecordEncoder(header.hcrc);
        enc.appendRaw(header.bytes);
        for (const [kind, payload] of records) enc.append(kind, true, Buffer.from(payload));
        const bytes = enc.take();
        rejection(
          () => scanSegment(PATH, bytes, isLast),
          (e) => e instanceof StorageCorruptionError,
        );
      }),
      fuzzParams,
    );
  });
});
