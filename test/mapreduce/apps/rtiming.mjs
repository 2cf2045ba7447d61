// Reduce parallelism probe: like mtiming.mjs, but the markers are left by reduce calls.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = join(process.env.MR_TEST_DIR ?? ".", "reduce-markers");

export function map() {
  return Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: "1" }));
}

export async function reduce() {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, String(process.pid)), "");
  const deadline = Date.now() + 15_000;
  let seen = 1;
  while (Date.now() < deadline) {
    seen = readdirSync(dir).length;
    if (seen >= 2) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return String(seen);
}
