// Membership changes in the core (Raft thesis §4.3 joint consensus, as etcd-io/raft's
// ConfChangeV2), named after the thesis's rules and etcd's interaction tests
// (confchange_v2_add_double_auto, confchange_v2_replace_leader, ...). Virtual time: the
// harness delivers every message by hand.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeConfChangeEntry } from "../../src/raft/confchange-codec.js";
import { type ConfChange, type ConfState, type NodeId, simpleConf } from "../../src/raft/types.js";
import { bytes, Cluster } from "./harness.js";

/** Proposes `cc` on `leader` and delivers everything; auto-leave included. */
function change(c: Cluster, leader: NodeId, cc: ConfChange): number {
  const r = c.node(leader).proposeConfChange(cc);
  assert.ok(r.ok, r.ok ? "" : `${r.reason}${"error" in r ? `: ${r.error}` : ""}`);
  c.process(leader);
  c.stabilize();
  c.tickAll(2);
  return r.index;
}

const voter = (node: NodeId) => ({ type: "add-voter" as const, node });
const learner = (node: NodeId) => ({ type: "add-learner" as const, node });
const remove = (node: NodeId) => ({ type: "remove" as const, node });

function confOf(c: Cluster, id: NodeId): ConfState {
  return c.node(id).status().conf;
}

function conf(voters: NodeId[], more: Partial<ConfState> = {}): ConfState {
  return { ...simpleConf(voters), ...more };
}

/** Entries of the leader's log of type conf, decoded. */
function confEntries(c: Cluster, id: NodeId) {
  const disk = c.disks.get(id)?.state;
  assert.ok(disk);
  return disk.entries
    .filter((e) => e.type === "conf")
    .map((e) => {
      const d = decodeConfChangeEntry(e.data);
      assert.ok(d.ok);
      return d.value;
    });
}

describe("membership changes (thesis §4.3)", () => {
  it("joint enter and auto-leave: two voters added at once go through C_old,new and out of it", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    c.addNode(4);
    c.addNode(5);
    change(c, 1, { changes: [voter(4), voter(5)] });
    for (const id of c.ids) assert.deepEqual(confOf(c, id), conf([1, 2, 3, 4, 5]), `node ${id}`);
    const entries = confEntries(c, 1);
    assert.deepEqual(
      entries.map((e) => e.conf),
      [
        conf([1, 2, 3, 4, 5], { votersOutgoing: [1, 2, 3], autoLeave: true }),
        conf([1, 2, 3, 4, 5]),
      ],
      "entered the joint configuration, then the leader left it on its own",
    );
    assert.deepEqual(entries[1]?.changes, [], "the leave is the empty change");
    c.propose(1, "x");
    c.stabilize();
    for (const id of c.ids) assert.deepEqual(c.applied.get(id), ["x"]);
  });

  it("a single-member change is the special case: no joint configuration", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    c.addNode(4);
    change(c, 1, { changes: [voter(4)], context: bytes("4=127.0.0.1:7004") });
    const entries = confEntries(c, 1);
    assert.equal(entries.length, 1);
    assert.deepEqual(entries[0]?.conf, conf([1, 2, 3, 4]));
    assert.equal(new TextDecoder().decode(entries[0]?.context), "4=127.0.0.1:7004");
  });

  it("a configuration takes effect when applied, and Ready.confState reports it", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.addNode(4);
    const r = l.proposeConfChange({ changes: [voter(4)] });
    assert.ok(r.ok);
    c.process(1);
    assert.deepEqual(l.status().conf, conf([1, 2, 3]), "appended, not yet in effect");
    c.deferAdvance = true;
    c.stabilize();
    // Committed and handed out, but not acknowledged as applied: still the old configuration.
    assert.deepEqual(l.status().conf, conf([1, 2, 3]));
    assert.deepEqual(c.confStates.get(1) ?? [], []);
    c.deferAdvance = false;
    c.advanceAll(1);
    assert.deepEqual(l.status().conf, conf([1, 2, 3, 4]));
    assert.deepEqual(c.confStates.get(1), [conf([1, 2, 3, 4])], "reported once, in a Ready");
  });

  it("one change at a time: a second is refused until the first is applied", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.stabilize();
    c.addNode(4);
    c.addNode(5);
    assert.ok(l.proposeConfChange({ changes: [learner(4)] }).ok);
    const second = l.proposeConfChange({ changes: [learner(5)] });
    assert.equal(second.ok, false);
    assert.equal(!second.ok && second.reason, "conf-pending");
    c.process(1);
    c.stabilize();
    assert.ok(l.proposeConfChange({ changes: [learner(5)] }).ok);
  });

  it("an invalid change is refused with a clear error and changes nothing", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.stabilize();
    const last = l.status().lastIndex;
    const r = l.proposeConfChange({ changes: [remove(1), remove(2), remove(3)] });
    assert.deepEqual(r, {
      ok: false,
      reason: "invalid-conf",
      leader: 1,
      error: "the change would leave no voter",
    });
    const leave = l.proposeConfChange({ changes: [] });
    assert.equal(!leave.ok && leave.reason, "invalid-conf");
    // Input from outside the type system gets the same treatment.
    for (const bad of [
      { changes: "all" },
      { changes: [null] },
      { changes: [{ type: "add-voter", node: 1.5 }] },
      { changes: [{ type: "promote", node: 4 }] },
      { changes: [voter(4)], transition: "sideways" },
      { changes: [voter(4)], context: "10.0.0.4:7000" },
    ]) {
      const r = l.proposeConfChange(bad as unknown as ConfChange);
      assert.equal(!r.ok && r.reason, "invalid-conf", JSON.stringify(bad));
    }
    assert.equal(l.status().lastIndex, last);
    assert.equal(c.node(2).proposeConfChange({ changes: [voter(9)] }).ok, false, "not the leader");
  });

  it("a learner is replicated to but never counts toward commit", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.addNode(4);
    change(c, 1, { changes: [learner(4)] });
    assert.deepEqual(confOf(c, 4), conf([1, 2, 3], { learners: [4] }));
    c.propose(1, "a");
    c.stabilize();
    assert.deepEqual(c.applied.get(4), ["a"], "the learner receives the log");
    // With both voting followers cut off, leader + learner are no majority.
    c.isolate(2);
    c.isolate(3);
    c.propose(1, "b");
    c.stabilize();
    assert.equal(l.status().commit, l.status().lastIndex - 1, "b is not committed");
    assert.equal(l.status().progress?.[4]?.match, l.status().lastIndex, "though 4 holds it");
    c.heal();
    c.tickAll(2);
    assert.equal(l.status().commit, l.status().lastIndex);
  });

  it("a learner never campaigns and cannot be the target of a transfer", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.addNode(4);
    change(c, 1, { changes: [learner(4)] });
    assert.equal(l.transferLeader(4), false, "a learner cannot be transferred to");
    c.isolate(1);
    for (let i = 0; i < 60; i++) c.tick(4);
    assert.equal(c.node(4).status().role, "follower");
    assert.ok(!c.sent.some((m) => m.from === 4 && (m.type === "vote" || m.type === "prevote")));
  });

  it("promoting a learner: it votes and counts once the promotion is applied", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.addNode(4);
    change(c, 1, { changes: [learner(4)] });
    change(c, 1, { changes: [voter(4)] });
    for (const id of c.ids) assert.deepEqual(confOf(c, id), conf([1, 2, 3, 4]));
    // 4 voters: a majority is 3. Leader + 4 + one other commit; leader + one other do not.
    c.isolate(3);
    c.isolate(4);
    c.propose(1, "needs-three");
    c.stabilize();
    assert.equal(l.status().commit, l.status().lastIndex - 1);
    c.heal();
    c.isolate(3);
    c.tickAll(2);
    assert.equal(l.status().commit, l.status().lastIndex, "committed with 4's vote");
  });

  it("removing the leader: it leads until the change commits, then steps down", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    const at = change(c, 1, { changes: [remove(1)] });
    assert.ok(l.status().commit >= at);
    assert.equal(l.status().role, "follower", "stepped down once the change was applied");
    assert.deepEqual(confOf(c, 1), conf([2, 3]));
    c.tickAll(40);
    const leaders = c.leaders();
    assert.equal(leaders.length, 1);
    assert.ok(leaders[0] !== 1, "a remaining member leads");
    const nl = leaders[0] as NodeId;
    c.propose(nl, "after");
    c.stabilize();
    assert.deepEqual(c.applied.get(2), ["after"]);
    assert.deepEqual(c.applied.get(3), ["after"]);
    assert.equal(c.node(1).status().role, "follower", "the removed node never campaigns");
  });

  it("a leader that removed itself takes no new entries, so the next election needs no commit news", () => {
    // etcd's demote-the-leader case, in two voters: {1,2} -> {2} with 1 a learner. The commit
    // of the change reaches 1 but not 2, and 1 steps down once it applies it. 2 still counts
    // votes with {1,2}: it wins only if 1 grants, which 1 does only if 2's log is as long.
    const c = new Cluster({ n: 2 });
    const l = c.elect(1);
    c.stabilize();
    const r = l.proposeConfChange({ changes: [learner(1)] });
    assert.ok(r.ok);
    c.process(1);
    c.deliver(c.take((m) => m.type === "app")); // 2 appends it
    c.deferAdvance = true; // 1 is handed the committed change but has not applied it yet
    c.deliver(c.take((m) => m.type === "app-resp")); // 2's reply commits it on 1
    assert.ok(l.status().commit >= r.index);
    assert.equal(l.status().role, "leader");
    assert.deepEqual(l.propose(bytes("late")), { ok: false, reason: "not-leader", leader: 0 });
    c.take((m) => m.from === 1); // the commit news is lost
    c.deferAdvance = false;
    c.advanceAll(1);
    c.take((m) => m.from === 1);
    assert.equal(l.status().role, "follower", "1 applied its demotion and stepped down");
    assert.ok(c.node(2).status().commit < r.index, "2 does not know the change committed");
    c.tickAll(60);
    assert.deepEqual(c.leaders(), [2]);
    assert.deepEqual(confOf(c, 2), conf([2], { learners: [1] }));
  });

  it("replacing the leader through a joint change: it leads C_old,new without counting itself for C_new", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.addNode(4);
    const r = l.proposeConfChange({ changes: [voter(4), remove(1)] });
    assert.ok(r.ok);
    c.process(1);
    // Deliver until the joint configuration is in effect on the leader (it then proposes the
    // leave at once); cut 2 and 4 off before the leave commits: C_new = {2,3,4} needs two of
    // them, and the leader does not count toward it.
    const joint = conf([2, 3, 4], { votersOutgoing: [1, 2, 3], autoLeave: true });
    while (c.queue.length > 0 && l.status().conf.votersOutgoing.length === 0) c.deliverAt(0);
    assert.deepEqual(l.status().conf, joint);
    assert.equal(l.status().role, "leader");
    c.isolate(2);
    c.isolate(4);
    c.tickAll(2);
    assert.ok(l.status().commit < l.status().lastIndex, "1 and 3 are no majority of C_new");
    c.heal();
    c.tickAll(3);
    assert.deepEqual(confOf(c, 2), conf([2, 3, 4]));
    assert.notEqual(l.status().role, "leader", "stepped down once C_new was applied");
    c.tickAll(40);
    assert.equal(c.leaders().length, 1);
    assert.ok(c.leaders()[0] !== 1);
  });

  it("a joint configuration needs majorities of both halves to commit", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.addNode(4);
    c.addNode(5);
    change(c, 1, {
      changes: [voter(4), voter(5), remove(2), remove(3)],
      transition: "joint-explicit",
    });
    assert.deepEqual(l.status().conf, conf([1, 4, 5], { votersOutgoing: [1, 2, 3] }));
    const propose = (v: string) => {
      c.propose(1, v);
      c.stabilize();
    };
    c.isolate(4);
    c.isolate(5);
    propose("old-only");
    assert.equal(l.status().commit, l.status().lastIndex - 1, "C_old's majority alone: no");
    c.heal();
    c.tickAll(2);
    assert.equal(l.status().commit, l.status().lastIndex);
    c.isolate(2);
    c.isolate(3);
    propose("new-only");
    assert.equal(l.status().commit, l.status().lastIndex - 1, "C_new's majority alone: no");
    c.heal();
    c.tickAll(2);
    assert.equal(l.status().commit, l.status().lastIndex, "both: yes");
  });

  it("a joint configuration needs majorities of both halves to elect", () => {
    const c = new Cluster({ n: 3, preVote: false, checkQuorum: false });
    c.elect(1);
    c.addNode(4);
    c.addNode(5);
    change(c, 1, {
      changes: [voter(4), voter(5), remove(2), remove(3)],
      transition: "joint-explicit",
    });
    // 2 campaigns with 3 of C_old = {1,2,3} (a majority of it) but nobody of C_new = {1,4,5}:
    // it must not win.
    c.partition([1, 2, 3], [4, 5]);
    c.isolate(1);
    c.node(2).campaign();
    c.stabilize();
    assert.notEqual(c.node(2).status().role, "leader");
    // Now with 4 and 5 (a majority of C_new) but only itself of C_old: no again.
    c.heal();
    c.isolate(1);
    c.cutLink(2, 3);
    c.node(2).campaign();
    c.stabilize();
    assert.notEqual(c.node(2).status().role, "leader");
    c.heal();
    c.isolate(1);
    c.node(2).campaign();
    c.stabilize();
    assert.equal(c.node(2).status().role, "leader", "with 2,3 of C_old and 4,5 of C_new it wins");
  });

  it("a change proposed during a transfer is refused", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.isolate(3);
    c.propose(1, "x");
    c.stabilize();
    assert.ok(l.transferLeader(3), "3 lags: the transfer waits for it");
    c.addNode(4);
    const r = l.proposeConfChange({ changes: [voter(4)] });
    assert.deepEqual(r, { ok: false, reason: "transferring", leader: 1 });
    c.tickAll(12);
    assert.ok(l.proposeConfChange({ changes: [voter(4)] }).ok, "accepted once it is abandoned");
  });

  it("a transfer whose target is removed is abandoned", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    const r = l.proposeConfChange({ changes: [remove(3)] });
    assert.ok(r.ok);
    c.isolate(3);
    assert.ok(l.transferLeader(3));
    c.process(1);
    c.stabilize();
    c.tickAll(1);
    assert.deepEqual(l.status().conf, conf([1, 2]));
    assert.ok(l.propose(bytes("y")).ok, "the transfer ended with 3's removal");
  });

  it("a snapshot carrying a joint configuration installs it on the follower, and restarts keep it", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.addNode(4);
    c.isolate(3);
    change(c, 1, { changes: [voter(4)], transition: "joint-explicit" });
    const joint = conf([1, 2, 3, 4], { votersOutgoing: [1, 2, 3] });
    assert.deepEqual(l.status().conf, joint);
    c.propose(1, "z");
    c.stabilize();
    c.compact(1);
    const snap = c.disks.get(1)?.state.snapshot;
    assert.deepEqual(snap?.metadata.conf, joint, "the snapshot carries the joint configuration");
    c.heal();
    c.tickAll(3);
    assert.ok(c.sent.some((m) => m.type === "snap" && m.to === 3));
    assert.deepEqual(confOf(c, 3), joint, "installed from the snapshot");
    assert.deepEqual(c.applied.get(3), ["z"]);
    c.restart(3);
    assert.deepEqual(confOf(c, 3), joint, "restored from the snapshot after a restart");
    change(c, 1, { changes: [] });
    for (const id of c.ids) assert.deepEqual(confOf(c, id), conf([1, 2, 3, 4]), `node ${id}`);
  });

  it("log compaction never loses the configuration: a restart from a compacted log has it", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    c.addNode(4);
    change(c, 1, { changes: [learner(4)] });
    c.propose(1, "a");
    c.stabilize();
    for (const id of c.ids) c.compact(id);
    c.propose(1, "b");
    c.stabilize();
    for (const id of c.ids) {
      c.restart(id);
      assert.deepEqual(confOf(c, id), conf([1, 2, 3], { learners: [4] }), `node ${id}`);
    }
    c.tickAll(40);
    assert.equal(c.leaders().length, 1);
  });

  it("a restart replays the conf entries after the snapshot; no campaign before they are applied", () => {
    const c = new Cluster({ n: 3, preVote: false });
    c.elect(1);
    c.addNode(4);
    change(c, 1, { changes: [voter(4)] });
    c.deferAdvance = true;
    // Node 2 restarts: its snapshot-less log says the change is committed, but until it is
    // applied again node 2 would count votes with {1,2,3}: it must not campaign.
    const n2 = c.restart(2);
    assert.deepEqual(n2.status().conf, conf([1, 2, 3]), "handed out, not yet applied");
    n2.campaign();
    c.process(2);
    assert.equal(n2.status().role, "follower");
    assert.equal(n2.status().term, c.node(1).status().term);
    c.deferAdvance = false;
    c.advanceAll(2);
    assert.deepEqual(n2.status().conf, conf([1, 2, 3, 4]), "applied again");
    n2.campaign();
    c.process(2);
    assert.equal(n2.status().role, "candidate", "now it may campaign");
  });

  it("a removed node that campaigns with a higher term does not disrupt the cluster (thesis §4.2.3)", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    c.isolate(3);
    const r = l.proposeConfChange({ changes: [remove(3)] });
    assert.ok(r.ok);
    c.process(1);
    c.stabilize();
    c.tickAll(2);
    assert.deepEqual(l.status().conf, conf([1, 2]));
    // 3 never learned it was removed, and comes back with a higher term (it campaigned while
    // cut off, or restarted from state that had one): it campaigns again and again.
    const state = structuredClone(c.disks.get(3)?.state);
    assert.ok(state);
    state.hardState.term = l.status().term + 5;
    c.setState(3, state);
    c.heal();
    const term = l.status().term;
    c.tickAll(60);
    assert.ok(
      c.sent.some((m) => m.from === 3 && m.type === "prevote"),
      "3 campaigned",
    );
    assert.equal(l.status().role, "leader");
    assert.equal(l.status().term, term, "its vote requests were ignored (leases)");
  });
});
