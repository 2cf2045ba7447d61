// How Raft messages move between nodes. One interface, two adapters: SimNetwork's per-node
// endpoint (src/sim) and TcpTransport (real sockets). One shared suite (test/transport/suite.ts)
// runs against both.
//
// Contract: send() is one-way, never throws and never blocks; a message may be lost, delayed,
// duplicated or reordered (Raft tolerates all of these, so a full queue or a broken connection
// just drops). Messages to self are a caller bug. onMessage handlers receive messages whose `to`
// is this node; a transport never delivers a message it could not decode completely.

import type { Message, NodeId } from "../raft/types.js";

export interface Transport {
  readonly id: NodeId;
  send(m: Message): void;
  onMessage(handler: (m: Message) => void): void;
  /**
   * Calls `handler` with a peer's id when an established connection to or from it closes (the
   * peer's process died or closed its transport; not when a network merely stops carrying
   * packets). A hint for Raft (RawNodeApi.forgetLeader), never needed for correctness.
   */
  onPeerLost(handler: (id: NodeId) => void): void;
  close(): Promise<void>;
}
