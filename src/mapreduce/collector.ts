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
import { compareUtf8 } from "./keys.js";
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

export class MapOutputCollector {
  private parts: Map<string, string[]>[];
  private bytes = 0;
  private readonly runs: Run[] = [];
  /** Pairs added, and runs spilled so far (counters). */
  pairs = 0;
  spills = 0;

  constructor(private readonly opts: CollectorOptions) {
    this.parts = Array.from({ length: opts.nReduce }, () => new Map());
  }

  /** Adds one pair; returns a promise only when an async combine had to run. */
  add(key: string, value: string): undefined | Promise<void> {
    this.pairs++;
    const part = this.parts[this.opts.partition(key)] as Map<string, string[]>;
    const values = part.get(key);
    if (values === undefined) {
      part.set(key, [value]);
      this.bytes += KEY_OVERHEAD + 2 * key.length + VALUE_OVERHEAD + 2 * value.length;
    } else {
      values.push(value);
      this.bytes += VALUE_OVERHEAD + 2 * value.length;
      if (this.opts.combine && values.length >= COMBINE_EVERY) {
        const combined = this.opts.combine(key, values);
        if (typeof combined !== "string") {
          return Promise.resolve(combined).then((c) => this.replace(part, key, values, c));
        }
        this.replace(part, key, values, combined);
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
      for (let r = 0; r < this.opts.nReduce; r++) {
        offsets.push(out.offset);
        for (const g of this.merged(r)) {
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

  /** Partition r's groups in key order: runs merged with what is still in memory. */
  *merged(r: number): Generator<Group> {
    const readers = this.runs.map(
      (run) => new GroupReader(run.path, run.offsets[r], run.offsets[r + 1]),
    );
    try {
      const sources: GroupSource[] = [...readers, arraySource(sortedGroups(this.parts[r]))];
      yield* mergeGroups(sources);
    } finally {
      for (const reader of readers) reader.close();
    }
  }

  /** Removes run files and forgets everything. */
  discard(): void {
    for (const run of this.runs) rmSync(run.path, { force: true });
    this.runs.length = 0;
    this.parts = this.parts.map(() => new Map());
    this.bytes = 0;
  }

  private replace(part: Map<string, string[]>, key: string, old: string[], combined: unknown) {
    const value = checkCombined(combined, key);
    part.set(key, [value]);
    for (const v of old) this.bytes -= VALUE_OVERHEAD + 2 * v.length;
    this.bytes += VALUE_OVERHEAD + 2 * value.length;
  }

  private spill(): void {
    const path = join(this.opts.spillDir, `${this.opts.name}.run${this.runs.length}`);
    const out = new GroupWriter(path);
    const offsets: number[] = [];
    try {
      for (const part of this.parts) {
        offsets.push(out.offset);
        for (const g of sortedGroups(part)) out.write(g.key, g.values);
      }
      offsets.push(out.offset);
    } finally {
      out.close();
    }
    this.runs.push({ path, offsets });
    this.spills++;
    this.parts = this.parts.map(() => new Map());
    this.bytes = 0;
  }
}

function sortedGroups(part: Map<string, string[]> | undefined): Group[] {
  if (!part) return [];
  const keys = [...part.keys()].sort(compareUtf8);
  return keys.map((key) => ({ key, values: part.get(key) as string[] }));
}
