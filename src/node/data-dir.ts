// A node's data directory and whose it is.
//
//   DIR/identity.json   {"format":1,"node":1,"cluster":"<sha256 of the sorted member list>"}
//                       written on first start; a later start with another node id or another
//                       member list is refused, so a node never joins a cluster with a log that
//                       belongs to a different one (that would break Raft's safety: its log and
//                       vote would be another cluster's).
//   DIR/raft/           the Raft storage (WAL segments, snapshots, and the LOCK that keeps a
//                       second process out: FileStorage's).

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeId } from "../raft/types.js";

const FORMAT = 1;

export interface Member {
  id: NodeId;
  address: string;
}

export type Checked = { ok: true } | { ok: false; error: string };

/** A stable name for a member list: the same members at the same addresses, in any order. */
export function clusterFingerprint(members: readonly Member[]): string {
  const canonical = [...members]
    .sort((a, b) => a.id - b.id)
    .map((m) => `${m.id}=${m.address}`)
    .join(",");
  return createHash("sha256").update(canonical).digest("hex");
}

/** Where the Raft storage of a data directory lives. */
export function raftDir(dir: string): string {
  return join(dir, "raft");
}

/**
 * Creates DIR if missing and records whose it is, or refuses a DIR that belongs to another node
 * or cluster. Call it while holding the storage's lock, before reading the log.
 */
export function claimDataDir(dir: string, node: NodeId, members: readonly Member[]): Checked {
  try {
    mkdirSync(raftDir(dir), { recursive: true });
  } catch (err) {
    return { ok: false, error: `cannot create data directory ${dir}: ${message(err)}` };
  }
  return checkIdentity(dir, node, clusterFingerprint(members));
}

function checkIdentity(dir: string, node: NodeId, cluster: string): Checked {
  const file = join(dir, "identity.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      return { ok: false, error: `cannot read ${file}: ${message(err)}` };
    }
    // First start: write atomically so a crash never leaves a half-written identity.
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ format: FORMAT, node, cluster })}\n`);
    renameSync(tmp, file);
    return { ok: true };
  }
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    return { ok: false, error: `${file} is not valid JSON` };
  }
  const s = stored as { format?: unknown; node?: unknown; cluster?: unknown };
  if (typeof s !== "object" || s === null || s.format !== FORMAT) {
    return { ok: false, error: `${file} has an unknown format` };
  }
  if (s.node !== node) {
    return {
      ok: false,
      error: `${dir} belongs to node ${String(s.node)}, not node ${node}; use that node's --id or another --data`,
    };
  }
  if (s.cluster !== cluster) {
    return {
      ok: false,
      error: `${dir} belongs to another cluster (its --peers differ from these); use the original --peers or another --data`,
    };
  }
  return { ok: true };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
