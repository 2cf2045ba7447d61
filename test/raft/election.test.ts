import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawNode } from "../../src/raft/raw-node.js";
import type { Message, VoteRequest } from "../../src/raft/types.js";
import { Cluster, mulberry32, stateWith } from "./harness.js";

function follower(id = 1, opts: Partial<ConstructorParameters<typeof RawNode>[0]> = {}): RawNode {
  return new RawNode({
    id,
    peers: [1, 2, 3],
    electionTick: 10,
    heartbeatTick: 1,
    random: mulberry32(1),
    ...opts,
  });
}

function voteReq(from: number, term: number, lastLogIndex = 0, lastLogTerm = 0): VoteRequest {
  return { type: "vote", from, to: 1, term, lastLogIndex, lastLogTerm };
}

/** Steps m and returns the vote responses the node wants to send. */
function answer(n: RawNode, m: Message): boolean[] {
  n.step(m);
  const rd = n.ready();
  n.advance(rd);
  return rd.messages.flatMap((r) =>
    r.type === "vote-resp" || r.type === "prevote-resp" ? [r.granted] : [],
  );
}

describe("elections (§5.2)", () => {
  it("§5.2 a follower grants one vote per term", () => {
    const n = follower();
    assert.deepEqual(answer(n, voteReq(2, 1)), [true]);
    assert.deepEqual(answer(n, voteReq(3, 1)), [false]);
    // A repeated request from the same candidate (a lost reply) is granted again.
    assert.deepEqual(answer(n, voteReq(2, 1)), [true]);
    assert.equal(n.status().vote, 2);
  });

  it("§5.2 votedFor resets when (and only when) the term changes", () => {
    const n = follower();
    assert.deepEqual(answer(n, voteReq(2, 1)), [true]);
    assert.deepEqual(answer(n, voteReq(3, 2)), [true]);
    assert.equal(n.status().term, 2);
    assert.equal(n.status().vote, 3);
  });

  it("§5.2 the vote is persisted before the reply leaves (same Ready, mustSync)", () => {
    const n = follower();
    n.step(voteReq(2, 1));
    const rd = n.ready();
    assert.deepEqual(rd.hardState, { term: 1, vote: 2, commit: 0 });
    assert.equal(rd.mustSync, true);
    assert.equal(rd.messages.length, 1);
  });

  it("§5.4.1 rejects a candidate whose log is less up-to-date", () => {
    const c = new Cluster({ n: 3 });
    const n = c.setState(1, stateWith([1, 1, 2], 2));
    const ask = (term: number, idx: number, lt: number) => {
      n.step(voteReq(2, term, idx, lt));
      const rd = n.ready();
      n.advance(rd);
      const r = rd.messages.find((m) => m.type === "vote-resp");
      return r?.type === "vote-resp" && r.granted;
    };
    assert.equal(ask(3, 10, 1), false, "lower last term loses even with a longer log");
    assert.equal(ask(4, 2, 2), false, "same last term, shorter log");
    assert.equal(ask(5, 3, 2), true, "same last term, same length");
    assert.equal(ask(6, 1, 3), true, "higher last term wins even with a shorter log");
  });

  it("§5.2 a candidate that wins a majority becomes leader and appends a no-op", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    const st = l.status();
    assert.equal(st.term, 1);
    assert.equal(st.lastIndex, 1);
    c.tickAll(2);
    for (const id of c.ids) {
      assert.equal(c.node(id).status().leader, 1);
      assert.equal(c.node(id).status().commit, 1);
    }
  });

  it("§5.2 a candidate steps down when a leader of its term appears", () => {
    const c = new Cluster({ n: 3, preVote: false });
    c.elect(1);
    const n2 = c.node(2);
    // Node 2 campaigns in term 2, its requests are lost, then a leader of term 2 speaks.
    n2.campaign();
    c.take((m) => m.from === 2);
    assert.equal(n2.status().role, "candidate");
    n2.step({ type: "heartbeat", from: 3, to: 2, term: 2, commit: 0, ctx: 0 });
    assert.equal(n2.status().role, "follower");
    assert.equal(n2.status().leader, 3);
  });

  it("§5.2 election timeouts are randomized in [electionTick, 2*electionTick)", () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 50; seed++) {
      const n = follower(1, { random: mulberry32(seed) });
      let t = 0;
      for (; t < 100; t++) {
        n.tick();
        if (n.status().role !== "follower") break;
      }
      assert.ok(t + 1 >= 10 && t + 1 < 20, `seed ${seed}: campaigned after ${t + 1} ticks`);
      seen.add(t + 1);
    }
    assert.ok(seen.size >= 5, `timeouts not spread: ${[...seen]}`);
  });

  it("a vote response from an earlier term is ignored", () => {
    const c = new Cluster({ n: 3, preVote: false });
    const n1 = c.node(1);
    n1.campaign(); // term 1
    const late = c
      .take((m) => m.from === 1)
      .map((m) => ({
        type: "vote-resp" as const,
        from: m.to,
        to: 1,
        term: 1,
        granted: true,
      }));
    n1.campaign(); // term 2
    c.take((m) => m.from === 1);
    c.deliver(late);
    assert.equal(n1.status().role, "candidate");
    assert.equal(n1.status().term, 2);
  });

  it("§5.1 a leader that sees a higher term steps down", () => {
    const c = new Cluster({ n: 3 });
    const l = c.elect(1);
    l.step({ type: "heartbeat-resp", from: 2, to: 1, term: 5, ctx: 0 });
    assert.equal(l.status().role, "follower");
    assert.equal(l.status().term, 5);
  });
});

describe("pre-vote and check-quorum (thesis §9.6, §6.2)", () => {
  it("§9.6 pre-vote: a rejoining partitioned node does not disrupt the leader", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    c.isolate(3);
    c.tickAll(100);
    assert.equal(c.node(3).status().term, 1, "pre-vote kept the isolated node's term");
    assert.notEqual(c.node(3).status().role, "leader");
    c.heal();
    c.tickAll(20);
    assert.equal(c.node(1).status().role, "leader");
    assert.equal(c.node(1).status().term, 1);
    assert.equal(c.node(3).status().leader, 1);
  });

  it("without pre-vote the same rejoin forces a new term (why pre-vote exists)", () => {
    const c = new Cluster({ n: 3, preVote: false, checkQuorum: false });
    c.elect(1);
    c.isolate(3);
    c.tickAll(100);
    assert.ok(c.node(3).status().term > 1);
    c.heal();
    c.tickAll(20);
    assert.ok(c.node(1).status().term > 1, "the old leader was deposed");
  });

  it("check-quorum: an isolated leader steps down within an election timeout", () => {
    const c = new Cluster({ n: 3, electionTick: 10 });
    c.elect(1);
    c.isolate(1);
    let ticks = 0;
    while (c.node(1).status().role === "leader" && ticks < 100) {
      c.tick(1);
      c.stabilize();
      ticks++;
    }
    assert.equal(c.node(1).status().role, "follower");
    assert.ok(ticks <= 10, `stepped down after ${ticks} ticks`);
    assert.equal(c.node(1).propose(new Uint8Array([1])).ok, false);
  });

  it("check-quorum lease: a follower that hears from its leader ignores vote requests", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    c.tickAll(2);
    const n2 = c.node(2);
    const last = n2.status();
    for (const type of ["vote", "prevote"] as const) {
      n2.step({ type, from: 3, to: 2, term: 9, lastLogIndex: 99, lastLogTerm: 9 });
      assert.equal(n2.status().term, last.term, type);
      assert.equal(n2.hasReady(), false, `${type} got an answer`);
    }
    // ...unless the leader itself asked for the election (transfer).
    n2.step({
      type: "vote",
      from: 3,
      to: 2,
      term: 9,
      lastLogIndex: 99,
      lastLogTerm: 9,
      transfer: true,
    });
    assert.equal(n2.status().term, 9);
    assert.equal(n2.status().vote, 3);
  });

  describe("forgetLeader: a follower told its leader is gone campaigns early", () => {
    // electionTick 10: a plain timeout takes 10..19 ticks after the leader's last message; a
    // reported leader is replaced after 1..10 (more if the two followers tie, as in any election).
    /** Ticks every node until someone other than `old` leads; returns how many ticks it took. */
    function ticksToNewLeader(c: Cluster, old: number, limit = 100): number {
      for (let t = 1; t <= limit; t++) {
        c.tickAll(1);
        c.stabilize();
        if (c.leaders().some((id) => id !== old)) return t;
      }
      return Number.POSITIVE_INFINITY;
    }

    it("both followers told: a new leader much sooner than an election timeout, over many seeds", () => {
      const ticks: number[] = [];
      for (let seed = 1; seed <= 60; seed++) {
        const c = new Cluster({ n: 3, seed });
        c.elect(1);
        c.tickAll(1);
        c.stabilize();
        c.isolate(1);
        for (const id of [2, 3]) c.node(id).forgetLeader(1);
        const t = ticksToNewLeader(c, 1);
        assert.ok(t <= 60, `seed ${seed}: no new leader after 60 ticks`);
        ticks.push(t);
      }
      ticks.sort((a, b) => a - b);
      const median = ticks[ticks.length >> 1] as number;
      assert.ok(median <= 5, `median ${median} ticks (${ticks.join(" ")})`);
      const early = ticks.filter((t) => t <= 10).length;
      assert.ok(early >= 48, `only ${early} of 60 within an election timeout (${ticks.join(" ")})`);
    });

    it("without the report the same failover waits out a full election timeout", () => {
      const c = new Cluster({ n: 3, seed: 1 });
      c.elect(1);
      c.tickAll(1);
      c.stabilize();
      c.isolate(1);
      assert.ok(ticksToNewLeader(c, 1) >= 10);
    });

    it("a false alarm changes nothing: the other follower's lease rejects the pre-vote", () => {
      const c = new Cluster({ n: 3, seed: 3 });
      c.elect(1);
      c.node(2).forgetLeader(1); // only 2 thinks so; 1 and 3 still talk
      assert.equal(c.node(2).status().leader, 0);
      for (let t = 0; t < 30; t++) {
        c.tickAll(1);
        c.stabilize();
      }
      assert.deepEqual(c.leaders(), [1]);
      assert.equal(c.node(1).status().term, 1, "no term was disrupted");
      assert.equal(c.node(2).status().leader, 1, "2 follows 1 again");
    });

    it("hearing from the leader again restores the normal timer", () => {
      const c = new Cluster({ n: 3, seed: 5 });
      c.elect(1);
      const n2 = c.node(2);
      n2.forgetLeader(1);
      c.tick(1, 1); // a heartbeat reaches 2
      c.stabilize();
      assert.equal(n2.status().leader, 1);
      c.isolate(1);
      // From here only a full timeout (>= 10 ticks) makes 2 campaign.
      for (let t = 1; t < 10; t++) {
        c.tick(2, 1);
        c.stabilize();
        assert.equal(n2.status().role, "follower", `campaigned after ${t} ticks`);
      }
    });

    it("is ignored by leaders, candidates and followers of another leader", () => {
      const c = new Cluster({ n: 3, seed: 7 });
      c.elect(1);
      c.node(1).forgetLeader(2);
      c.node(3).forgetLeader(2);
      assert.equal(c.node(1).status().role, "leader");
      assert.equal(c.node(3).status().leader, 1);
    });
  });

  it("a stale leader learns the new term from an AppendEntries reply", () => {
    // Node 1 leads term 1, then loses its link to 2 only. 2 and 3 (lease disabled) elect 2 in
    // term 2. 2 cannot reach 1, so 1 keeps sending term-1 heartbeats to 3; with pre-vote nobody
    // would ever tell 1 about term 2 unless 3 answers the stale heartbeat.
    const c = new Cluster({ n: 3, checkQuorum: false });
    c.elect(1);
    c.cutLink(1, 2);
    c.elect(2);
    assert.equal(c.node(1).status().role, "leader", "still believes it leads");
    c.tick(1, 1);
    c.stabilize();
    assert.equal(c.node(1).status().role, "follower");
    assert.equal(c.node(1).status().term, 2);
  });
});
