// etcd's Watch service: one bidirectional stream per call, served by this member's watch hub
// (src/kv/watch), which is fed by the entries this member applies. Requests go to the hub's
// stream; its queued responses are written as the call can take them (a call whose buffer is
// full waits for 'drain'), and watchers replaying history get more of it (hub.sync) only as
// their responses leave, so a slow client slows its own replay and nothing else.
import type * as Grpc from "@grpc/grpc-js";
import { authError } from "../auth/index.js";
import type { WatchFilter, WatchResponse, WatchStream } from "../watch/index.js";
import { type EtcdBackend, tokenOf } from "./backend.js";
import type { Wire } from "./call.js";
import * as wire from "./wire.js";

/** Responses written per turn of the event loop before yielding. */
const WRITE_BATCH = 64;
/** How often watchers that asked for progress notifications get one (etcd: 10 minutes). */
export const PROGRESS_INTERVAL_MS = 10 * 60 * 1000;

type WatchCall = Grpc.ServerDuplexStream<Wire, Wire>;

export function watchService(b: EtcdBackend): Record<string, (call: WatchCall) => void> {
  return {
    Watch: (call) => {
      let blocked = false;
      let scheduled = false;
      const stream: WatchStream = b.hub.openStream(() => schedule());
      const schedule = () => {
        if (scheduled || blocked) return;
        scheduled = true;
        setImmediate(drain);
      };
      const drain = () => {
        scheduled = false;
        if (call.cancelled || call.destroyed) return;
        // take() removes what it returns: every response taken is written, and a full buffer
        // (write() false: the call still holds what it was given) stops only the next batch.
        let full = false;
        for (const resp of stream.take(WRITE_BATCH)) {
          if (!call.write(response(resp, b))) full = true;
        }
        if (full) {
          blocked = true;
          call.once("drain", () => {
            blocked = false;
            schedule();
          });
          return;
        }
        // Replay goes on as responses leave: whatever it queues wakes the stream it is for.
        if (b.hub.syncPending) b.hub.sync();
        if (stream.pending > 0) schedule();
      };
      call.on("data", (req: Wire) => {
        switch (req.request_union) {
          case "create_request": {
            const c = req.create_request as Wire;
            const refused = watchRefusal(b, call.metadata, c);
            if (refused !== null) {
              // etcd answers a watch outside the caller's rights with created then canceled
              // in one response (clientv3 ends that watch channel), not a stream error.
              call.write({
                header: b.header(),
                watch_id: "-1",
                created: true,
                canceled: true,
                compact_revision: "0",
                cancel_reason: refused,
                events: [],
              });
              break;
            }
            const filters = Array.isArray(c.filters) ? (c.filters as number[]) : [];
            stream.watch({
              key: c.key as Uint8Array,
              rangeEnd: (c.range_end as Uint8Array | undefined) ?? new Uint8Array(0),
              startRevision: wire.num(c.start_revision),
              progressNotify: c.progress_notify === true,
              filters: filters as WatchFilter[],
              prevKv: c.prev_kv === true,
              watchId: wire.num(c.watch_id),
            });
            break;
          }
          case "cancel_request":
            stream.cancel(wire.num((req.cancel_request as Wire).watch_id));
            break;
          case "progress_request":
            stream.requestProgress();
            break;
        }
        schedule();
      });
      const close = () => stream.close();
      call.on("end", () => {
        close();
        call.end();
      });
      call.on("cancelled", close);
      call.on("error", close);
      call.on("close", close);
    },
  };
}

/** Why the caller may not watch `c`'s range (etcd's cancel reasons), or null if it may. */
function watchRefusal(b: EtcdBackend, md: Grpc.Metadata, c: Wire): string | null {
  if (!b.gate.enabled) return null;
  const who = b.gate.identify(tokenOf(md));
  if (!who.ok) return authError(who.error).message;
  const rangeEnd = c.range_end as Uint8Array | undefined;
  const e = b.gate.check(who.value, [{ access: "read", key: c.key as Uint8Array, rangeEnd }]);
  return e === null ? null : authError(e).message;
}

function response(r: WatchResponse, b: EtcdBackend): Wire {
  return {
    header: b.header(r.revision),
    watch_id: String(r.watchId),
    created: r.created,
    canceled: r.canceled,
    compact_revision: String(r.compactRevision),
    cancel_reason: r.cancelReason,
    events: r.events.map(wire.event),
  };
}
