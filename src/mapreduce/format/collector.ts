// Map output collection, as in the MapReduce paper (section 3.1, steps 4-5, and 4.3): pairs
// are kept per partition in arrival order; when the task ends, or memory runs out, each
// partition is sorted by key (UTF-8 byte order), equal keys become one group and, if the app
// has a combiner, one combined value. So every section a reducer fetches is sorted, and the
// reduce side only merges (merge.ts), never sorts or hashes.
//
// Above the memory budget, an app with a combiner first has its pairs sorted and combined in
// place (pairs that repeat keys shrink a lot: the classic one-pair-per-word count); if that
// does not free half the budget, or without a combiner, the sorted partitions spill to a run
// file. At the end, each partition's section of the output is a merge of its in-memory
// groups and its sections of every run, equal keys combined again.
//
//   run / output file:  [ section 0 | section 1 | ... | section R-1 ]   (records.ts format)
//   offsets[r] .. offsets[r+1] is partition r's section, sorted, one group per key.

import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Combine, checkCombined } from "../app/app.js";
import { type GroupSource, mergeGroups } from "./merge.js";
import { type Group, GroupReader, GroupWriter, plainText } from "./records.js";
import { sortedOrder } from "./sort.js";

export interface CollectorOptions {
  nReduce: number;
  /** Partition of a key, already validated to be an integer in [0, nReduce). */
  partition: (key: string) => number;
  combine?: Combine | undefined;
  /** Budget for pairs held in memory; above it they are combined or spill to a run. */
  memoryBytes: number;
  /** Directory for run files, and a name unique within it. */
  spillDir: string;
  name: string;
}

/** Rough V8 cost of one pair held: two array slots and two string headers (the budget is a
 * ceiling, not an accounting). */
const PAIR_OVERHEAD = 64;

interface Run {
  path: string;
  offsets: number[];
}

export class MapOutputCollector {
  /** Per partition, pairs in arrival order: keys[r][i] goes with values[r][i]. */
  private keys: string[][];
  private values: string[][];
  private bytes = 0;
  private readonly runs: Run[] = [];
  /** Pairs added, and runs spilled so far (counters). */
  pairs = 0;
  spills = 0;

  constructor(private readonly opts: CollectorOptions) {
    this.keys = [];
    this.values = [];
    this.clear();
  }

  /** Adds one pair; returns a promise only when memory ran out (combine or spill is due). */
  add(key: string, value: string): undefined | Promise<void> {
    this.pairs++;
    const r = this.opts.partition(key);
    (this.keys[r] as string[]).push(key);
    (this.values[r] as string[]).push(value);
    this.bytes += PAIR_OVERHEAD + 2 * (key.length + value.length);
    return this.bytes > this.opts.memoryBytes ? this.relieve() : undefined;
  }

  /**
   * Writes the output file: per partition, the in-memory pairs, sorted and grouped, merged
   * with that partition's section of every run. Returns the section offsets (length
   * nReduce + 1); removes the runs.
   */
  async finish(path: string): Promise<number[]> {
    const out = new GroupWriter(path);
    const offsets: number[] = [];
    try {
      for (let r = 0; r < this.opts.nReduce; r++) {
        offsets.push(out.boundary());
        const mem = this.sortPartition(r);
        const merged =
          this.runs.length === 0
            ? mem
            : mergeGroups([
                ...this.runs.map(
                  (run) => new GroupReader(run.path, run.offsets[r], run.offsets[r + 1]),
                ),
                mem,
              ]);
        for (let g = merged.next(); g; g = merged.next()) {
          const values = this.combined(g);
          out.write(g.key, Array.isArray(values) ? values : await values);
        }
      }
      offsets.push(out.boundary());
    } finally {
      out.close();
      this.discard();
    }
    return offsets;
  }

  /** Removes run files and forgets everything. */
  discard(): void {
    for (const run of this.runs) rmSync(run.path, { force: true });
    this.runs.length = 0;
    this.clear();
  }

  private clear(): void {
    this.keys = Array.from({ length: this.opts.nReduce }, () => []);
    this.values = Array.from({ length: this.opts.nReduce }, () => []);
    this.bytes = 0;
  }

  /**
   * Over budget: combine in place if that frees enough, else spill a sorted run. Returns a
   * promise only when an async combiner had to run.
   */
  private relieve(): undefined | Promise<void> {
    const sorted = Array.from({ length: this.opts.nReduce }, (_, r) => {
      const groups: Group[] = [];
      const source = this.sortPartition(r);
      for (let g = source.next(); g; g = source.next()) groups.push(g);
      return groups;
    });
    this.clear();
    const pending = this.combineAll(sorted.flat());
    if (pending) return pending.then(() => this.keepOrSpill(sorted));
    this.keepOrSpill(sorted);
    return undefined;
  }

  private keepOrSpill(sorted: Group[][]): void {
    if (this.opts.combine) {
      for (let r = 0; r < sorted.length; r++) {
        for (const g of sorted[r] as Group[]) {
          const value = g.values[0] as string; // combined: one value per key
          (this.keys[r] as string[]).push(g.key);
          (this.values[r] as string[]).push(value);
          this.bytes += PAIR_OVERHEAD + 2 * (g.key.length + value.length);
        }
      }
      if (this.bytes <= this.opts.memoryBytes / 2) return;
      this.clear();
    }
    const path = join(this.opts.spillDir, `${this.opts.name}.run${this.runs.length}`);
    const out = new GroupWriter(path);
    const offsets: number[] = [];
    try {
      for (const groups of sorted) {
        offsets.push(out.boundary());
        for (const g of groups) out.write(g.key, g.values);
      }
      offsets.push(out.boundary());
    } finally {
      out.close();
    }
    this.runs.push({ path, offsets });
    this.spills++;
  }

  /**
   * Partition r's pairs in key order, each key once with its values in arrival order (the
   * sort is stable), produced one group at a time as they are read.
   */
  private sortPartition(r: number): GroupSource {
    const keys = this.keys[r] as string[];
    const values = this.values[r] as string[];
    const order = sortedOrder(keys);
    let i = 0;
    let plain: boolean | undefined;
    return {
      next(): Group | undefined {
        if (i >= order.length) return undefined;
        const key = keys[order[i] as number] as string;
        const vs = [values[order[i++] as number] as string];
        while (i < order.length && keys[order[i] as number] === key)
          vs.push(values[order[i++] as number] as string);
        return { key, values: vs };
      },
      // Only a merge asks (when runs spilled): checking every key is not free.
      get plain() {
        plain ??= keys.every(plainText);
        return plain;
      },
    };
  }

  /** Combines every group's values in place; a promise only if the combiner is async. */
  private combineAll(groups: Group[], from = 0): undefined | Promise<void> {
    for (let i = from; i < groups.length; i++) {
      const g = groups[i] as Group;
      const values = this.combined(g);
      if (Array.isArray(values)) {
        g.values = values;
        continue;
      }
      return values.then((v) => {
        g.values = v;
        return this.combineAll(groups, i + 1);
      });
    }
    return undefined;
  }

  /** The group's values, combined to one if the app has a combiner (a promise only when the
   * combiner is async). */
  private combined(g: Group): string[] | Promise<string[]> {
    const combine = this.opts.combine;
    if (!combine || g.values.length < 2) return g.values;
    const c = combine(g.key, g.values);
    return typeof c === "string"
      ? [checkCombined(c, g.key)]
      : Promise.resolve(c).then((v) => [checkCombined(v, g.key)]);
  }
}
