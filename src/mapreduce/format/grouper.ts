// Reduce-side sort and group (also the whole of `mr seq`): values are grouped by key in a hash
// map; above the memory budget the groups are sorted and spilled as a run, and at the end the
// runs and what is left in memory are k-way merged, so groups come out in UTF-8 key order with
// only one key's values, plus one pending group per run, in memory (MapReduce paper, section
// 3.1 step 5: "the reduce worker ... sorts it by the intermediate keys ... If the amount of
// intermediate data is too large to fit in memory, an external sort is used").

import { rmSync } from "node:fs";
import { join } from "node:path";
import { compareUtf8 } from "./keys.js";
import { arraySource, type GroupSource, mergeGroups } from "./merge.js";
import { type Group, GroupReader, GroupWriter } from "./records.js";

export interface GrouperOptions {
  /** Budget for grouped values held in memory; above it they spill to a sorted run. */
  memoryBytes: number;
  /** Directory for run files, and a name unique within it. */
  spillDir: string;
  name: string;
}

// Rough V8 costs: a string header, an array slot, a hash map entry. Only the order of
// magnitude matters: the budget is a ceiling, not an accounting.
export const KEY_OVERHEAD = 96;
export const VALUE_OVERHEAD = 24;

/**
 * `s`, stored apart from any larger string. V8 represents a substring of 13 or more code
 * units as a view into its parent (a "sliced string"), so an app's key sliced out of its
 * input would keep the whole input alive for as long as the key is grouped: memory would grow
 * with the input instead of staying within the budget. Concatenating and slicing again makes
 * V8 copy the characters into a new string of the key's own size (pure string operations, so
 * the value is unchanged whatever the engine does).
 */
export function detach(s: string): string {
  return s.length < 13 ? s : ` ${s}`.slice(1);
}

export class SortingGrouper {
  private groups = new Map<string, string[]>();
  private bytes = 0;
  private readonly runs: string[] = [];
  /** Values added, and runs spilled so far (counters). */
  values = 0;
  spills = 0;

  constructor(private readonly opts: GrouperOptions) {}

  add(key: string, value: string): void {
    this.addGroup(key, [value]);
  }

  /** Adds several values of one key (the caller gives up `values`). */
  addGroup(key: string, values: string[]): void {
    this.values += values.length;
    const have = this.groups.get(key);
    for (let i = 0; i < values.length; i++) values[i] = detach(values[i] as string);
    if (have === undefined) {
      this.groups.set(detach(key), values);
      this.bytes += KEY_OVERHEAD + 2 * key.length;
    } else {
      for (const v of values) have.push(v);
    }
    for (const v of values) this.bytes += VALUE_OVERHEAD + 2 * v.length;
    if (this.bytes > this.opts.memoryBytes) this.spill();
  }

  /** Every group, in UTF-8 key order, one per distinct key. Removes the runs when done. */
  *sorted(): Generator<Group> {
    const readers = this.runs.map((path) => new GroupReader(path));
    try {
      const sources: GroupSource[] = [...readers, arraySource(this.sortedInMemory())];
      this.groups = new Map();
      this.bytes = 0;
      const merged = mergeGroups(sources);
      for (let g = merged.next(); g; g = merged.next()) yield g;
    } finally {
      for (const reader of readers) reader.close();
      this.discard();
    }
  }

  /** Removes run files and forgets everything. */
  discard(): void {
    for (const path of this.runs) rmSync(path, { force: true });
    this.runs.length = 0;
    this.groups = new Map();
    this.bytes = 0;
  }

  private sortedInMemory(): Group[] {
    const keys = [...this.groups.keys()].sort(compareUtf8);
    return keys.map((key) => ({ key, values: this.groups.get(key) as string[] }));
  }

  private spill(): void {
    const path = join(this.opts.spillDir, `${this.opts.name}.run${this.runs.length}`);
    const out = new GroupWriter(path);
    try {
      for (const g of this.sortedInMemory()) out.write(g.key, g.values);
    } finally {
      out.close();
    }
    this.runs.push(path);
    this.spills++;
    this.groups = new Map();
    this.bytes = 0;
  }
}
