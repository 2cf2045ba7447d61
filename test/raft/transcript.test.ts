// Message-by-message exchanges, reviewable as text: each scenario delivers the queue in order and
// compares the rendered messages with the expected transcript beneath it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Cluster, stateWith } from "./harness.js";
import { fmt } from "./transcript.js";

function drain(c: Cluster): string[] {
  const lines: string[] = [];
  while (c.queue.length > 0) {
    lines.push(fmt(c.queue[0] as (typeof c.queue)[number]));
    c.deliverAt(0);
  }
  return lines;
}

const lines = (s: string) =>
  s
    .trim()
    .split("\n")
    .map((l) => l.trim());

describe("transcripts", () => {
  it("pre-vote, election, no-op commit, then one proposal", () => {
    const c = new Cluster({ n: 3 });
    c.node(1).campaign();
    c.process(1);
    const got = drain(c);
    c.propose(1, "x");
    got.push("-- propose", ...drain(c));
    assert.deepEqual(
      got,
      lines(`
        1->2 prevote t1 last=0@0
        1->3 prevote t1 last=0@0
        2->1 prevote-resp t1 granted
        3->1 prevote-resp t1 granted
        1->2 vote t1 last=0@0
        1->3 vote t1 last=0@0
        2->1 vote-resp t1 granted
        3->1 vote-resp t1 granted
        1->2 app t1 prev=0@0 entries=[1@1] commit=0
        1->3 app t1 prev=0@0 entries=[1@1] commit=0
        2->1 app-resp t1 ok match=1
        3->1 app-resp t1 ok match=1
        1->2 app t1 prev=1@1 entries=[] commit=1
        1->3 app t1 prev=1@1 entries=[] commit=1
        2->1 app-resp t1 ok match=1
        3->1 app-resp t1 ok match=1
        -- propose
        1->2 app t1 prev=1@1 entries=[2@1] commit=1
        1->3 app t1 prev=1@1 entries=[2@1] commit=1
        2->1 app-resp t1 ok match=2
        3->1 app-resp t1 ok match=2
        1->2 app t1 prev=2@1 entries=[] commit=2
        1->3 app t1 prev=2@1 entries=[] commit=2
        2->1 app-resp t1 ok match=2
        3->1 app-resp t1 ok match=2
      `),
    );
  });

  it("a new leader repairs a follower's divergent tail in one backup step", () => {
    // 1 and 2 hold [1@1 2@1 3@3 4@3]; 3 holds [1@1 2@1 3@2 4@2 5@2 6@2] (commit 2 everywhere).
    const c = new Cluster({ n: 3 });
    c.setState(1, stateWith([1, 1, 3, 3], 3, 2));
    c.setState(2, stateWith([1, 1, 3, 3], 3, 2));
    c.setState(3, stateWith([1, 1, 2, 2, 2, 2], 2, 2));
    c.node(1).campaign();
    c.process(1);
    assert.deepEqual(
      drain(c),
      lines(`
        1->2 prevote t4 last=4@3
        1->3 prevote t4 last=4@3
        2->1 prevote-resp t4 granted
        3->1 prevote-resp t4 granted
        1->2 vote t4 last=4@3
        1->3 vote t4 last=4@3
        2->1 vote-resp t4 granted
        3->1 vote-resp t4 granted
        1->2 app t4 prev=4@3 entries=[5@4] commit=2
        1->3 app t4 prev=4@3 entries=[5@4] commit=2
        2->1 app-resp t4 ok match=5
        3->1 app-resp t4 reject=4 hint=4@2
        1->2 app t4 prev=5@4 entries=[] commit=5
        1->3 app t4 prev=2@1 entries=[3@3 4@3 5@4] commit=5
        2->1 app-resp t4 ok match=5
        3->1 app-resp t4 ok match=5
      `),
    );
  });

  it("leader transfer: TimeoutNow, a transfer election, the new leader's no-op", () => {
    const c = new Cluster({ n: 3 });
    c.elect(1);
    c.tickAll(1);
    c.node(1).transferLeader(3);
    c.process(1);
    assert.deepEqual(
      drain(c),
      lines(`
        1->3 timeout-now t1 index=1
        3->1 vote t2 last=1@1 transfer
        3->2 vote t2 last=1@1 transfer
        1->3 vote-resp t2 granted
        2->3 vote-resp t2 granted
        3->1 app t2 prev=1@1 entries=[2@2] commit=1
        3->2 app t2 prev=1@1 entries=[2@2] commit=1
        1->3 app-resp t2 ok match=2
        2->3 app-resp t2 ok match=2
        3->1 app t2 prev=2@2 entries=[] commit=2
        3->2 app t2 prev=2@2 entries=[] commit=2
        1->3 app-resp t2 ok match=2
        2->3 app-resp t2 ok match=2
      `),
    );
  });
});
