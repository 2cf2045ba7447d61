// SimNetwork: the simulator's message network, on virtual time.
//
// Every message sent is either dropped at once or scheduled for delivery after a random delay;
// it may also be duplicated (a second copy with its own delay). A message is dropped at delivery
// time as well if the link is cut by then or the receiver is down, like a packet arriving at a
// dead or unreachable host. Without the "reorder" fault each directed link is FIFO (a later
// message never overtakes an earlier one, as on one TCP connection); with it, every copy travels
// independently and some take a detour.
//
// Faults (NetworkFaults, changeable at any time): drop rate, duplication rate, a typical delay
// range, occasional long delays, reordering, corruption; plus links: partition(groups) cuts
// every link between nodes that share no group (any shape, groups may overlap: a bridge node in
// two groups reaches both sides), cutLink(a, b) cuts one direction only, disconnect(id) cuts a
// node off entirely (the 6.5840 lab's disconnect), slowLink(a, b, ms) holds back everything
// from a to b by `ms` more (a congested route, a stalled TCP connection that later releases its
// backlog: replies of old terms arrive in bulk), heal() restores every link; falseAlarm() reports
// a peer lost that is not.
//
// A copy that reaches a crashed node is dropped, or (holdRate) waits in the sender's queue, as
// in TcpTransport's peer link: its queue outlives the connection, and the redial that succeeds
// once the node is back (after a backoff, up to holdMaxMs) sends the backlog first, then what
// was sent since. So a reply of an old term reaches the restarted node, possibly after it was
// elected again in a later term. A queue holds at most HOLD_LIMIT copies and dies with its sender.
// A sender's power loss also takes (crashLossRate) each copy it sent in its last millisecond:
// still in its kernel's socket buffers or its NIC, gone with the machine (reason `sender-crash`).
//
// A corrupted copy is sealed in the transport's own frame (wire.ts encodeMessageFrame: the kind
// byte and CRC-32 checksums TcpTransport puts on the wire), a bit of it flipped, and opened again
// at the receiver with decodeMessageFrame: a frame the checksum rejects is dropped (reason
// `corrupt`); one it accepted would be delivered as decoded, never the original.
//
// Other components use it two ways:
//   - The simulator attaches each SimNode's receive function with attach(id, fn).
//   - Transport conformance tests use standard Transport endpoints:
//
//       const { transports, network, runUntilIdle } = createSimTransports([1, 2, 3]);
//       transports.get(2)!.onMessage((m) => got.push(m));
//       transports.get(1)!.send({ type: "heartbeat", from: 1, to: 2, term: 1, commit: 0, ctx: 0 });
//       runUntilIdle();            // runs virtual time until no delivery is pending
//
//     createSimTransports' default network is reliable (no drops, 1 ms FIFO delivery); pass
//     { faults } for an unreliable one.

import type { Message, MessageType, NodeId } from "../raft/types.js";
import type { PeerUpdates, Transport } from "../transport/transport.js";
import { decodeMessageFrame, encodeMessageFrame } from "../transport/wire.js";
import { Rng } from "./rng.js";
import { Scheduler } from "./scheduler.js";
import type { Trace } from "./trace.js";
import type { DropReason, MessageRecord } from "./trace-schema.js";

/** Request message types, counted like the 6.5840 lab counts RPCs (responses are not). */
export const REQUEST_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  "prevote",
  "vote",
  "app",
  "heartbeat",
  "snap",
  "timeout-now",
]);

export interface NetworkFaults {
  /** Probability that a message (each copy) is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  dupRate: number;
  /** Typical one-way delay, uniform in [minDelayMs, maxDelayMs]. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability of a long delay, uniform up to longDelayMaxMs (a stalled route or GC pause). */
  longDelayRate: number;
  longDelayMaxMs: number;
  /** Let messages on one link overtake each other (otherwise each link is FIFO). */
  reorder: boolean;
  /** Probability that a copy has a bit flipped in flight (the `corrupt` fault). Default 0. */
  corruptRate?: number;
  /**
   * Probability that a copy reaching a crashed node waits in the sender's queue instead of
   * being dropped; it is delivered after the node is back and a redial delay uniform in
   * [0, holdMaxMs]. Default 0.
   */
  holdRate?: number;
  holdMaxMs?: number;
  /** Probability that a copy sent within SEND_BUFFER_MS before its sender crashed is lost. */
  crashLossRate?: number;
}

/** How long a sent copy may sit in the sender's socket buffers and NIC before it is on the wire. */
const SEND_BUFFER_MS = 1;

/** Copies one link's queue holds for a crashed node (TcpTransport's queue is bounded too). */
const HOLD_LIMIT = 64;

interface HeldCopy {
  m: Message;
  id: number;
  sent: number;
  flags: number;
}

/** No faults: every message arrives after 1 ms, in order. */
export const RELIABLE: NetworkFaults = {
  dropRate: 0,
  dupRate: 0,
  minDelayMs: 1,
  maxDelayMs: 1,
  longDelayRate: 0,
  longDelayMaxMs: 0,
  reorder: false,
};

/** The 6.5840 lab's unreliable network: 10% loss, 0–27 ms delays, reordering. */
export const UNRELIABLE: NetworkFaults = {
  dropRate: 0.1,
  dupRate: 0,
  minDelayMs: 0,
  maxDelayMs: 27,
  longDelayRate: 0,
  longDelayMaxMs: 0,
  reorder: true,
};

export type Receiver = (m: Message) => void;

/** A copy's trace flags: held back on a long detour; the second copy of a duplicated message. */
const LATE = 1;
const DUP = 2;
/** Not traced: a bit of this copy flips in flight. */
const CORRUPT = 4;

export interface NetworkStats {
  /** Requests sent (REQUEST_TYPES: the lab's RPC count), whatever became of them. */
  requests: number;
  /** Payload bytes sent: entry data in appends plus snapshot data (the lab's RPC bytes). */
  bytes: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Copies corrupted in flight (each one dropped by the receiver's checksum). */
  corrupted: number;
}

/**
 * The message-specific fields of a trace line (`,"k":v...`: trace-schema.ts MessagePayload, in
 * its key order), built by hand: message records are most of the trace, and this is several
 * times cheaper than JSON.stringify of a spread. Every value is a number or boolean, so no
 * escaping is needed.
 */
function describe(m: Message): string {
  switch (m.type) {
    case "app":
      return `,"prev":${m.prevIndex},"prevTerm":${m.prevTerm},"n":${m.entries.length},"commit":${m.commit}`;
    case "app-resp":
      return m.success
        ? `,"ok":true,"match":${m.matchIndex}`
        : `,"ok":false,"reject":${m.rejectIndex}`;
    case "vote":
    case "prevote":
      return `,"lastIndex":${m.lastLogIndex},"lastTerm":${m.lastLogTerm}${m.transfer ? `,"transfer":true` : ""}`;
    case "vote-resp":
    case "prevote-resp":
      return `,"granted":${m.granted}`;
    case "heartbeat":
      return `,"commit":${m.commit}${m.ctx !== 0 ? `,"ctx":${m.ctx}` : ""}`;
    case "heartbeat-resp":
      return m.ctx !== 0 ? `,"ctx":${m.ctx}` : "";
    case "snap":
      return `,"index":${m.snapshot.metadata.index}`;
    default:
      return "";
  }
}

function payloadBytes(m: Message): number {
  if (m.type === "app") {
    let n = 0;
    for (const e of m.entries) n += e.data.length;
    return n;
  }
  return m.type === "snap" ? m.snapshot.data.length : 0;
}

export class SimNetwork {
  faults: NetworkFaults;
  readonly stats: NetworkStats = {
    requests: 0,
    bytes: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    corrupted: 0,
  };
  /** Messages sent, per message type. */
  readonly sentByType = new Map<Message["type"], number>();
  private readonly receivers = new Map<NodeId, Receiver>();
  private readonly lostHandlers = new Map<NodeId, (peer: NodeId) => void>();
  /** Every node ever attached, up or down: partitions cut links of crashed nodes too. */
  private readonly known = new Set<NodeId>();
  private readonly disconnected = new Set<NodeId>();
  /** Cut directed links, keyed by linkKey(from, to). */
  private readonly cut = new Set<number>();
  /** Per directed link, the latest scheduled delivery time (FIFO mode). */
  private readonly lastDelivery = new Map<number, number>();
  /** Extra delay per directed link (slowLink), keyed by linkKey(from, to). */
  private readonly slow = new Map<number, number>();
  /** The last message id given out (trace records name messages by id). */
  private lastId = 0;
  /** Copies waiting in their sender's queue for a crashed node, keyed by linkKey(from, to). */
  private readonly held = new Map<number, HeldCopy[]>();
  /** When each node last crashed (detach). */
  private readonly crashedAt = new Map<NodeId, number>();

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: Rng,
    opts: { faults?: NetworkFaults; trace?: Trace } = {},
  ) {
    this.faults = opts.faults ?? RELIABLE;
    this.trace = opts.trace ?? null;
  }

  private readonly trace: Trace | null;

  /**
   * Deliver messages addressed to `id` to `receive` (replaces any earlier receiver), and tell
   * `peerLost` when another node goes down (see detach).
   */
  attach(id: NodeId, receive: Receiver, peerLost?: (peer: NodeId) => void): void {
    this.receivers.set(id, receive);
    this.known.add(id);
    if (peerLost) this.lostHandlers.set(id, peerLost);
    if (this.held.size > 0) this.releaseHeld(id);
  }

  /**
   * `id` is back: each link's backlog for it goes out once that link's redial succeeds, in
   * order, and (FIFO links) ahead of anything sent on the link since.
   */
  private releaseHeld(id: NodeId): void {
    const max = this.faults.holdMaxMs ?? 0;
    for (const [key, copies] of [...this.held]) {
      if (copies[0]?.m.to !== id) continue;
      this.held.delete(key);
      let at = this.sched.now + this.rng.int(0, max);
      if (!this.faults.reorder) at = Math.max(at, this.lastDelivery.get(key) ?? 0);
      for (const c of copies)
        this.sched.at(at, () => this.deliver(c.m, c.id, c.sent, c.flags | LATE));
      if (!this.faults.reorder) this.lastDelivery.set(key, at);
    }
  }

  /**
   * `id` is down: messages to it are dropped on arrival. Like a dead process's TCP connections,
   * it is reported lost to every node up and reachable from it, after a network delay.
   */
  detach(id: NodeId): void {
    if (!this.receivers.delete(id)) return;
    this.crashedAt.set(id, this.sched.now);
    // Its own queues die with it.
    for (const [key, copies] of [...this.held]) {
      if (copies[0]?.m.from !== id) continue;
      this.held.delete(key);
      for (const c of copies) this.drop(c.m, c.id, c.sent, c.flags, "down");
    }
    for (const peer of this.receivers.keys()) {
      if (!this.lostHandlers.has(peer) || !this.canReach(id, peer)) continue;
      const f = this.faults;
      this.sched.at(this.sched.now + this.rng.int(f.minDelayMs, f.maxDelayMs), () => {
        if (!this.receivers.has(peer)) return;
        this.traceEvent({ t: this.sched.now, ev: "peer-lost", node: peer, peer: id });
        this.lostHandlers.get(peer)?.(id);
      });
    }
  }

  disconnect(id: NodeId): void {
    this.disconnected.add(id);
    this.traceEvent({ t: this.sched.now, ev: "disconnect", node: id });
  }

  connect(id: NodeId): void {
    this.disconnected.delete(id);
    this.traceEvent({ t: this.sched.now, ev: "connect", node: id });
  }

  isConnected(id: NodeId): boolean {
    return !this.disconnected.has(id);
  }

  /**
   * Cut every link between two nodes that share no group. Groups may overlap (a bridge
   * partition: a node in two groups keeps its links to both). Nodes in no group keep their
   * links to nobody.
   */
  partition(groups: NodeId[][]): void {
    const groupsOf = new Map<NodeId, Set<number>>();
    groups.forEach((g, i) => {
      for (const id of g) {
        const mine = groupsOf.get(id) ?? new Set<number>();
        mine.add(i);
        groupsOf.set(id, mine);
      }
    });
    const together = (a: NodeId, b: NodeId): boolean => {
      const ga = groupsOf.get(a);
      const gb = groupsOf.get(b);
      if (!ga || !gb) return false;
      for (const g of ga) if (gb.has(g)) return true;
      return false;
    };
    const all = [...new Set([...groupsOf.keys(), ...this.known])];
    this.cut.clear();
    for (const a of all)
      for (const b of all) if (a !== b && !together(a, b)) this.cut.add(linkKey(a, b));
    this.traceEvent({
      t: this.sched.now,
      ev: "partition",
      groups: groups.map((g) => g.join(",")).join("|"),
    });
  }

  /** Cut the one-way link from `from` to `to`. */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(linkKey(from, to));
    this.traceEvent({ t: this.sched.now, ev: "cut", from, to });
  }

  /** Hold back every message from `from` to `to` by `ms` more (0: back to normal). */
  slowLink(from: NodeId, to: NodeId, ms: number): void {
    if (ms > 0) this.slow.set(linkKey(from, to), ms);
    else this.slow.delete(linkKey(from, to));
    this.trace?.record({ t: this.sched.now, ev: "slow", from, to, ms });
  }

  /** Restore every cut or slow link and reconnect every disconnected node. */
  heal(): void {
    this.cut.clear();
    this.slow.clear();
    this.disconnected.clear();
    this.traceEvent({ t: this.sched.now, ev: "heal" });
  }

  /**
   * A false alarm (the `alarm` fault): tell `node` that `peer` is gone although it is up and
   * reachable, as a transport whose liveness check misfired would.
   */
  falseAlarm(node: NodeId, peer: NodeId): void {
    if (!this.receivers.has(node)) return;
    this.trace?.record({ t: this.sched.now, ev: "peer-lost", node, peer, alarm: true });
    this.lostHandlers.get(node)?.(peer);
  }

  canReach(from: NodeId, to: NodeId): boolean {
    return (
      !this.disconnected.has(from) && !this.disconnected.has(to) && !this.cut.has(linkKey(from, to))
    );
  }

  /** One-way send; never throws (Transport contract). */
  send(m: Message): void {
    const id = ++this.lastId;
    this.sentByType.set(m.type, (this.sentByType.get(m.type) ?? 0) + 1);
    if (REQUEST_TYPES.has(m.type)) {
      this.stats.requests++;
      this.stats.bytes += payloadBytes(m);
    }
    const now = this.sched.now;
    if (m.from === m.to) {
      this.drop(m, id, now, 0, "self");
      return;
    }
    if (!this.canReach(m.from, m.to)) {
      this.drop(m, id, now, 0, "cut");
      return;
    }
    this.transmit(m, id, 0);
    if (this.faults.dupRate > 0 && this.rng.chance(this.faults.dupRate)) {
      this.stats.duplicated++;
      this.traceMessage("dup", m, id, now, 0);
      // The copy is its own object: a receiver may keep or annotate what it got.
      this.transmit({ ...m }, id, DUP);
    }
  }

  /**
   * A Transport endpoint for `id` (see the header). It talks to every node until setPeers()
   * names its peers; from then on, as TcpTransport, it drops messages to or from any other.
   */
  endpoint(id: NodeId): Transport & PeerUpdates {
    let closed = false;
    let peers: ReadonlySet<NodeId> | null = null;
    const isPeer = (other: NodeId) => peers === null || peers.has(other);
    return {
      id,
      send: (m: Message) => {
        if (closed) return;
        if (isPeer(m.to)) this.send(m);
        else this.drop(m, ++this.lastId, this.sched.now, 0, "not-a-peer");
      },
      onMessage: (handler: Receiver) => {
        // The network delivered it; the endpoint refuses it, as TcpTransport refuses a
        // connection from a node that is not its peer.
        const receive = (m: Message) => {
          if (isPeer(m.from)) handler(m);
        };
        if (!closed) this.attach(id, receive, this.lostHandlers.get(id));
      },
      setPeers: (map: ReadonlyMap<NodeId, unknown>) => {
        peers = new Set([...map.keys()].filter((p) => p !== id));
      },
      onPeerLost: (handler: (peer: NodeId) => void) => {
        if (!closed) this.lostHandlers.set(id, handler);
      },
      close: async () => {
        closed = true;
        this.detach(id);
      },
    };
  }

  /** `flags`: DUP for the second copy of a duplicated message. */
  private transmit(m: Message, id: number, flags: number): void {
    const f = this.faults;
    const sent = this.sched.now;
    if (f.dropRate > 0 && this.rng.chance(f.dropRate)) {
      this.drop(m, id, sent, flags, "loss");
      return;
    }
    let delay = this.rng.int(f.minDelayMs, f.maxDelayMs);
    if (f.longDelayRate > 0 && this.rng.chance(f.longDelayRate)) {
      delay += this.rng.int(0, f.longDelayMaxMs);
      flags |= LATE;
    }
    if (this.slow.size > 0) delay += this.slow.get(linkKey(m.from, m.to)) ?? 0;
    const corrupt = f.corruptRate ?? 0;
    if (corrupt > 0 && this.rng.chance(corrupt)) flags |= CORRUPT;
    let at = sent + delay;
    if (!f.reorder) {
      const key = linkKey(m.from, m.to);
      at = Math.max(at, this.lastDelivery.get(key) ?? 0);
      this.lastDelivery.set(key, at);
    }
    this.sched.at(at, () => this.deliver(m, id, sent, flags));
  }

  private deliver(m: Message, id: number, sent: number, flags: number): void {
    const crashed = this.crashedAt.get(m.from);
    const loss = this.faults.crashLossRate ?? 0;
    if (
      loss > 0 &&
      crashed !== undefined &&
      sent <= crashed &&
      sent >= crashed - SEND_BUFFER_MS &&
      this.rng.chance(loss)
    ) {
      this.drop(m, id, sent, flags, "sender-crash");
      return;
    }
    if (!this.canReach(m.from, m.to)) {
      this.drop(m, id, sent, flags, "cut");
      return;
    }
    const receive = this.receivers.get(m.to);
    if (!receive) {
      if (this.hold(m, id, sent, flags)) return;
      this.drop(m, id, sent, flags, "down");
      return;
    }
    if (flags & CORRUPT) {
      const opened = this.corrupt(m);
      if (!opened) {
        this.drop(m, id, sent, flags, "corrupt");
        return;
      }
      m = opened;
    }
    this.stats.delivered++;
    this.traceMessage("deliver", m, id, sent, flags);
    receive(m);
  }

  /** Seal `m` as TcpTransport does, flip one bit, open it: what the receiver gets, or null. */
  private corrupt(m: Message): Message | null {
    this.stats.corrupted++;
    const frame = encodeMessageFrame(m);
    const bit = this.rng.int(0, frame.length * 8 - 1);
    frame[bit >>> 3] = (frame[bit >>> 3] as number) ^ (1 << (bit & 7));
    const opened = decodeMessageFrame(frame);
    return opened.ok ? opened.value : null;
  }

  /** Keep a copy that reached a crashed node in its sender's queue (see the header). */
  private hold(m: Message, id: number, sent: number, flags: number): boolean {
    const rate = this.faults.holdRate ?? 0;
    if (rate <= 0 || !this.receivers.has(m.from) || !this.rng.chance(rate)) return false;
    const key = linkKey(m.from, m.to);
    const copies = this.held.get(key) ?? [];
    if (copies.length >= HOLD_LIMIT) return false;
    copies.push({ m, id, sent, flags });
    this.held.set(key, copies);
    return true;
  }

  private drop(m: Message, id: number, sent: number, flags: number, reason: DropReason): void {
    this.stats.dropped++;
    this.traceMessage("drop", m, id, sent, flags, reason);
  }

  private traceMessage(
    ev: MessageRecord["ev"],
    m: Message,
    id: number,
    sent: number,
    flags: number,
    reason?: DropReason,
  ): void {
    if (!this.trace) return;
    // Key order of trace-schema.ts's message records: t, ev, id, sent, type, from, to, term,
    // payload, late, dup, reason. `reason` and `ev` are schema literals, `type` a MessageType:
    // none needs escaping.
    this.trace.line(
      `{"t":${this.sched.now},"ev":"${ev}","id":${id},"sent":${sent},"type":"${m.type}",` +
        `"from":${m.from},"to":${m.to},"term":${m.term}${describe(m)}` +
        `${flags & LATE ? `,"late":true` : ""}${flags & DUP ? `,"dup":true` : ""}` +
        `${reason ? `,"reason":"${reason}"` : ""}}`,
    );
  }

  private traceEvent(rec: Record<string, string | number>): void {
    this.trace?.record(rec);
  }
}

function linkKey(from: NodeId, to: NodeId): number {
  return from * 1_048_576 + to;
}

export interface SimTransports {
  network: SimNetwork;
  scheduler: Scheduler;
  transports: Map<NodeId, Transport & PeerUpdates>;
  /** Run virtual time until nothing is in flight. Returns false if it gave up (a send loop). */
  runUntilIdle(maxEvents?: number): boolean;
}

/** Transport endpoints over one fresh SimNetwork (for the shared Transport conformance suite). */
export function createSimTransports(
  ids: NodeId[],
  opts: { faults?: NetworkFaults; seed?: number } = {},
): SimTransports {
  const scheduler = new Scheduler();
  const network = new SimNetwork(scheduler, new Rng(opts.seed ?? 1).fork("network"), opts);
  const transports = new Map(ids.map((id) => [id, network.endpoint(id)] as const));
  return {
    network,
    scheduler,
    transports,
    runUntilIdle: (maxEvents?: number) => scheduler.runUntilIdle(maxEvents),
  };
}
