// Straggler for the backup-task test: the first execution of the map task for input-0 yields
// its words slowly (one every 100 ms: progressing, so never "stalled"); every other execution
// is fast. Whichever copy finishes first, the pairs are the same.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

function claim() {
  try {
    writeFileSync(join(process.env.MR_TEST_DIR ?? ".", "slow-claimed"), "", { flag: "wx" });
    return true;
  } catch {
    return false;
  }
}

export async function* map(filename, contents) {
  const slow = filename.endsWith("input-0.txt") && claim();
  for (const word of contents.match(/\p{L}+/gu) ?? []) {
    if (slow) await new Promise((r) => setTimeout(r, 100));
    yield { key: word, value: "1" };
  }
}

export function reduce(_key, values) {
  return String(values.length);
}
