// `kv serve --force-new-cluster`: disaster recovery after a permanent loss of quorum (etcd's
// flag of the same name). The member keeps its data and appends to its own log one
// configuration entry that makes it the only voter, committed locally together with every
// entry before it; then it starts as usual and, alone in its configuration, elects itself.
//
//   log:  ... | last (maybe uncommitted) | last+1: conf {voters: [self]}    commit = last+1
//
// Entries the lost majority never acknowledged become committed here: that is the price of
// recovery without a quorum (etcd pays it too), and why the operator is warned. The rewrite is
// durable before the node starts, and it acts once: DIR/force-new-cluster.json records it, and
// a later start with the flag on such a directory warns and ignores the flag, so a command
// line left unchanged does not discard the members added back since.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeConfChangeEntry, encodeConfChangeEntry } from "../../raft/confchange-codec.js";
import {
  type ConfChangeSingle,
  type ConfState,
  type Entry,
  NONE,
  type NodeId,
  simpleConf,
} from "../../raft/types.js";
import type { Storage } from "../../storage/storage.js";
import { writeDurably } from "../../util/durable-file.js";
import type { Logger } from "../../util/logger.js";
import { err, ok, type Result } from "../../util/result.js";

const MARKER = "force-new-cluster.json";

export type ForceOutcome =
  | { kind: "rewritten"; index: number; discarded: NodeId[] }
  | { kind: "already-done"; index: number };

/**
 * Rewrites the configuration in `storage` (opened on DIR's Raft storage, not yet loaded by a
 * node) to `self` alone, or reports that DIR was rewritten before. `context` gives what the
 * conf entry carries for the node layer (the members' addresses) from the discarded ids; absent:
 * it carries nothing.
 */
export async function forceNewCluster(
  storage: Storage,
  dataDir: string,
  self: NodeId,
  initialVoters: NodeId[],
  logger: Logger,
  context: (discarded: NodeId[]) => Uint8Array = () => new Uint8Array(),
): Promise<Result<ForceOutcome>> {
  const marker = readMarker(dataDir);
  if (!marker.ok) return marker;
  if (marker.value !== null) {
    logger.warn(
      { index: marker.value },
      `--force-new-cluster ignored: ${dataDir} was already rewritten to a new cluster (at log index ${marker.value}); remove the flag`,
    );
    return ok({ kind: "already-done", index: marker.value });
  }
  const p = await storage.load({ snapshotData: false });
  const last = p.entries.at(-1);
  const lastIndex = last?.index ?? p.snapshot?.metadata.index ?? 0;
  const lastTerm = last?.term ?? p.snapshot?.metadata.term ?? 0;
  if (lastIndex === 0) {
    return err(
      `--force-new-cluster needs the data of an existing member; ${dataDir} holds no log (start without the flag to bootstrap a cluster)`,
    );
  }
  const current = confAtEnd(p.entries, p.snapshot?.metadata.conf ?? simpleConf(initialVoters));
  if (!current.ok) return current;
  const others = [
    ...new Set([
      ...current.value.voters,
      ...current.value.learners,
      ...current.value.votersOutgoing,
    ]),
  ]
    .filter((id) => id !== self)
    .sort((a, b) => a - b);
  const changes: ConfChangeSingle[] = others.map((node) => ({ type: "remove", node }));
  if (!current.value.voters.includes(self)) changes.push({ type: "add-voter", node: self });
  const term = Math.max(p.hardState.term, lastTerm, 1);
  const index = lastIndex + 1;
  const data = encodeConfChangeEntry({
    changes,
    transition: "auto",
    context: context(others),
    conf: simpleConf([self]),
  });
  logger.warn(
    {
      discarded: others,
      pastPersistedCommit: Math.max(0, lastIndex - p.hardState.commit),
      index,
    },
    `--force-new-cluster: this member is now the only voter of its cluster; members ${others.join(", ") || "(none)"} are discarded from the configuration (add members back with \`kv member add\`)`,
  );
  await storage.write({
    entries: [{ index, term, type: "conf", data }],
    hardState: { term, vote: term === p.hardState.term ? p.hardState.vote : NONE, commit: index },
  });
  await storage.sync();
  // Only once the log holds the change: a crash before this line rewrites once more on the
  // next start with the flag, which appends the same configuration again (harmless).
  await writeDurably(
    join(dataDir, MARKER),
    Buffer.from(`${JSON.stringify({ format: 1, index, discarded: others })}\n`),
  );
  return ok({ kind: "rewritten", index, discarded: others });
}

/** The configuration the log ends with: its last conf entry's, else the snapshot's. */
function confAtEnd(entries: readonly Entry[], base: ConfState): Result<ConfState> {
  for (let k = entries.length - 1; k >= 0; k--) {
    const e = entries[k];
    if (e?.type !== "conf") continue;
    const cc = decodeConfChangeEntry(e.data);
    if (!cc.ok) return err(`the conf entry at index ${e.index} does not decode: ${cc.error}`);
    return ok(cc.value.conf);
  }
  return ok(base);
}

/** The index of an earlier rewrite, null if none, or why the marker is unreadable. */
function readMarker(dataDir: string): Result<number | null> {
  const file = join(dataDir, MARKER);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return ok(null);
    return err(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const v = JSON.parse(text) as { index?: unknown };
    if (Number.isSafeInteger(v.index)) return ok(v.index as number);
  } catch {}
  return err(`${file} is damaged; remove it only if this member was not force-rewritten before`);
}
