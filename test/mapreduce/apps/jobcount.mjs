// Counts map executions: every map call leaves a uniquely named file in $MR_TEST_DIR/runs.

import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function map(filename) {
  const dir = join(process.env.MR_TEST_DIR ?? ".", "runs");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, randomUUID()), filename);
  return [{ key: "a", value: "x" }];
}

export function reduce(_key, values) {
  return String(values.length);
}
