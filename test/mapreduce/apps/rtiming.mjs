// Reduce parallelism probe: like mtiming.mjs, but the markers are left by reduce calls.
import { markAndWaitForPeer } from "./markers.mjs";

export function map() {
  return Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: "1" }));
}

export async function reduce() {
  return String(await markAndWaitForPeer("reduce-markers"));
}
