// `kv snapshot restore`: the data directory of one member of a NEW cluster, made from a backup
// (backup-format.ts). Every member of the new cluster is restored from the same file with the
// same --peers; each then starts with `kv serve` as if it had installed that snapshot from a
// leader: its Raft storage holds the backup's state as a snapshot at the backup's index and
// term, whose configuration is --peers' voters, and no log. The members agree on that prefix
// by construction, so Raft's log matching holds from the first append.
//
// The directory is claimed through data-dir.ts like any first start, so it follows that file's
// format: the snapshot carries the new members' address book (node/membership.ts), and
// cluster.json a cluster id that every member restored from the same file with the same --peers
// derives alike (from the file's checksum and the member list), so they accept each other and
// no member of the old cluster. The backup's own configuration (the old cluster's) is not
// used: it is reported.

import { createHash } from "node:crypto";
import { readdirSync, rmSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { wrapSnapshot } from "../../node/membership.js";
import { NONE, type NodeId, simpleConf } from "../../raft/types.js";
import { FileStorage } from "../../storage/file-storage.js";
import { err, ok, type Result } from "../../util/result.js";
import { type BackupMeta, decodeBackup } from "../backup-format.js";
import { KvStateMachine } from "../state-machine.js";
import {
  claimDataDir,
  clusterFingerprint,
  legacyClusterId,
  type Member,
  raftDir,
  writeClusterRecord,
} from "./data-dir.js";

export interface RestoreOptions {
  file: string;
  data: string;
  id: NodeId;
  members: Member[];
}

/** Restores `file` into the new, empty directory `data`; changes nothing on any error. */
export async function restoreBackup(o: RestoreOptions): Promise<Result<BackupMeta>> {
  if (!o.members.some((m) => m.id === o.id)) {
    return err(`--id ${o.id} is not listed in --peers`);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(o.file);
  } catch (e) {
    return err(`cannot read ${o.file}: ${message(e)}`);
  }
  const backup = decodeBackup(bytes);
  if (!backup.ok) return err(`${o.file}: ${backup.error}`);
  const { meta, data } = backup.value;
  if (meta.index < 1) return err(`${o.file}: the backup is at index 0 and holds no state`);
  try {
    // A state that passed the checksum but does not load would stop every member at start.
    new KvStateMachine().restore(data);
  } catch (e) {
    return err(`${o.file}: the backup's state does not load: ${message(e)}`);
  }
  const empty = isEmptyDir(o.data);
  if (!empty.ok) return empty;

  let storage: FileStorage | null = null;
  try {
    storage = await FileStorage.open(raftDir(o.data));
    const claim = claimDataDir(o.data, { node: o.id, peers: o.members, join: false });
    if (!claim.ok) throw new Error(claim.error);
    const conf = simpleConf(o.members.map((m) => m.id));
    const clusterId = restoredClusterId(bytes, o.members);
    const book = {
      clusterId,
      members: o.members.map((m) => ({ id: m.id, raft: m.address })).sort((a, b) => a.id - b.id),
    };
    await storage.write({
      snapshot: {
        metadata: { index: meta.index, term: meta.term, conf },
        data: wrapSnapshot(book, data),
      },
      hardState: { term: meta.term, vote: NONE, commit: meta.index },
    });
    await storage.sync();
    // After the storage's state, as for a first start (data-dir.ts): a crash in between leaves
    // a directory the cleanup below or a new restore can take.
    const written = writeClusterRecord(o.data, { ...claim.value.record, clusterId });
    if (!written.ok) throw new Error(written.error);
    await storage.close();
    storage = null;
    return ok(meta);
  } catch (e) {
    await storage?.close().catch(() => undefined);
    // Leave nothing behind that a later start could mistake for a member's data.
    for (const entry of safeList(o.data))
      rmSync(`${o.data}/${entry}`, { recursive: true, force: true });
    return err(`cannot restore into ${o.data}: ${message(e)}`);
  }
}

/**
 * The new cluster's id: the same for every member restored from these bytes with these --peers,
 * and unrelated to the old cluster's (drawn at random when it was bootstrapped).
 */
function restoredClusterId(backup: Uint8Array, members: readonly Member[]): string {
  const h = createHash("sha256").update(backup).update(clusterFingerprint(members)).digest("hex");
  return legacyClusterId(h);
}

/** ok if `dir` is missing or an empty directory. */
function isEmptyDir(dir: string): Result<void> {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return ok(undefined);
    return err(`cannot read ${dir}: ${message(e)}`);
  }
  if (!st.isDirectory()) return err(`--data ${dir} exists and is not a directory`);
  if (safeList(dir).length > 0) {
    return err(
      `--data ${dir} is not empty; restore creates a new member's directory (give a new or empty one)`,
    );
  }
  return ok(undefined);
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
