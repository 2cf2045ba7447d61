// Leases: the replicated half (grant, revoke) applied alike everywhere, and the leader-local
// half (deadlines, keep-alives, expiry, promotion) driven by times passed in.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { LeaseTable, minLeaseTtl } from "../../../src/kv/lease/lease-table.js";
import { MvccStore } from "../../../src/kv/mvcc/store.js";
import { bytes, SEED, text } from "../mvcc/model.js";

const T0 = 1_700_000_000_000;

describe("LeaseTable", () => {
  it("etcd's minimum TTL: 1.5 election timeouts in heartbeats, rounded up to seconds", () => {
    assert.equal(minLeaseTtl(1000, 100), 2);
    assert.equal(minLeaseTtl(300, 50), 1);
    assert.equal(minLeaseTtl(5000, 500), 8);
  });

  it("on the leader, a lease expires once its TTL has passed since the grant", () => {
    const t = new LeaseTable(2);
    t.promote(T0, 0);
    assert.ok(t.grant(1n, 10, T0).ok);
    assert.deepEqual(t.expired(T0 + 9_999, 10), []);
    assert.deepEqual(t.expired(T0 + 10_000, 10), [1n]);
  });

  it("a keep-alive renews the full TTL from now; it is not a write", () => {
    const s = new MvccStore();
    s.leases.promote(T0, 0);
    assert.ok(s.leaseGrant(5n, 10, T0).ok);
    const r = s.leases.renew(5n, T0 + 8000);
    assert.deepEqual(r, { ok: true, value: 10 });
    assert.equal(s.revision, 1);
    assert.deepEqual(s.leases.expired(T0 + 17_999, 10), []);
    assert.deepEqual(s.leases.expired(T0 + 18_000, 10), [5n]);
  });

  it("a lease past its deadline is as good as revoked: renew answers not found", () => {
    const t = new LeaseTable(2);
    t.promote(T0, 0);
    t.grant(1n, 5, T0);
    const r = t.renew(1n, T0 + 5000);
    assert.equal(r.ok ? "ok" : r.error.message, "etcdserver: requested lease not found");
    const unknown = t.renew(9n, T0);
    assert.equal(
      unknown.ok ? "ok" : unknown.error.message,
      "etcdserver: requested lease not found",
    );
  });

  it("a member that is not the leader keeps no deadlines: no expiries, keep-alives refused", () => {
    const t = new LeaseTable(2);
    t.grant(1n, 5, T0);
    assert.deepEqual(t.expired(T0 + 1e9, 10), []);
    const r = t.renew(1n, T0);
    assert.equal(r.ok ? "ok" : r.error.code, "NotPrimary");
    assert.equal(t.timeToLive(1n, T0)?.ttl, 5, "its TTL reads as the granted one");
  });

  it("a new leader extends every lease by an election timeout before expiring any", () => {
    const t = new LeaseTable(2);
    t.promote(T0, 0);
    t.grant(1n, 10, T0);
    t.grant(2n, 3, T0);
    t.demote();
    // Elected at T0 + 20 s (both would be long expired by the old leader's clock).
    t.promote(T0 + 20_000, 1000);
    assert.deepEqual(t.expired(T0 + 23_999, 10), []);
    assert.deepEqual(t.expired(T0 + 24_000, 10), [2n]);
    // Lease 2 again too: its revoke never came.
    assert.deepEqual(t.expired(T0 + 31_000, 10), [2n, 1n]);
  });

  it("an expired lease is reported again only after the retry interval (its revoke may be lost)", () => {
    const t = new LeaseTable(2);
    t.promote(T0, 0);
    t.grant(1n, 2, T0);
    t.grant(2n, 2, T0);
    assert.deepEqual(
      t.expired(T0 + 2000, 1),
      [1n],
      "limit respected, earliest (then lowest id) first",
    );
    assert.deepEqual(t.expired(T0 + 2000, 10), [2n]);
    assert.deepEqual(t.expired(T0 + 4999, 10), []);
    assert.deepEqual(t.expired(T0 + 5000, 10), [1n, 2n]);
  });

  it("time-to-live: remaining seconds truncated, granted TTL, attached keys in byte order", () => {
    const s = new MvccStore();
    s.leases.promote(T0, 0);
    s.leaseGrant(3n, 60, T0);
    s.put({ key: bytes("z"), lease: 3n });
    s.put({ key: bytes("\u00ff"), lease: 3n });
    s.put({ key: bytes("a"), lease: 3n });
    const ttl = s.leases.timeToLive(3n, T0 + 1500);
    assert.deepEqual(ttl, { id: 3n, ttl: 58, grantedTtl: 60, keys: ["a", "z", "\u00ff"] });
    assert.equal(s.leases.timeToLive(4n, T0), undefined);
    assert.deepEqual(s.leases.ids(), [3n]);
  });

  it("matches a scan over every lease for any sequence of grants, keep-alives and checks", () => {
    type Op =
      | { k: "grant"; id: number; ttl: number }
      | { k: "renew"; id: number }
      | { k: "remove"; id: number }
      | { k: "expired"; limit: number }
      | { k: "promote"; extend: number }
      | { k: "demote" }
      | { k: "tick"; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        k: fc.constant("grant" as const),
        id: fc.integer({ min: 1, max: 30 }),
        ttl: fc.integer({ min: -1, max: 20 }),
      }),
      fc.record({ k: fc.constant("renew" as const), id: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ k: fc.constant("remove" as const), id: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ k: fc.constant("expired" as const), limit: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ k: fc.constant("promote" as const), extend: fc.integer({ min: 0, max: 3000 }) }),
      fc.constant({ k: "demote" as const }),
      fc.record({ k: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 4000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const t = new LeaseTable(2);
        // The model: granted TTLs, deadlines (leader only) and next report times, scanned.
        const ttls = new Map<bigint, number>();
        const deadline = new Map<bigint, number>();
        const nextCheck = new Map<bigint, number>();
        let primary = false;
        let now = T0;
        for (const o of ops) {
          if (o.k === "tick") now += o.ms;
          else if (o.k === "grant") {
            const id = BigInt(o.id);
            const r = t.grant(id, o.ttl, now);
            assert.equal(r.ok, !ttls.has(id));
            if (!r.ok) continue;
            ttls.set(id, Math.max(o.ttl, 2));
            if (primary) {
              deadline.set(id, now + Math.max(o.ttl, 2) * 1000);
              nextCheck.set(id, deadline.get(id) as number);
            }
          } else if (o.k === "renew") {
            const id = BigInt(o.id);
            const r = t.renew(id, now);
            const alive: boolean = primary && ttls.has(id) && (deadline.get(id) as number) > now;
            assert.equal(r.ok, alive);
            if (alive) {
              deadline.set(id, now + (ttls.get(id) as number) * 1000);
              nextCheck.set(id, deadline.get(id) as number);
            }
          } else if (o.k === "remove") {
            const id = BigInt(o.id);
            assert.equal(t.remove(id) !== undefined, ttls.delete(id));
            deadline.delete(id);
            nextCheck.delete(id);
          } else if (o.k === "promote") {
            primary = true;
            for (const [id, ttl] of ttls) {
              deadline.set(id, now + o.extend + ttl * 1000);
              nextCheck.set(id, deadline.get(id) as number);
            }
            t.promote(now, o.extend);
          } else if (o.k === "demote") {
            primary = false;
            deadline.clear();
            nextCheck.clear();
            t.demote();
          } else {
            const want: bigint[] = primary
              ? [...nextCheck]
                  .filter(([id, at]) => at <= now && (deadline.get(id) as number) <= now)
                  .sort(([a, x], [b, y]) => x - y || (a < b ? -1 : 1))
                  .slice(0, o.limit)
                  .map(([id]) => id)
              : [];
            assert.deepEqual(t.expired(now, o.limit), want);
            for (const id of want) nextCheck.set(id, now + 3000);
          }
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe("lease expiry across members", () => {
  it("is decided by the leader, applied as one revoke everywhere, and survives a leader change", () => {
    // Three members apply the same log; member 0 leads, then member 1 takes over.
    const members = [new MvccStore(), new MvccStore(), new MvccStore()];
    const apply = (f: (s: MvccStore) => unknown) => members.map(f);
    members[0]?.leases.promote(T0, 1000);
    apply((s) => s.leaseGrant(1n, 10, T0));
    apply((s) => s.leaseGrant(2n, 30, T0));
    apply((s) => s.put({ key: bytes("lock/a"), lease: 1n }));
    apply((s) => s.put({ key: bytes("lock/b"), lease: 1n }));
    apply((s) => s.put({ key: bytes("svc/x"), lease: 2n }));
    // Followers never expire anything, whatever time they are asked about.
    assert.deepEqual(members[1]?.leases.expired(T0 + 1e6, 100), []);
    const due = members[0]?.leases.expired(T0 + 10_000, 100) ?? [];
    assert.deepEqual(due, [1n]);
    const before = members[0]?.revision as number;
    for (const id of due) apply((s) => s.leaseRevoke(id));
    for (const s of members) {
      assert.equal(s.revision, before + 1, "both keys went in one revision");
      const r = s.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) });
      assert.deepEqual(r.ok && r.value.kvs.map((kv) => text(kv.key)), ["svc/x"]);
    }
    // Leader change at T0 + 29 s: the new leader extends lease 2 by its election timeout.
    members[0]?.leases.demote();
    members[1]?.leases.promote(T0 + 29_000, 1000);
    assert.deepEqual(members[1]?.leases.expired(T0 + 30_000, 100), [], "not at its old deadline");
    assert.deepEqual(members[1]?.leases.expired(T0 + 29_000 + 31_000, 100), [2n]);
  });
});
