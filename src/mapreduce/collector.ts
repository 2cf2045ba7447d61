// Map output collection: pairs are grouped by key in one hash map (a key's partition is
// computed once, when it first appears) and combined as they accumulate (MapReduce paper,
// section 4.3). Above the memory budget the groups spill to a run file as they are; at the end
// each partition's section of the output file is what is left in memory, combined, followed by
// that partition's section of every run, copied byte for byte. Nothing is sorted here: the
// reduce side sorts (grouper.ts), once per partition instead of once per map task.
//
//   run / output file:  [ section 0 | section 1 | ... | section R-1 ]   (records.ts format)
//   offsets[r] .. offsets[r+1] is partition r's section; a key may appear in it more than once
//   (once per run it spilled in).

import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Combine, checkCombined } from "./app.js";
import { KEY_OVERHEAD, VALUE_OVERHEAD } from "./grouper.js";
import { GroupWriter } from "./records.js";

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

interface Entry {
  partition: number;
  values: string[];
}

/** Values are combined as soon as a key collects this many, bounding memory per key. */
const COMBINE_EVERY = 64;

export class MapOutputCollector {
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
   * Writes the output file: per partition, the in-memory groups (each combined to one value
   * if there is a combiner) and then the runs' sections. Returns the section offsets (length
   * nReduce + 1) and removes the runs.
   */
  async finish(path: string): Promise<number[]> {
    const out = new GroupWriter(path);
    const offsets: number[] = [];
    try {
      const buckets = this.buckets();
      for (let r = 0; r < this.opts.nReduce; r++) {
        offsets.push(out.offset);
        for (const [key, e] of buckets[r] ?? []) {
          if (this.opts.combine && e.values.length > 1) {
            out.write(key, [checkCombined(await this.opts.combine(key, e.values), key)]);
          } else {
            out.write(key, e.values);
          }
        }
        for (const run of this.runs)
          out.copyFrom(run.path, run.offsets[r] as number, run.offsets[r + 1] as number);
      }
      offsets.push(out.offset);
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
    this.groups = new Map();
    this.bytes = 0;
  }

  private replace(entry: Entry, key: string, combined: unknown) {
    const value = checkCombined(combined, key);
    for (const v of entry.values) this.bytes -= VALUE_OVERHEAD + 2 * v.length;
    entry.values = [value];
    this.bytes += VALUE_OVERHEAD + 2 * value.length;
  }

  /** The in-memory groups by partition, in insertion order. */
  private buckets(): [string, Entry][][] {
    const buckets: [string, Entry][][] = Array.from({ length: this.opts.nReduce }, () => []);
    for (const kv of this.groups) buckets[kv[1].partition]?.push(kv);
    return buckets;
  }

  private spill(): void {
    const path = join(this.opts.spillDir, `${this.opts.name}.run${this.runs.length}`);
    const out = new GroupWriter(path);
    const offsets: number[] = [];
    try {
      for (const bucket of this.buckets()) {
        offsets.push(out.offset);
        for (const [key, e] of bucket) out.write(key, e.values);
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
