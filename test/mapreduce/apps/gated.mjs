// Word count whose reduce calls wait until the file $MR_TEST_DIR/release exists, so a test
// can act while map output sits on the workers. With MR_WAIT_PEERS=1, each map call also
// waits (up to 5 s) until map calls of two worker processes have started, so both workers
// hold map output.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.MR_TEST_DIR ?? ".";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function map(_filename, contents) {
  if (process.env.MR_WAIT_PEERS === "1") {
    const markers = join(dir, "map-markers");
    mkdirSync(markers, { recursive: true });
    writeFileSync(join(markers, String(process.pid)), "");
    for (let i = 0; i < 100 && readdirSync(markers).length < 2; i++) await sleep(50);
  }
  return (contents.match(/\p{L}+/gu) ?? []).map((w) => ({ key: w, value: "1" }));
}

export async function reduce(_key, values) {
  while (!existsSync(join(dir, "release"))) await sleep(50);
  return String(values.length);
}
