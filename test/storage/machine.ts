// A simulated machine for storage tests: a SimDisk whose operations complete on a virtual clock
// the test advances, a seeded random source, and FileStorage opened on it, as the simulator will
// run it. Also the batch generator the crash-recovery properties share.

import assert from "node:assert/strict";
import type { PersistedState } from "../../src/raft/api.js";
import { Rng } from "../../src/sim/rng.js";
import { FileStorage, type FileStorageOptions } from "../../src/storage/file-storage.js";
import { type CrashChoices, type FaultHook, SimDisk } from "../../src/storage/fs/sim-disk.js";
import type { WriteBatch } from "../../src/storage/storage.js";
import { entries, hardState, snapshot } from "./suite.js";
import { VirtualClock } from "./virtual-clock.js";

export const DATA_DIR = "/data";
/** Small segments, so that short histories roll segments and take the preallocated spare. */
export const SMALL: FileStorageOptions = { segmentSize: 4096 };

export class Machine {
  readonly clock = new VirtualClock();
  readonly disk: SimDisk;
  readonly rng: Rng;

  constructor(seed: number | string, opts: { capacity?: number; faults?: FaultHook } = {}) {
    this.rng = new Rng(seed);
    this.disk = new SimDisk({
      random: () => this.rng.float(),
      complete: this.clock.complete,
      ...opts,
    });
  }

  /** FileStorage.open on this machine's disk, run to completion on the clock. */
  open(opts: FileStorageOptions = SMALL): Promise<FileStorage> {
    return this.run(FileStorage.open(DATA_DIR, { ...opts, fs: this.disk.fs }));
  }

  /** Opens and loads: what a node restarting on this disk would read. */
  async reload(opts: FileStorageOptions = SMALL): Promise<[FileStorage, PersistedState]> {
    const s = await this.open(opts);
    return [s, await this.run(s.load())];
  }

  /** Asserts that a restart loads exactly `want`, and closes again. */
  async assertReloads(want: PersistedState, opts: FileStorageOptions = SMALL): Promise<void> {
    const [s, got] = await this.reload(opts);
    assert.deepEqual(got, want);
    await this.run(s.close());
  }

  run<T>(p: Promise<T>): Promise<T> {
    return this.clock.run(p);
  }

  crash(choices?: CrashChoices): void {
    this.disk.crash(choices);
  }
}

/** Crash choices that keep every unsynced change whole (no tear), or none at all. */
export const KEEP_ALL: CrashChoices = {
  keptChanges: (_p, n) => n,
  tornBytes: () => 0,
  keptEntries: (_p, n) => n,
};
export const KEEP_NONE: CrashChoices = {
  keptChanges: () => 0,
  tornBytes: () => 0,
  keptEntries: () => 0,
};

/** One step of a random history (the properties draw these with fast-check). */
export type Op =
  | { kind: "append"; back: number; n: number; term: number; bytes: number }
  | { kind: "snap"; back: number; sameTerm: boolean; prepared: boolean }
  | { kind: "vote"; term: number }
  | { kind: "sync"; wait: boolean }
  | { kind: "restart" };

function fill(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

/**
 * The batch `op` writes onto a store in state `model`: an append at most `back` entries before
 * the end (a conflict truncation when back > 0), a snapshot some entries back with its own term or
 * another (which drops the log), or a vote.
 */
export function batchFor(op: Op, model: PersistedState): WriteBatch {
  const base = model.snapshot?.metadata.index ?? 0;
  const last = model.entries.at(-1)?.index ?? base;
  switch (op.kind) {
    case "append": {
      const from = Math.max(base + 1, last + 1 - op.back);
      const es = entries(from, from + op.n - 1, op.term);
      for (const e of es) e.data = fill(op.bytes, e.index);
      return { entries: es, hardState: hardState(op.term, 0, from - 1) };
    }
    case "snap": {
      const index = Math.max(1, last - op.back);
      const term = model.entries.find((e) => e.index === index)?.term ?? 1;
      const snap = snapshot(index, op.sameTerm ? term : term + 1);
      // Raft's state machine safety: equal index and term mean equal data (storage relies on it).
      snap.data = fill((index * 37 + snap.metadata.term * 101) % 3000, index);
      return { snapshot: snap };
    }
    case "vote":
      return { hardState: hardState(op.term, 2, 0) };
    default:
      throw new Error(`batchFor: ${op.kind} writes no batch`);
  }
}
