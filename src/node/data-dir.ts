// A node's data directory: who it belongs to, and who is using it.
//
//   DIR/identity.json   {"format":1,"node":1,"cluster":"<sha256 of the sorted member list>"}
//                       written on first start; a later start with another node id or another
//                       member list is refused, so a node never joins a cluster with a log that
//                       belongs to a different one (that would break Raft's safety: its log and
//                       vote would be another cluster's).
//   DIR/LOCK            the pid of the process using DIR; a second process is refused while
//                       that pid is alive (a kill -9 leaves a stale LOCK, which is taken over).
//   DIR/raft/           the Raft storage (WAL segments and snapshots).

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeId } from "../raft/types.js";

const FORMAT = 1;

export interface Member {
  id: NodeId;
  address: string;
}

export interface DataDir {
  readonly dir: string;
  readonly raftDir: string;
  release(): void;
}

export type ClaimResult = { ok: true; dataDir: DataDir } | { ok: false; error: string };

/** A stable name for a member list: the same members at the same addresses, in any order. */
export function clusterFingerprint(members: readonly Member[]): string {
  const canonical = [...members]
    .sort((a, b) => a.id - b.id)
    .map((m) => `${m.id}=${m.address}`)
    .join(",");
  return createHash("sha256").update(canonical).digest("hex");
}

export function claimDataDir(dir: string, node: NodeId, members: readonly Member[]): ClaimResult {
  try {
    mkdirSync(join(dir, "raft"), { recursive: true });
  } catch (err) {
    return { ok: false, error: `cannot create data directory ${dir}: ${message(err)}` };
  }
  const lock = takeLock(dir);
  if (!lock.ok) return lock;
  const identity = checkIdentity(dir, node, clusterFingerprint(members));
  if (!identity.ok) {
    lock.release();
    return identity;
  }
  return { ok: true, dataDir: { dir, raftDir: join(dir, "raft"), release: lock.release } };
}

function checkIdentity(
  dir: string,
  node: NodeId,
  cluster: string,
): { ok: true } | { ok: false; error: string } {
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

function takeLock(dir: string): { ok: true; release: () => void } | { ok: false; error: string } {
  const file = join(dir, "LOCK");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      return {
        ok: true,
        release: () => {
          try {
            unlinkSync(file);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        return { ok: false, error: `cannot create ${file}: ${message(err)}` };
      }
    }
    const holder = Number.parseInt(readFileSafe(file), 10);
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      return { ok: false, error: `${dir} is in use by process ${holder} (${file})` };
    }
    // Stale lock of a process that died (kill -9): take it over.
    try {
      unlinkSync(file);
    } catch {
      // Someone else removed it first; retry the exclusive create.
    }
  }
  return { ok: false, error: `cannot lock ${dir}: ${file} keeps reappearing` };
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
