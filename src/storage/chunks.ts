// Snapshot data as a chunk sequence (storage.ts: Chunks), for the adapters that want it whole:
// MemoryStorage keeps snapshots in memory, and load() hands the data over in one buffer.

import type { Chunks } from "./storage.js";

/** The chunks joined into one plain Uint8Array (a copy: the producer may reuse its buffers). */
export async function collectChunks(chunks: Chunks): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of chunks) {
    parts.push(chunk.slice());
    length += chunk.length;
  }
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(length);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
