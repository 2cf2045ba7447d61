// The MVCC store against the reference model (model.ts) over random operation sequences:
// puts with every flag, deletes, ranges at past revisions with sort/limit/filters, txns with
// nested txns, compactions, lease grants and revokes, pruning at random moments, and snapshot
// and restore in the middle (the restored store carries on, and must snapshot to the same
// bytes). Every answer, error code and past revision must agree.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { prefixEnd } from "../../../src/kv/mvcc/keys.js";
import { restoreSnapshot, snapshotChunks } from "../../../src/kv/mvcc/snapshot.js";
import { MvccStore, type StoreResult } from "../../../src/kv/mvcc/store.js";
import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "../../../src/kv/mvcc/types.js";
import { bytes, Model, type ModelResult, plain, SEED } from "./model.js";

const KEYS = ["a", "ab", "abc", "b", "ba", "c", "\u0000", "\u00ff", "a\u00ff", "d"];
const LEASES = [1n, 2n, -7n];

const keyArb = fc.constantFrom(...KEYS).map(bytes);
const endArb = fc.oneof(
  fc.constant(undefined),
  fc.constant(new Uint8Array([0])),
  keyArb,
  keyArb.map(prefixEnd),
);
const valueArb = fc.constantFrom("", "x", "y", "zz", "\u00ff").map(bytes);
const leaseArb = fc.constantFrom(0n, 0n, ...LEASES);
/** A revision relative to the current one: 0 (newest), or back up to 6, or one ahead. */
const relRevArb = fc.oneof(fc.constant(0), fc.integer({ min: -6, max: 1 }));

const putArb: fc.Arbitrary<PutRequest> = fc.record(
  {
    key: keyArb,
    value: valueArb,
    lease: leaseArb,
    prevKv: fc.boolean(),
    ignoreValue: fc.boolean(),
    ignoreLease: fc.boolean(),
  },
  { requiredKeys: ["key"] },
);

const deleteArb: fc.Arbitrary<DeleteRangeRequest> = fc.record({
  key: keyArb,
  rangeEnd: endArb,
  prevKv: fc.boolean(),
});

/** Mostly unset, so that plain limited ranges (the fast path) come up often too. */
const revFilter = fc.oneof(
  { weight: 5, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) },
);
const mostlyZero = <T extends number>(...values: T[]) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(0 as T) },
    { weight: 2, arbitrary: fc.constantFrom(...values) },
  );
const rangeArb = fc.record({
  key: keyArb,
  rangeEnd: endArb,
  limit: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 })),
  rel: relRevArb,
  sortOrder: mostlyZero<0 | 1 | 2>(1, 2),
  sortTarget: mostlyZero<0 | 1 | 2 | 3 | 4>(1, 2, 3, 4),
  keysOnly: fc.boolean(),
  countOnly: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  minModRevision: revFilter,
  maxModRevision: revFilter,
  minCreateRevision: revFilter,
  maxCreateRevision: revFilter,
});

const compareArb: fc.Arbitrary<Compare> = fc.record(
  {
    key: keyArb,
    rangeEnd: fc.oneof(fc.constant(undefined), endArb),
    result: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
    target: fc.constantFrom(0, 1, 2, 3, 4) as fc.Arbitrary<0 | 1 | 2 | 3 | 4>,
    version: fc.integer({ min: 0, max: 3 }),
    createRevision: fc.integer({ min: 0, max: 10 }),
    modRevision: fc.integer({ min: 0, max: 10 }),
    value: valueArb,
    lease: leaseArb,
  },
  { requiredKeys: ["key"] },
);

type RangeOp = RangeRequest & { rel: number };

type Op =
  | { kind: "put"; req: PutRequest }
  | { kind: "del"; req: DeleteRangeRequest }
  | { kind: "range"; req: RangeOp }
  | { kind: "txn"; req: TxnRequest; rel: number }
  | { kind: "compact"; rel: number }
  | { kind: "grant"; id: bigint; ttl: number }
  | { kind: "revoke"; id: bigint }
  | { kind: "maintain"; budget: number }
  | { kind: "snapshot"; chunkBytes: number; split: number };

function opArb(depth: number): fc.Arbitrary<RequestOp> {
  const leaf: fc.Arbitrary<RequestOp>[] = [
    rangeArb.map((r) => ({ range: { ...r, revision: 0 } })),
    putArb.map((put) => ({ put })),
    deleteArb.map((deleteRange) => ({ deleteRange })),
  ];
  if (depth > 0) leaf.push(txnArb(depth - 1).map((txn) => ({ txn })));
  return fc.oneof(...leaf);
}

function txnArb(depth: number): fc.Arbitrary<TxnRequest> {
  return fc.record({
    compare: fc.array(compareArb, { maxLength: 2 }),
    success: fc.array(opArb(depth), { maxLength: 3 }),
    failure: fc.array(opArb(depth), { maxLength: 3 }),
  });
}

const opsArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: putArb.map((req) => ({ kind: "put" as const, req })) },
  { weight: 2, arbitrary: deleteArb.map((req) => ({ kind: "del" as const, req })) },
  { weight: 4, arbitrary: rangeArb.map((req) => ({ kind: "range" as const, req })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(txnArb(1), relRevArb)
      .map(([req, rel]) => ({ kind: "txn" as const, req, rel })),
  },
  {
    weight: 2,
    arbitrary: fc.integer({ min: -3, max: 0 }).map((rel) => ({ kind: "compact" as const, rel })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(0n, ...LEASES), fc.constantFrom(-1, 0, 1, 5, 9_000_000_001))
      .map(([id, ttl]) => ({ kind: "grant" as const, id, ttl })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...LEASES).map((id) => ({ kind: "revoke" as const, id })),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 8 })
      .map((budget) => ({ kind: "maintain" as const, budget })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 16, max: 300 }), fc.integer({ min: 1, max: 97 }))
      .map(([chunkBytes, split]) => ({ kind: "snapshot" as const, chunkBytes, split })),
  },
);

function same<T>(got: StoreResult<T>, want: ModelResult<unknown>, what: string): void {
  if (!want.ok) {
    assert.equal(got.ok ? "ok" : got.error.code, want.code, what);
    return;
  }
  assert.ok(got.ok, `${what}: store failed with ${got.ok ? "" : got.error.message}`);
  assert.deepEqual(plain(got.value), plain(want.value), what);
}

/** The txn's range revisions, made relative to the current revision. */
function withRevisions(t: TxnRequest, rev: number, rel: number): TxnRequest {
  const fix = (ops: RequestOp[] | undefined) =>
    (ops ?? []).map((op): RequestOp => {
      if ("range" in op) return { range: { ...op.range, revision: rel === 0 ? 0 : rev + rel } };
      if ("txn" in op) return { txn: withRevisions(op.txn, rev, rel) };
      return op;
    });
  return { compare: t.compare ?? [], success: fix(t.success), failure: fix(t.failure) };
}

/** Snapshot `store` and restore it into a new one, the stream re-split every `split` bytes. */
function roundTrip(store: MvccStore, chunkBytes: number, split: number): MvccStore {
  const original = Buffer.concat([...snapshotChunks(store, { chunkBytes })]);
  const copy = new MvccStore();
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < original.length; i += split) pieces.push(original.subarray(i, i + split));
  restoreSnapshot(copy, pieces);
  const again = Buffer.concat([...snapshotChunks(copy, { chunkBytes: 4096 })]);
  const first = Buffer.concat([...snapshotChunks(store, { chunkBytes: 4096 })]);
  assert.ok(again.equals(first), "a restored store snapshots to the same bytes");
  return copy;
}

function run(ops: Op[]): void {
  let store = new MvccStore();
  const model = new Model();
  let step = 0;
  for (const op of ops) {
    step++;
    const what = `step ${step} ${op.kind}`;
    switch (op.kind) {
      case "put":
        same(store.put(op.req), model.put(op.req), what);
        break;
      case "del":
        same(store.deleteRange(op.req), model.deleteRange(op.req), what);
        break;
      case "range": {
        const { rel, ...rest } = op.req;
        const req: RangeRequest = { ...rest, revision: rel === 0 ? 0 : model.rev + rel };
        same(store.range(req), model.range(req), `${what} ${JSON.stringify(plain(req))}`);
        break;
      }
      case "txn": {
        const req = withRevisions(op.req, model.rev, op.rel);
        same(store.txn(req), model.txn(req), what);
        break;
      }
      case "compact": {
        const rev = model.rev + op.rel;
        same(store.compact(rev), model.compact(rev), what);
        break;
      }
      case "grant":
        same(store.leaseGrant(op.id, op.ttl, 0), model.leaseGrant(op.id, op.ttl), what);
        break;
      case "revoke":
        same(store.leaseRevoke(op.id), model.leaseRevoke(op.id), what);
        break;
      case "maintain":
        store.maintain(op.budget);
        break;
      case "snapshot":
        store = roundTrip(store, op.chunkBytes, op.split);
        break;
    }
    assert.equal(store.revision, model.rev, `${what}: revision`);
    // Every readable revision still reads as it did.
    for (let r = Math.max(model.compactRev, 1); r <= model.rev; r++) {
      const all = { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), revision: r };
      same(store.range(all), model.range(all), `${what}: all keys at revision ${r}`);
    }
    for (const id of LEASES) {
      const lease = store.leases.get(id);
      assert.equal(lease?.ttl, model.leases.get(id), `${what}: lease ${id}`);
      if (lease)
        assert.deepEqual([...lease.keys].sort(), model.leaseKeys(id), `${what}: keys of ${id}`);
    }
  }
}

describe("MVCC store against the model", () => {
  it("agrees on every answer and every past revision over random operations", () => {
    fc.assert(
      fc.property(fc.array(opsArb, { minLength: 1, maxLength: 80, size: "max" }), (ops) =>
        run(ops),
      ),
      { seed: SEED, numRuns: 400, includeErrorInReport: true },
    );
  });
});
