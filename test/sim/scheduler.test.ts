import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Scheduler } from "../../src/sim/scheduler.js";

describe("Scheduler", () => {
  it("runs events in (time, scheduling order), whatever order they were added in", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(50), { maxLength: 200 }), (times) => {
        const s = new Scheduler();
        const ran: [number, number][] = [];
        times.forEach((t, i) => {
          s.at(t, () => ran.push([s.now, i]));
        });
        assert.equal(s.runUntilIdle(), true);
        const expected = times.map((t, i) => [t, i] as [number, number]);
        expected.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        assert.deepEqual(ran, expected);
        assert.equal(s.executed, times.length);
      }),
      { seed: 2, numRuns: 100 },
    );
  });

  it("cancelled events do not run; runUntil stops at its time and sets the clock", () => {
    const s = new Scheduler();
    const ran: string[] = [];
    s.at(5, () => ran.push("a"));
    const b = s.at(6, () => ran.push("b"));
    s.at(20, () => ran.push("c"));
    s.cancel(b);
    assert.equal(s.runUntil(10), true);
    assert.deepEqual(ran, ["a"]);
    assert.equal(s.now, 10);
    s.runUntil(30);
    assert.deepEqual(ran, ["a", "c"]);
  });

  it("an event scheduled in the past runs now, and runUntil's stop condition ends it early", () => {
    const s = new Scheduler();
    s.runUntil(100);
    let at = -1;
    s.at(10, () => {
      at = s.now;
    });
    s.at(200, () => {});
    assert.equal(
      s.runUntil(1000, () => at >= 0),
      false,
    );
    assert.equal(at, 100);
    assert.equal(s.pending, 1);
  });
});
