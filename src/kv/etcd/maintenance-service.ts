// etcd's Maintenance service.
//
// - Status: this member's Raft progress; dbSize is an estimate of the store's bytes (raftwork
//   keeps the store in memory: there is no database file to measure), never 0.
// - Alarm: raftwork raises no alarms yet, so every action answers an empty list.
// - Defragment: nothing to defragment (no bbolt file): success.
// - HashKV: etcd's, a CRC-32 of the key history since the last compaction up to a revision;
//   Hash: that and the lease table (hash-kv.ts says exactly what each covers).
// - Snapshot: the node's raftwork snapshot (the one its Raft log compacts to), zero-padded to
//   a multiple of 512 bytes and followed by the SHA-256 of what precedes it, which is what
//   `etcdctl snapshot save` checks (clientv3/snapshot: size % 512 == 32). It is not a bbolt
//   file: `etcdctl snapshot restore`/`status` cannot read it.
// - MoveLeader: a Raft leader transfer (thesis §3.10), answered once the target leads.
import { createHash } from "node:crypto";
import type * as Grpc from "@grpc/grpc-js";
import { etcdError } from "../mvcc/index.js";
import type { EtcdBackend } from "./backend.js";
import { type UnaryHandler, unary, type Wire } from "./call.js";
import { fromEtcdError, fromServiceError, grpcError, Status } from "./errors.js";
import { hashKv, hashStore } from "./hash-kv.js";
import * as wire from "./wire.js";

/** The etcd API version raftwork speaks, as Status reports it. */
export const SERVER_VERSION = "3.4.0-raftwork";
const SNAPSHOT_CHUNK = 32 * 1024;
/** How long MoveLeader waits for the target to take over. */
const TRANSFER_WAIT_MS = 5000;
/** A store of no keys still "occupies" this much (etcd's smallest db file is 20 KiB). */
const DB_BASE_BYTES = 20 * 1024;
const PER_VERSION_BYTES = 48;

type SnapshotCall = Grpc.ServerWritableStream<Wire, Wire>;

export function maintenanceService(
  b: EtcdBackend,
  electionTimeoutMs: number,
): Record<string, UnaryHandler | ((c: SnapshotCall) => void)> {
  let sized = { at: -Infinity, bytes: DB_BASE_BYTES };
  const dbSize = (): number => {
    const now = b.now();
    if (now - sized.at > 1000) {
      const s = b.sm.store.stats();
      sized = { at: now, bytes: DB_BASE_BYTES + s.valueBytes + s.versions * PER_VERSION_BYTES };
    }
    return sized.bytes;
  };

  return {
    Status: unary(() => {
      const s = b.service.status();
      const size = String(dbSize());
      return {
        header: b.header(),
        version: SERVER_VERSION,
        dbSize: size,
        leader: String(s.leader ?? 0),
        raftIndex: String(s.commitIndex),
        raftTerm: String(s.term),
        raftAppliedIndex: String(s.appliedIndex),
        errors: [],
        dbSizeInUse: size,
        isLearner: false,
      };
    }),

    Alarm: unary(() => ({ header: b.header(), alarms: [] })),

    Defragment: unary(() => ({ header: b.header() })),

    Hash: unary(() => ({ header: b.header(), hash: hashStore(b.sm.store) })),

    HashKV: unary((req) => {
      const r = hashKv(b.sm.store, wire.num(req.revision));
      if (!r.ok) throw fromEtcdError(r.error);
      return {
        header: b.header(r.value.revision),
        hash: r.value.hash,
        compact_revision: String(r.value.compactRevision),
      };
    }),

    Snapshot: (call: SnapshotCall) => {
      // A failure goes out as an "error" event: grpc-js then sends it as the stream's status
      // (destroy() would drop the status and leave the client waiting).
      void (async () => {
        const data = await b.sm.snapshotAsync();
        if (data === null)
          throw grpcError(
            Status.Unavailable,
            "raftwork: the state was replaced while the snapshot was taken; retry",
          );
        const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
        padded.set(data);
        const sum = createHash("sha256").update(padded).digest();
        const header = b.header();
        const total = padded.length + sum.length;
        let sent = 0;
        const send = async (blob: Buffer) => {
          sent += blob.length;
          if (!call.write({ header, remaining_bytes: String(total - sent), blob })) {
            await new Promise((resolve) => call.once("drain", resolve));
          }
        };
        for (let off = 0; off < padded.length; off += SNAPSHOT_CHUNK) {
          if (call.cancelled) return;
          await send(padded.subarray(off, off + SNAPSHOT_CHUNK));
        }
        await send(sum);
        call.end();
      })().catch((err: unknown) => call.emit("error", fromServiceError(err)));
    },

    MoveLeader: unary(async (req): Promise<Wire> => {
      const target = wire.num(req.targetID);
      const s = b.service.status();
      if (s.role !== "leader") throw fromEtcdError(etcdError("NotPrimary"));
      if (target === b.id) return { header: b.header() };
      if (!s.members.includes(target) || b.service.transferLeader?.(target) !== true) {
        throw grpcError(Status.FailedPrecondition, "etcdserver: bad leader transferee");
      }
      const deadline = b.now() + Math.max(TRANSFER_WAIT_MS, 3 * electionTimeoutMs);
      while (b.service.status().leader !== target) {
        if (b.now() > deadline) {
          throw grpcError(
            Status.Unavailable,
            "etcdserver: request timed out, leader transfer took too long",
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { header: b.header() };
    }),
  };
}
