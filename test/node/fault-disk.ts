// A simulated disk for tests of real nodes on real timers: SimDisk (src/storage/fs/sim-disk.ts)
// whose operations complete on the next microtask, can be held back together (a stall) and
// released, and whose capacity can be cut to what is used (a full disk) and restored.
import type { Rng } from "../../src/sim/rng.js";
import { SimDisk } from "../../src/storage/fs/sim-disk.js";

/** A disk whose operations can be held back (a stall) and released. */
export class FaultDisk {
  held: (() => void)[] | null = null;
  readonly sim: SimDisk;
  constructor(rng: Rng) {
    this.sim = new SimDisk({
      random: () => rng.float(),
      complete: (_ms, fn) => (this.held ? this.held.push(fn) : queueMicrotask(fn)),
    });
  }
  stall(): void {
    this.held ??= [];
  }
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const fn of held) fn();
  }
  fill(): void {
    this.sim.capacity = this.sim.used;
  }
  free(): void {
    this.sim.capacity = Number.POSITIVE_INFINITY;
  }
}
