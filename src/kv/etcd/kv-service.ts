// etcd's KV service: Range, Put, DeleteRange, Txn, Compact (README, "etcd compatibility"). Reads run on this member's store after a linearizable barrier unless the request
// is serializable; a read-only Txn is a read. Writes are checked first (a request the store
// would refuse for its shape alone is answered without a log entry) and proposed through Raft.
// With auth on, each request is checked against the caller's permissions here, and a write
// again when applied (state-machine.ts).
import { type Need, needsOfDelete, needsOfPut, needsOfRange, needsOfTxn } from "../auth/index.js";
import type { Command } from "../commands.js";
import {
  type CompactResponse,
  checkDeleteRange,
  checkPut,
  checkRange,
  checkTxn,
  type DeleteRangeResponse,
  isReadOnlyTxn,
  type PutResponse,
  type TxnResponse,
} from "../mvcc/index.js";
import { type EtcdBackend, sessionOf } from "./backend.js";
import { type UnaryHandler, unary, type Wire } from "./call.js";
import { fromEtcdError } from "./errors.js";
import * as wire from "./wire.js";

export function kvService(b: EtcdBackend): Record<string, UnaryHandler> {
  /** Proposes `cmd` with the call's session, if any, if the caller may touch `needs`. */
  const write = <T>(
    cmd: Command & { op: `etcd-${string}` | "compact" },
    md: Parameters<typeof sessionOf>[0],
    needs: (() => Need[]) | "admin",
  ) => {
    const caller = needs === "admin" ? b.authorizeAdmin(md) : b.authorize(md, needs);
    const session = sessionOf(md);
    if (session instanceof Error) throw session;
    if (session) cmd.session = session;
    return b.propose<T>(cmd, caller);
  };

  return {
    Range: unary(async (req, md) => {
      const r = wire.rangeRequest(req);
      const e = checkRange(r);
      if (e) throw fromEtcdError(e);
      // Checked after the barrier, as etcd does: against auth state at least as new as the
      // read (a member that just restarted may not have applied a revoke yet).
      await b.linearize(req.serializable === true);
      b.authorize(md, () => needsOfRange(r));
      const res = b.sm.store.range(r);
      if (!res.ok) throw fromEtcdError(res.error);
      return wire.rangeResponse(res.value, b.header);
    }),

    Put: unary(async (req, md) => {
      const r = wire.putRequest(req);
      const e = checkPut(r);
      if (e) throw fromEtcdError(e);
      const res = await write<PutResponse>({ op: "etcd-put", ts: b.now(), req: r }, md, () =>
        needsOfPut(r),
      );
      return wire.putResponse(res, b.header);
    }),

    DeleteRange: unary(async (req, md) => {
      const r = wire.deleteRangeRequest(req);
      const e = checkDeleteRange(r);
      if (e) throw fromEtcdError(e);
      const res = await write<DeleteRangeResponse>(
        { op: "etcd-delete", ts: b.now(), req: r },
        md,
        () => needsOfDelete(r),
      );
      return wire.deleteRangeResponse(res, b.header);
    }),

    Txn: unary(async (req, md) => {
      const r = wire.txnRequest(req);
      const e = checkTxn(r);
      if (e) throw fromEtcdError(e);
      const needs = () => needsOfTxn(r);
      if (isReadOnlyTxn(r)) {
        await b.linearize(false);
        b.authorize(md, needs);
        const res = b.sm.store.txn(r);
        if (!res.ok) throw fromEtcdError(res.error);
        return wire.txnResponse(res.value, b.header);
      }
      const res = await write<TxnResponse>({ op: "etcd-txn", ts: b.now(), req: r }, md, needs);
      return wire.txnResponse(res, b.header);
    }),

    Compact: unary(async (req, md): Promise<Wire> => {
      const revision = wire.num(req.revision);
      const res = await write<CompactResponse>(
        { op: "compact", ts: b.now(), revision },
        md,
        "admin",
      );
      return { header: b.header(res.revision) };
    }),
  };
}
