// Taking a backup of a running member (GET /v1/snapshot and the etcd API's
// Maintenance.Snapshot): the state machine's state at an applied index, with that index, its
// term and the configuration there, in the backup format (backup-format.ts). The state is cut
// and its place in the log read in one turn of the event loop, so the two always agree; the
// chunks are then encoded and streamed while the node keeps applying (the store's history
// below the cut does not change).

import type { RaftService } from "../node/api.js";
import type { NodeId } from "../raft/types.js";
import { type BackupMeta, encodeBackup } from "./backup-format.js";
import type { KvStateMachine } from "./state-machine.js";

export interface LiveBackup {
  meta: BackupMeta;
  /** The backup file's bytes, chunk by chunk; read it once. */
  chunks: AsyncGenerator<Buffer>;
}

export function takeBackup(
  service: RaftService,
  sm: KvStateMachine,
  node: NodeId,
  now: () => number = Date.now,
): LiveBackup {
  if (service.appliedPoint === undefined) {
    throw new Error("this Raft service cannot say where its state machine is (appliedPoint)");
  }
  const point = service.appliedPoint();
  const data = sm.snapshotStream();
  const meta: BackupMeta = { ...point, node, createdAt: Math.floor(now()) };
  return { meta, chunks: encodeBackup(meta, data) };
}
