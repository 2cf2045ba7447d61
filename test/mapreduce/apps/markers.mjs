// Shared by the parallelism probes (mtiming.mjs, rtiming.mjs): leave a marker named after this
// worker process in MR_TEST_DIR/NAME, then wait (up to 15 s) for a marker of another process.
// Returns how many distinct processes' markers were seen.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export async function markAndWaitForPeer(name) {
  const dir = join(process.env.MR_TEST_DIR ?? ".", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, String(process.pid)), "");
  const deadline = Date.now() + 15_000;
  let seen = 1;
  while (Date.now() < deadline) {
    seen = readdirSync(dir).length;
    if (seen >= 2) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return seen;
}
