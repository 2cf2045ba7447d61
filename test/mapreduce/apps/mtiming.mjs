// Map parallelism probe: each map call leaves a marker named after its worker process, then
// waits (up to 15 s) to see a marker of another process. Output "parallel N": the most
// distinct processes any map call saw at once.
import { markAndWaitForPeer } from "./markers.mjs";

export async function map() {
  const seen = await markAndWaitForPeer("map-markers");
  return [{ key: "parallel", value: String(seen) }];
}

export function reduce(_key, values) {
  return String(Math.max(...values.map(Number)));
}
