// A node's data directory: whose it is, which cluster's, and where its Raft storage lives.
//
//   DIR/cluster.json   format 2: {"format":2,"node":N,"cluster":"<decimal cluster id>"|null,
//                      "listen":"HOST:PORT","members":[{"id":1,"raft":"HOST:PORT"},...],
//                      "origin":"bootstrap"|"join"|"migrated"}
//   DIR/raft/          the Raft storage (WAL segments, snapshots, and the LOCK that keeps a
//                      second process out: FileStorage's).
//
// `members` is the address book before the log's first entry (docs/architecture.md,
// "Membership: how addresses travel and are stored"): the founders of a new cluster (whose log
// also starts with them, in the bootstrap conf entry), the `--peers` of a migrated format-1
// directory (whose log does not), nothing for a member that joined (it learns the book from the
// leader's log or snapshot). The configuration and the addresses in effect always come from the
// log and snapshots; `--peers` matters only on the first start.
//
// `listen` is this member's own Raft address as the configuration last gave it (a restart
// listens there before it has read its log).
//
// `cluster` is the cluster id (transport/cluster-id.ts): the first leader of a new cluster draws
// it and commits it to the log, each member records it here once applied or once a handshake
// presented it; a migrated directory derives it from its format-1 fingerprint, so every member of
// an old cluster derives the same id, and the etcd API's cluster id stays what it was.
//
// Format 1 (identity.json {"format":1,"node":N,"cluster":"<sha256 of the sorted --peers>"}) is
// migrated on the first start that gives the matching --peers, and identity.json is removed.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeId } from "../../raft/types.js";
import { isClusterId } from "../../transport/cluster-id.js";
import { err, ok, type Result } from "../../util/result.js";

/** The format this version writes. */
export const DATA_FORMAT = 2;
const LEGACY_FORMAT = 1;

export interface Member {
  id: NodeId;
  /** The member's Raft address, HOST:PORT as formatHostPort writes it. */
  address: string;
}

export type Origin = "bootstrap" | "join" | "migrated";

/** What cluster.json records. */
export interface ClusterRecord {
  node: NodeId;
  /** null until known (a new cluster before its first leader drew it; a joiner before contact). */
  clusterId: string | null;
  /** This member's Raft address, where it listens. */
  listen: string;
  /** The address book before the log's first entry (see the header). */
  members: Member[];
  origin: Origin;
}

/** How the node starts on the directory (design: "Starting a member"). */
export type StartMode = "bootstrap" | "join" | "restart";

export interface ClaimRequest {
  node: NodeId;
  /** --peers, if given. */
  peers?: readonly Member[];
  /** --join. */
  join: boolean;
}

export interface Claim {
  record: ClusterRecord;
  mode: StartMode;
  /** Things the operator should know (flags ignored, a migration): log them as warnings. */
  warnings: string[];
}

/** A stable name for a member list: the same members at the same addresses, in any order. */
export function clusterFingerprint(members: readonly Member[]): string {
  const canonical = [...members]
    .sort((a, b) => a.id - b.id)
    .map((m) => `${m.id}=${m.address}`)
    .join(",");
  return createHash("sha256").update(canonical).digest("hex");
}

/**
 * The cluster id of a format-1 directory, derived from its fingerprint into [2^60, 2^64) as the
 * etcd API did before cluster ids were stored: every member of such a cluster derives the same.
 */
export function legacyClusterId(fingerprint: string): string {
  const low = 2n ** 60n;
  return (low + (BigInt(`0x${fingerprint.slice(0, 16)}`) % (2n ** 64n - low))).toString();
}

/** Where the Raft storage of a data directory lives. */
export function raftDir(dir: string): string {
  return join(dir, "raft");
}

/**
 * Creates DIR if missing and decides how the node starts on it, per the contract: an empty DIR
 * bootstraps a new cluster from --peers (or, with --join, is a member added to a running one); a
 * DIR with data keeps its own configuration (differing --peers/--join are ignored with a
 * warning), refuses another node's --id, and a format-1 DIR is migrated with the matching
 * --peers. Writes cluster.json for a migration only: for a new DIR the caller writes the
 * storage's first state, then calls writeClusterRecord (a crash in between leaves DIR empty).
 * Call it while holding the storage's lock, before reading the log.
 */
export function claimDataDir(dir: string, req: ClaimRequest): Result<Claim> {
  try {
    mkdirSync(raftDir(dir), { recursive: true });
  } catch (e) {
    return err(`cannot create data directory ${dir}: ${message(e)}`);
  }
  const stored = readClusterRecord(dir);
  if (!stored.ok) return stored;
  const peers = req.peers === undefined ? undefined : [...req.peers];
  if (stored.value !== null) {
    const record = stored.value;
    if (record.node !== req.node) return err(notOurs(dir, record.node, req.node));
    const warnings: string[] = [];
    // The same --peers as the directory was created with (a `kv cluster` restart) is no news.
    const same =
      peers !== undefined && clusterFingerprint(peers) === clusterFingerprint(record.members);
    if (peers !== undefined && !same)
      warnings.push(
        "--peers is ignored: the data directory holds the configuration (it changes through `kv member`)",
      );
    if (req.join) warnings.push("--join is ignored: this member has data already");
    return ok({ record, mode: "restart", warnings });
  }
  const legacy = readIdentity(dir);
  if (!legacy.ok) return legacy;
  if (legacy.value !== null) {
    const id = legacy.value;
    if (id.node !== req.node) return err(notOurs(dir, id.node, req.node));
    if (peers === undefined) {
      return err(
        `${dir} has the data format of an older raftwork (format 1): start it once with the --peers it was created with, to migrate it`,
      );
    }
    if (clusterFingerprint(peers) !== id.cluster) {
      return err(
        `${dir} belongs to another cluster (its --peers differ from these); use the original --peers or another --data`,
      );
    }
    const record: ClusterRecord = {
      node: req.node,
      clusterId: legacyClusterId(id.cluster),
      listen: selfAddress(peers, req.node),
      members: sortMembers(peers),
      origin: "migrated",
    };
    const written = writeClusterRecord(dir, record);
    if (!written.ok) return written;
    rmSync(identityFile(dir), { force: true });
    const warnings = [
      `migrated ${dir} from data format ${LEGACY_FORMAT} to ${DATA_FORMAT}; --peers is no longer needed`,
    ];
    return ok({ record, mode: "restart", warnings });
  }
  if (peers === undefined) {
    return err(
      `--peers is required for an empty data directory (${dir}): every founding member's Raft address, or with --join the current members and this one`,
    );
  }
  if (!peers.some((m) => m.id === req.node))
    return err(`--peers must list this node (id ${req.node}) with its Raft address`);
  const listen = selfAddress(peers, req.node);
  const record: ClusterRecord = req.join
    ? { node: req.node, clusterId: null, listen, members: [], origin: "join" }
    : { node: req.node, clusterId: null, listen, members: sortMembers(peers), origin: "bootstrap" };
  return ok({ record, mode: req.join ? "join" : "bootstrap", warnings: [] });
}

/** Writes cluster.json atomically (a crash leaves the old file or the new one, never half). */
export function writeClusterRecord(dir: string, record: ClusterRecord): Result<void> {
  const file = clusterFile(dir);
  const tmp = `${file}.tmp`;
  const body = {
    format: DATA_FORMAT,
    node: record.node,
    cluster: record.clusterId,
    listen: record.listen,
    members: sortMembers(record.members).map((m) => ({ id: m.id, raft: m.address })),
    origin: record.origin,
  };
  try {
    writeFileSync(tmp, `${JSON.stringify(body)}\n`);
    renameSync(tmp, file);
    return ok(undefined);
  } catch (e) {
    return err(`cannot write ${file}: ${message(e)}`);
  }
}

/** DIR's cluster.json, null if it has none, or why it is unreadable. */
export function readClusterRecord(dir: string): Result<ClusterRecord | null> {
  const text = readOptional(clusterFile(dir));
  if (!text.ok || text.value === null) return text as Result<null>;
  const file = clusterFile(dir);
  let v: unknown;
  try {
    v = JSON.parse(text.value);
  } catch {
    return err(`${file} is not valid JSON`);
  }
  const s = v as Record<string, unknown>;
  if (typeof s !== "object" || s === null) return err(`${file} is damaged`);
  if (s.format !== DATA_FORMAT)
    return err(
      `${file} has data format ${String(s.format)}; this raftwork reads format ${DATA_FORMAT}`,
    );
  if (!isId(s.node)) return err(`${file} is damaged (no node id)`);
  if (typeof s.listen !== "string") return err(`${file} is damaged (no listen address)`);
  if (s.cluster !== null && !isClusterId(s.cluster))
    return err(`${file} is damaged (bad cluster id)`);
  if (s.origin !== "bootstrap" && s.origin !== "join" && s.origin !== "migrated")
    return err(`${file} is damaged (bad origin)`);
  if (!Array.isArray(s.members)) return err(`${file} is damaged (no member list)`);
  const members: Member[] = [];
  for (const m of s.members as { id?: unknown; raft?: unknown }[]) {
    if (typeof m !== "object" || m === null || !isId(m.id) || typeof m.raft !== "string")
      return err(`${file} is damaged (bad member)`);
    members.push({ id: m.id, address: m.raft });
  }
  return ok({
    node: s.node,
    clusterId: s.cluster as string | null,
    listen: s.listen,
    members,
    origin: s.origin,
  });
}

/** A format-1 identity.json: the node id and the fingerprint of its --peers. */
export interface Identity {
  node: NodeId;
  cluster: string;
}

/** DIR's format-1 identity, null if it has none, or why it is unreadable. */
export function readIdentity(dir: string): Result<Identity | null> {
  const file = identityFile(dir);
  const text = readOptional(file);
  if (!text.ok || text.value === null) return text as Result<null>;
  let stored: unknown;
  try {
    stored = JSON.parse(text.value);
  } catch {
    return err(`${file} is not valid JSON`);
  }
  const s = stored as { format?: unknown; node?: unknown; cluster?: unknown };
  if (typeof s !== "object" || s === null || s.format !== LEGACY_FORMAT) {
    return err(`${file} has an unknown format`);
  }
  if (!isId(s.node) || typeof s.cluster !== "string") {
    return err(`${file} is damaged (no node id or cluster)`);
  }
  return ok({ node: s.node, cluster: s.cluster });
}

function selfAddress(peers: readonly Member[], node: NodeId): string {
  return (peers.find((m) => m.id === node) as Member).address;
}

function notOurs(dir: string, owner: NodeId, node: NodeId): string {
  return `${dir} belongs to node ${owner}, not node ${node}; use that node's --id or another --data`;
}

function isId(v: unknown): v is NodeId {
  return Number.isSafeInteger(v) && (v as number) >= 1;
}

function sortMembers(members: readonly Member[]): Member[] {
  return [...members].sort((a, b) => a.id - b.id);
}

function readOptional(file: string): Result<string | null> {
  try {
    return ok(readFileSync(file, "utf8"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return ok(null);
    return err(`cannot read ${file}: ${message(e)}`);
  }
}

function clusterFile(dir: string): string {
  return join(dir, "cluster.json");
}

function identityFile(dir: string): string {
  return join(dir, "identity.json");
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
