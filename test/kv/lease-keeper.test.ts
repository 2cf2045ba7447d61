// The leader's half of leases (src/kv/lease-keeper.ts): expiry decided by the leader and
// proposed through the log, an election timeout of grace for a new leader, auto-compaction.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeCommand } from "../../src/kv/commands.js";
import { LeaseKeeper } from "../../src/kv/lease-keeper.js";
import { FakeService } from "./fake-service.js";

const b = (s: string) => Buffer.from(s);

function setup(autoCompactRevisions = 0) {
  const svc = new FakeService(1, 2); // a follower at first
  let clock = 1_000_000;
  const keeper = new LeaseKeeper({
    service: svc,
    sm: svc.sm,
    electionTimeoutMs: 1000,
    autoCompactRevisions,
    now: () => clock,
    checkMs: 3_600_000,
  });
  const apply = (cmd: Parameters<typeof encodeCommand>[0]) =>
    svc.sm.apply({ index: 0, term: 1, type: "normal", data: encodeCommand(cmd) });
  return {
    svc,
    keeper,
    apply,
    advance: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

describe("LeaseKeeper", () => {
  it("a new leader gives every lease its TTL plus an election timeout before expiring it", async () => {
    const t = setup();
    t.apply({ op: "lease-grant", ts: t.now(), id: 9n, ttl: 5 });
    t.apply({ op: "etcd-put", ts: t.now(), req: { key: b("k"), value: b("v"), lease: 9n } });
    t.keeper.check();
    assert.equal(t.svc.sm.store.leases.isPrimary, false, "a follower keeps no deadlines");
    t.advance(60_000);
    t.keeper.check();
    assert.equal(t.svc.proposals, 0, "a follower never expires a lease");
    t.svc.leader = 1; // this member is elected
    t.keeper.check();
    assert.equal(t.svc.sm.store.leases.timeToLive(9n, t.now())?.ttl, 6, "5 s + 1 s of grace");
    t.advance(5500);
    t.keeper.check();
    assert.equal(t.svc.proposals, 0, "within the grace");
    t.advance(600);
    t.keeper.check();
    await new Promise((r) => setImmediate(r));
    assert.equal(t.svc.proposals, 1, "one expiry proposal");
    assert.equal(t.svc.sm.get("k"), undefined, "the lease's keys are gone");
    assert.equal(t.svc.sm.store.leases.get(9n), undefined);
    t.svc.leader = 2;
    t.keeper.check();
    assert.equal(t.svc.sm.store.leases.isPrimary, false, "deposed: deadlines forgotten");
    t.keeper.stop();
  });

  it("auto-compaction keeps the last N revisions", async () => {
    const t = setup(3);
    t.svc.leader = 1;
    for (let i = 0; i < 10; i++) t.apply({ op: "put", key: "k", ts: t.now(), value: b(String(i)) });
    t.keeper.check();
    await new Promise((r) => setImmediate(r));
    assert.equal(t.svc.sm.store.compactRevision, t.svc.sm.revision - 3);
    t.keeper.stop();
  });
});
