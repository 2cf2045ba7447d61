// etcd's Maintenance service.
//
// - Status: this member's Raft progress; dbSize is an estimate of the store's bytes (raftwork
//   keeps the store in memory: there is no database file to measure), never 0.
// - Alarm: this member's own alarms (docs/architecture.md, "Disk faults: full and slow disks"):
//   NOSPACE while its disk is full. They are not replicated as etcd's are, so GET answers what
//   the member called has raised, and DEACTIVATE clears an alarm of that member only (it then
//   retries at once; a disk still full raises NOSPACE again). ACTIVATE is refused: a member
//   raises its alarms itself. Status lists them in `errors`, as etcd does.
// - Defragment: nothing to defragment (no bbolt file): success.
// - HashKV: etcd's, a CRC-32 of the key history since the last compaction up to a revision;
//   Hash: that and the lease table (hash-kv.ts says exactly what each covers).
// - Snapshot: a raftwork backup (../backup-format.ts), the same bytes GET /v1/snapshot serves:
//   512k + 32 bytes ending with the SHA-256 of what precedes it, which is what `etcdctl
//   snapshot save` checks (clientv3/snapshot: size % 512 == 32), so `kv snapshot restore`
//   reads a file etcdctl saved. It is not a bbolt file: `etcdctl snapshot restore`/`status`
//   cannot read it. It streams as it is encoded, so remaining_bytes is only known to be 0 on
//   the last message; before it, it counts the checksum still to come (a lower bound).
// - MoveLeader: a Raft leader transfer (thesis §3.10), answered once the target leads.
import type * as Grpc from "@grpc/grpc-js";
import { takeBackup } from "../backup.js";
import { etcdError, SnapshotAbortedError } from "../mvcc/index.js";
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
/** etcd's AlarmType and AlarmRequest.AlarmAction numbers. */
const ALARM_TYPE: Record<string, number> = { NOSPACE: 1, CORRUPT: 2 };
const ALARM_NONE = 0;
const Action = { GET: 0, ACTIVATE: 1, DEACTIVATE: 2 } as const;

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

  /** This member's raised alarms as etcd's AlarmMember messages. */
  const alarms = (): { memberID: string; alarm: number }[] =>
    (b.service.status().alarms ?? [])
      .filter((name) => ALARM_TYPE[name] !== undefined)
      .map((name) => ({ memberID: String(b.id), alarm: ALARM_TYPE[name] as number }));

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
        // etcd: "etcdserver: no leader" and one AlarmMember text per alarm.
        errors: [
          ...(s.leader === null ? ["etcdserver: no leader"] : []),
          ...(s.alarms ?? []).map((name) => `memberID:${b.id} alarm:${name}`),
        ],
        dbSizeInUse: size,
        isLearner: false,
      };
    }),

    Alarm: unary((req) => {
      const action = wire.num(req.action);
      const type = wire.num(req.alarm);
      if (action === Action.GET) {
        const all = alarms();
        return {
          header: b.header(),
          alarms: type === ALARM_NONE ? all : all.filter((a) => a.alarm === type),
        };
      }
      if (action === Action.DEACTIVATE) {
        // As etcd's alarm store: one member's alarm of one type, or nothing.
        const raised = alarms().filter((a) => a.alarm === type && wire.num(req.memberID) === b.id);
        if (raised.length > 0) b.service.disarmAlarms?.();
        return { header: b.header(), alarms: raised };
      }
      if (action === Action.ACTIVATE) {
        throw grpcError(
          Status.Unimplemented,
          "raftwork: a member raises its own alarms (NOSPACE when its disk is full); ACTIVATE is not supported",
        );
      }
      throw grpcError(Status.InvalidArgument, `raftwork: unknown alarm action ${action}`);
    }),

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
      // emit, not destroy: grpc-js sends the status from its "error" handler, and a destroyed
      // stream never ends, leaving the client waiting.
      void streamBackup(b, call).catch((err: unknown) => call.emit("error", fromServiceError(err)));
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

/** The backup in blobs of about SNAPSHOT_CHUNK bytes, with flow control. */
async function streamBackup(b: EtcdBackend, call: SnapshotCall): Promise<void> {
  const backup = takeBackup(b.service, b.sm, b.id, b.now);
  const header = b.header();
  let pending: Buffer[] = [];
  let size = 0;
  const flush = async (last: boolean) => {
    const blob = Buffer.concat(pending, size);
    pending = [];
    size = 0;
    const remaining = last ? "0" : "32";
    if (!call.write({ header, remaining_bytes: remaining, blob })) {
      await new Promise((resolve) => call.once("drain", resolve));
    }
  };
  try {
    for await (const chunk of backup.chunks) {
      if (call.cancelled) return;
      pending.push(chunk);
      size += chunk.length;
      if (size >= SNAPSHOT_CHUNK) await flush(false);
    }
    await flush(true);
    call.end();
  } catch (err) {
    if (err instanceof SnapshotAbortedError) {
      throw grpcError(
        Status.Unavailable,
        "raftwork: the state was replaced while the snapshot was taken; retry",
      );
    }
    throw err;
  } finally {
    await backup.chunks.return(undefined);
  }
}
