// Map parallelism probe: each map call leaves a marker named after its worker process, then
// waits (up to 15 s) to see a marker of another process. Output "parallel N": the most
// distinct processes any map call saw at once.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = join(process.env.MR_TEST_DIR ?? ".", "map-markers");

export async function map() {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, String(process.pid)), "");
  const deadline = Date.now() + 15_000;
  let seen = 1;
  while (Date.now() < deadline) {
    seen = readdirSync(dir).length;
    if (seen >= 2) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return [{ key: "parallel", value: String(seen) }];
}

export function reduce(_key, values) {
  return String(Math.max(...values.map(Number)));
}
