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
import type { NodeId } from "../../raft/types.js";
import { err, ok, type Result } from "../../util/result.js";

const FORMAT = 1;

export interface Member {
  id: NodeId;
  /** The member's Raft address, HOST:PORT as formatHostPort writes it. */
  address: string;
}

/** What identity.json records: whose directory this is. */
export interface Identity {
  node: NodeId;
  /** clusterFingerprint of the member list the directory was created with. */
  cluster: string;
}

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
export function claimDataDir(dir: string, node: NodeId, members: readonly Member[]): Result<void> {
  try {
    mkdirSync(raftDir(dir), { recursive: true });
  } catch (e) {
    return err(`cannot create data directory ${dir}: ${message(e)}`);
  }
  const cluster = clusterFingerprint(members);
  const stored = readIdentity(dir);
  if (!stored.ok) return stored;
  if (stored.value === null) {
    // First start: write atomically so a crash never leaves a half-written identity.
    const file = identityFile(dir);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ format: FORMAT, node, cluster })}\n`);
    renameSync(tmp, file);
    return ok(undefined);
  }
  const s = stored.value;
  if (s.node !== node) {
    return err(
      `${dir} belongs to node ${s.node}, not node ${node}; use that node's --id or another --data`,
    );
  }
  if (s.cluster !== cluster) {
    return err(
      `${dir} belongs to another cluster (its --peers differ from these); use the original --peers or another --data`,
    );
  }
  return ok(undefined);
}

/** DIR's identity, null if it has none yet (a new or empty directory), or why it is unreadable. */
export function readIdentity(dir: string): Result<Identity | null> {
  const file = identityFile(dir);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return ok(null);
    return err(`cannot read ${file}: ${message(e)}`);
  }
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    return err(`${file} is not valid JSON`);
  }
  const s = stored as { format?: unknown; node?: unknown; cluster?: unknown };
  if (typeof s !== "object" || s === null || s.format !== FORMAT) {
    return err(`${file} has an unknown format`);
  }
  if (!Number.isSafeInteger(s.node) || typeof s.cluster !== "string") {
    return err(`${file} is damaged (no node id or cluster)`);
  }
  return ok({ node: s.node as NodeId, cluster: s.cluster });
}

function identityFile(dir: string): string {
  return join(dir, "identity.json");
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
