// How Raft messages move between nodes. One interface, two adapters: SimNetwork's per-node
// endpoint (src/sim) and TcpTransport (real sockets). One shared suite (test/transport/suite.ts)
// runs against both.
//
// Contract: send() is one-way, never throws and never blocks; a message may be lost, delayed,
// duplicated or reordered (Raft tolerates all of these, so a full queue or a broken connection
// just drops). Messages to self are a caller bug. onMessage handlers receive messages whose `to`
// is this node; a transport never delivers a message it could not decode and verify completely
// (TcpTransport checksums every frame: a corrupted one is never delivered).

import type { Message, NodeId } from "../raft/types.js";
import type { HostPort } from "../util/host-port.js";

export interface Transport {
  readonly id: NodeId;
  send(m: Message): void;
  onMessage(handler: (m: Message) => void): void;
  /**
   * Calls `handler` with a peer's id when an established connection to or from it ends without
   * the peer saying it is closing it on purpose: the peer's process died, or it closed its
   * transport. Never for a network that merely stops carrying packets: a connection that falls
   * silent is torn down by the liveness check and redialed, and that is not reported (both
   * ends close it "on purpose"). The reason: RaftNode turns a report into
   * RawNodeApi.forgetLeader, and a follower told to forget its leader campaigns
   * within a tick or two; a silence of a few heartbeats (a GC pause, a loaded machine) must not
   * start elections that the election timer, which measures exactly that silence, would not.
   * A hint, never needed for correctness.
   */
  onPeerLost(handler: (id: NodeId) => void): void;
  close(): Promise<void>;
}

/**
 * Runtime membership (issue 12), apart from Transport so that a transport without addresses
 * (the simulator's) needs nothing socket-like to offer it. The node calls setPeers with every
 * member's Raft address, its own included or not, whenever the configuration it applied adds,
 * removes or re-addresses a member. Messages to or from an id not in the set are dropped.
 */
export interface PeerUpdates {
  setPeers(peers: ReadonlyMap<NodeId, HostPort>): void;
}
