// etcd's Lease service. Grants and revokes are replicated writes (the leader picks a grant's
// id when the client gives none); deadlines live on the leader only (lease-table.ts), so
// keep-alives and time-to-live questions are answered by the leader: a follower relays each
// one over the leader link.
import type * as Grpc from "@grpc/grpc-js";
import type { TimeToLive } from "../lease/index.js";
import {
  etcdError,
  fromByteString,
  type LeaseGrantResponse,
  type LeaseRevokeResponse,
} from "../mvcc/index.js";
import type { EtcdBackend } from "./backend.js";
import { type UnaryHandler, unary, type Wire } from "./call.js";
import { fromEtcdError, fromServiceError } from "./errors.js";
import type { RenewAnswer } from "./leader-link.js";
import * as wire from "./wire.js";

type KeepAliveCall = Grpc.ServerDuplexStream<Wire, Wire>;

export function leaseService(
  b: EtcdBackend,
): Record<string, UnaryHandler | ((c: KeepAliveCall) => void)> {
  /**
   * A keep-alive on the leader: the lease's TTL, 0 if it does not exist (etcd's answer). Right
   * after an election there may be no leader, or one whose lease table is not primary yet:
   * atLeader() waits for it within the request timeout, as etcd's LeaseRenew does.
   */
  const renew = (id: bigint, alive: () => boolean): Promise<number> =>
    b.atLeader(async (leader, timeoutMs) => {
      const r: RenewAnswer =
        leader === b.id
          ? (() => {
              const x = b.sm.store.leases.renew(id, b.now());
              return x.ok ? { ttl: x.value } : { error: x.error.code };
            })()
          : await b.link.call<RenewAnswer>(leader, { kind: "renew", id }, timeoutMs);
      if ("ttl" in r) return r.ttl;
      if (r.error === "LeaseNotFound") return 0;
      throw fromEtcdError(etcdError(r.error));
    }, alive);

  const timeToLive = (id: bigint): Promise<TimeToLive | null> =>
    b.atLeader(async (leader, timeoutMs) => {
      if (leader === b.id && b.sm.store.leases.isPrimary) {
        return b.sm.store.leases.timeToLive(id, b.now()) ?? null;
      }
      if (leader === b.id) throw fromEtcdError(etcdError("NotPrimary"));
      const r = await b.link.call<{ ttl: TimeToLive | null } | { error: "NotPrimary" }>(
        leader,
        { kind: "ttl", id },
        timeoutMs,
      );
      if ("error" in r) throw fromEtcdError(etcdError(r.error));
      return r.ttl;
    });

  return {
    LeaseGrant: unary(async (req, md) => {
      const caller = b.authorizeUser(md);
      const ttl = wire.num(req.TTL);
      const res = await b.propose<LeaseGrantResponse>(
        { op: "lease-grant", ts: b.now(), id: wire.big(req.ID), ttl },
        caller,
      );
      return {
        header: b.header(res.revision),
        ID: res.id.toString(),
        TTL: String(res.ttl),
        error: "",
      };
    }),

    LeaseRevoke: unary(async (req, md) => {
      // Write permission on the lease's keys is checked when the revoke is applied.
      const caller = b.authorizeUser(md);
      const res = await b.propose<LeaseRevokeResponse>(
        { op: "lease-revoke", ts: b.now(), id: wire.big(req.ID) },
        caller,
      );
      return { header: b.header(res.revision) };
    }),

    LeaseKeepAlive: (call: KeepAliveCall) => {
      // Answers go out in request order, one renewal at a time per stream.
      let chain = Promise.resolve();
      let done = false;
      const finish = (err?: unknown) => {
        if (done) return;
        done = true;
        if (err === undefined) call.end();
        // grpc-js sends a stream's status when it ends: an "error" event sets the status and
        // ends the stream, where destroy() would drop it and leave the client waiting.
        else call.emit("error", fromServiceError(err));
      };
      call.on("data", (req: Wire) => {
        const id = wire.big(req.ID);
        chain = chain.then(async () => {
          if (done) return;
          try {
            b.authorizeUser(call.metadata);
            const ttl = await renew(id, () => !done);
            if (!done) call.write({ header: b.header(), ID: id.toString(), TTL: String(ttl) });
          } catch (err) {
            finish(err);
          }
        });
      });
      call.on("end", () => void chain.then(() => finish()));
      call.on("cancelled", () => {
        done = true;
      });
      call.on("error", () => {
        done = true;
      });
    },

    LeaseTimeToLive: unary(async (req, md) => {
      b.authorizeUser(md);
      const id = wire.big(req.ID);
      const t = await timeToLive(id);
      // etcd answers an unknown lease with TTL -1 (and no error).
      if (t === null)
        return { header: b.header(), ID: id.toString(), TTL: "-1", grantedTTL: "0", keys: [] };
      return {
        header: b.header(),
        ID: id.toString(),
        TTL: String(t.ttl),
        grantedTTL: String(t.grantedTtl),
        keys: req.keys === true ? t.keys.map(fromByteString) : [],
      };
    }),

    LeaseLeases: unary(async (_req, md): Promise<Wire> => {
      b.authorizeUser(md);
      await b.linearize(false);
      return {
        header: b.header(),
        leases: b.sm.store.leases.ids().map((id) => ({ ID: id.toString() })),
      };
    }),
  };
}
