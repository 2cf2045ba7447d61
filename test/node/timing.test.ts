import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { timingFor } from "../../src/node/timing.js";

describe("timingFor", () => {
  it("defaults: 1000 ms / 100 ms -> 50 ms ticks, heartbeat 2, election 20", () => {
    assert.deepEqual(timingFor(1000, 100), {
      ok: true,
      value: { tickMs: 50, heartbeatTick: 2, electionTick: 20 },
    });
  });

  it("refuses a heartbeat that is not shorter than the election timeout", () => {
    const r = timingFor(100, 100);
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.error, /must be shorter than the election timeout/);
  });

  it("always gives heartbeatTick < electionTick and keeps T within one tick", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 60_000 }),
        (hb, extra) => {
          const election = hb + extra;
          const r = timingFor(election, hb);
          assert.ok(r.ok);
          const { tickMs, heartbeatTick, electionTick } = r.value;
          assert.ok(heartbeatTick < electionTick);
          assert.ok(heartbeatTick * tickMs <= hb + tickMs);
          assert.ok(Math.abs(electionTick * tickMs - election) <= Math.max(tickMs, hb));
        },
      ),
      { seed: 42 },
    );
  });
});
