// Map output collection: pairs are grouped by key in memory, one hash map per reduce
// partition; above the memory budget the groups are sorted and spilled to a run file, and at
// the end all runs and what is left in memory are merged, partition by partition, into one
// sorted file (MapReduce paper, section 3.1 step 4, and section 4.3 for the combiner).
//
//   run / output file:  [ section 0 | section 1 | ... | section R-1 ]   (records.ts format)
//   offsets[r] .. offsets[r+1] is partition r's section.

import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Combine, checkCombined } from "./app.js";
import { sortUtf8 } from "./keys.js";
import { arraySource, type GroupSource, mergeGroups } from "./merge.js";
import { type Group, GroupReader, GroupWriter } from "./records.js";

export interface CollectorOptions {
  nReduce: number;
  /** Partition of a key, already validated to be an integer in [0, nReduce). */
  partition: (key: string) => number;
  combine?: Combine | undefined;
  /** Budget for grouped pairs held in memory; above it they spill to a run. */
  memoryBytes: number;
  /** Directory for run files, and a name unique within it. */
  spillDir: string;
  name: string;
}

interface Run {
  path: string;
  offsets: number[];
}

/** Values are combined as soon as a key collects this many, bounding memory per key. */
const COMBINE_EVERY = 64;
// Rough V8 costs: a string header, an array slot, a hash map entry. Only the order of
// magnitude matters: the budget is a ceiling, not an accounting.
const KEY_OVERHEAD = 96;
const VALUE_OVERHEAD = 24;

interface Entry {
  partition: number;
  values: string[];
}

export class MapOutputCollector {
  // One hash map for all partitions: a key's partition is computed once, when it first
  // appears, not for each of its pairs.
  private groups = new Map<string, Entry>();
  private bytes = 0;
  private readonly runs: Run[] = [];
  /** Pairs added, and runs spilled so far (counters). */
  pairs = 0;
  spills = 0;

  constructor(private readonly opts: CollectorOptions) {}

  /** Adds one pair; returns a promise only when an async combine had to run. */
  add(key: string, value: string): undefined | Promise<void> {
    this.pairs++;
    const entry = this.groups.get(key);
    if (entry === undefined) {
      this.groups.set(key, { partition: this.opts.partition(key), values: [value] });
      this.bytes += KEY_OVERHEAD + 2 * key.length + VALUE_OVERHEAD + 2 * value.length;
    } else {
      const values = entry.values;
      values.push(value);
      this.bytes += VALUE_OVERHEAD + 2 * value.length;
      if (this.opts.combine && values.length >= COMBINE_EVERY) {
        const combined = this.opts.combine(key, values);
        if (typeof combined !== "string") {
          return Promise.resolve(combined).then((c) => this.replace(entry, key, c));
        }
        this.replace(entry, key, combined);
      }
    }
    if (this.bytes > this.opts.memoryBytes) this.spill();
    return undefined;
  }

  /**
   * Merges every run and the in-memory groups into `path`, combining each key's values if a
   * combiner is set; returns the section offsets (length nReduce + 1). Removes the runs.
   */
  async finish(path: string): Promise<number[]> {
    const out = new GroupWriter(path);
    const offsets: number[] = [];
    try {
      const inMemory = this.sortedGroups();
      for (let r = 0; r < this.opts.nReduce; r++) {
        offsets.push(out.offset);
        for (const g of this.merged(r, inMemory[r])) {
          if (this.opts.combine && g.values.length > 1) {
            const c = await this.opts.combine(g.key, g.values);
            out.write(g.key, [checkCombined(c, g.key)]);
          } else {
            out.write(g.key, g.values);
          }
        }
      }
      offsets.push(out.offset);
    } finally {
      out.close();
      this.discard();
    }
    return offsets;
  }

  /**
   * Partition r's groups in key order: runs merged with what is still in memory (`inMemory`,
   * when the caller has already sorted it).
   */
  *merged(r: number, inMemory?: Group[]): Generator<Group> {
    const readers = this.runs.map(
      (run) => new GroupReader(run.path, run.offsets[r], run.offsets[r + 1]),
    );
    try {
      const sources: GroupSource[] = [
        ...readers,
        arraySource(inMemory ?? this.sortedGroups()[r] ?? []),
      ];
      yield* mergeGroups(sources);
    } finally {
      for (const reader of readers) reader.close();
    }
  }

  /** Removes run files and forgets everything. */
  discard(): void {
    for (const run of this.runs) rmSync(run.path, { force: true });
    this.runs.length = 0;
    this.groups = new Map();
    this.bytes = 0;
  }

  private replace(entry: Entry, key: string, combined: unknown) {
    const value = checkCombined(combined, key);
    for (const v of entry.values) this.bytes -= VALUE_OVERHEAD + 2 * v.length;
    entry.values = [value];
    this.bytes += VALUE_OVERHEAD + 2 * value.length;
  }

  /** The in-memory groups, bucketed by partition, each bucket sorted by key. */
  private sortedGroups(): Group[][] {
    const keys: string[][] = Array.from({ length: this.opts.nReduce }, () => []);
    for (const [key, e] of this.groups) keys[e.partition]?.push(key);
    return keys.map((ks) =>
      sortUtf8(ks).map((key) => ({ key, values: (this.groups.get(key) as Entry).values })),
    );
  }

  private spill(): void {
    const path = join(this.opts.spillDir, `${this.opts.name}.run${this.runs.length}`);
    const out = new GroupWriter(path);
    const offsets: number[] = [];
    try {
      for (const part of this.sortedGroups()) {
        offsets.push(out.offset);
        for (const g of part) out.write(g.key, g.values);
      }
      offsets.push(out.offset);
    } finally {
      out.close();
    }
    this.runs.push({ path, offsets });
    this.spills++;
    this.groups = new Map();
    this.bytes = 0;
  }
}
