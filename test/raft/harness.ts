// A tiny deterministic test environment for RawNode: N nodes, instant persistence, and a
// message queue the test delivers, drops or partitions by hand. Each node's state machine is the
// list of applied payloads (as strings), so tests can compare what every node applied. Nodes can
// join later (addNode: no configuration until the leader's log gives one). Every applied entry
// is checked against what any node applied at that index before (State Machine Safety, §5.4.3),
// and every new leader's log against every applied entry (Leader Completeness, §5.4).

import type { PersistedState, Ready } from "../../src/raft/api.js";
import { RawNode } from "../../src/raft/raw-node.js";
import type { ConfState, Entry, Message, NodeId, Snapshot } from "../../src/raft/types.js";

/** mulberry32: a small seeded PRNG, enough for election jitter and randomized tests. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();
export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (b: Uint8Array): string => dec.decode(b);

export interface ClusterOptions {
  n?: number;
  seed?: number;
  electionTick?: number;
  heartbeatTick?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  maxEntriesPerMsg?: number;
  maxBytesPerMsg?: number;
  maxInflight?: number;
}

/** What a node has on "disk": updated synchronously from each Ready. */
class Disk {
  state: PersistedState = {
    hardState: { term: 0, vote: 0, commit: 0 },
    snapshot: null,
    entries: [],
  };

  write(rd: Ready): void {
    const s = this.state;
    if (rd.snapshot !== undefined) this.installSnapshot(rd.snapshot);
    const first = rd.entries[0];
    if (first !== undefined) {
      const offset = s.snapshot?.metadata.index ?? 0;
      s.entries = s.entries.slice(0, first.index - offset - 1).concat(rd.entries);
    }
    if (rd.hardState !== undefined) s.hardState = { ...rd.hardState };
  }

  installSnapshot(snap: Snapshot): void {
    const s = this.state;
    s.entries = s.entries.filter((e) => e.index > snap.metadata.index);
    s.snapshot = snap;
  }
}

export class Cluster {
  readonly ids: NodeId[];
  readonly nodes = new Map<NodeId, RawNode>();
  readonly disks = new Map<NodeId, Disk>();
  /** Applied payloads per node (the no-op entries are skipped, as a state machine would). */
  readonly applied = new Map<NodeId, string[]>();
  readonly appliedIndex = new Map<NodeId, number>();
  readonly readStates = new Map<NodeId, { index: number; ctx: number }[]>();
  /** Every Ready.confState each node reported, in order. */
  readonly confStates = new Map<NodeId, ConfState[]>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message ever sent, for counting. */
  readonly sent: Message[] = [];
  /** Pairs "a-b" that cannot talk (either direction). */
  private readonly cut = new Set<string>();
  /** Leave Readys unacknowledged until advanceAll() (pipelining). */
  deferAdvance = false;
  private readonly unadvanced = new Map<NodeId, Ready[]>();
  /** Extra drop rule, e.g. to lose one message type. */
  drop: ((m: Message) => boolean) | null = null;
  readonly random: () => number;
  /** The first configuration's voters (a restarted node without a snapshot starts from it). */
  private readonly initialPeers: NodeId[];
  /** Nodes added by addNode: they start with no configuration, also on restart. */
  private readonly joined = new Set<NodeId>();
  /** index -> "term:payload" of every entry any node applied (State Machine Safety). */
  private readonly appliedAt = new Map<number, string>();
  /** term -> the node that led it (Election Safety, §5.2). */
  private readonly leaderOf = new Map<number, NodeId>();

  constructor(readonly opts: ClusterOptions = {}) {
    const n = opts.n ?? 3;
    this.ids = Array.from({ length: n }, (_, i) => i + 1);
    this.initialPeers = this.ids.slice();
    this.random = mulberry32(opts.seed ?? 1);
    for (const id of this.ids) this.register(id);
  }

  private register(id: NodeId): void {
    this.disks.set(id, new Disk());
    this.applied.set(id, []);
    this.appliedIndex.set(id, 0);
    this.readStates.set(id, []);
    this.nodes.set(id, this.newNode(id));
  }

  /** Starts a new, empty node that joins the running cluster once a change adds it. */
  addNode(id: NodeId): RawNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists`);
    this.ids.push(id);
    this.joined.add(id);
    this.register(id);
    return this.node(id);
  }

  private newNode(id: NodeId, restore?: PersistedState, applied?: number): RawNode {
    const o = this.opts;
    return new RawNode({
      id,
      peers: this.joined.has(id) ? [] : this.initialPeers,
      electionTick: o.electionTick ?? 10,
      heartbeatTick: o.heartbeatTick ?? 1,
      random: this.random,
      preVote: o.preVote ?? true,
      checkQuorum: o.checkQuorum ?? true,
      maxEntriesPerMsg: o.maxEntriesPerMsg,
      maxBytesPerMsg: o.maxBytesPerMsg,
      maxInflight: o.maxInflight,
      restore,
      applied,
    });
  }

  node(id: NodeId): RawNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Drains a node's Readys: persist, send, apply, advance (api.ts loop, instant disk). */
  process(id: NodeId): void {
    const node = this.node(id);
    for (let guard = 0; node.hasReady(); guard++) {
      if (guard > 1000) throw new Error(`node ${id}: Ready loop does not settle`);
      const rd = node.ready();
      (this.disks.get(id) as Disk).write(rd);
      for (const m of rd.messages) this.send(m);
      if (rd.snapshot !== undefined) {
        this.applied.set(id, JSON.parse(text(rd.snapshot.data)) as string[]);
        this.appliedIndex.set(id, rd.snapshot.metadata.index);
      }
      for (const e of rd.committed) this.apply(id, e);
      (this.readStates.get(id) as { index: number; ctx: number }[]).push(...rd.readStates);
      if (rd.softState?.role === "leader") this.checkNewLeader(id);
      if (rd.confState !== undefined)
        this.confStates.set(id, [...(this.confStates.get(id) ?? []), rd.confState]);
      // Readys are advanced exactly once, in the order taken (api.ts), also when deferAdvance
      // was just turned off with some still outstanding.
      const outstanding = [...(this.unadvanced.get(id) ?? []), rd];
      if (this.deferAdvance) this.unadvanced.set(id, outstanding);
      else {
        this.unadvanced.set(id, []);
        for (const r of outstanding) node.advance(r);
      }
    }
  }

  /**
   * With `deferAdvance`, Readys are persisted at once but acknowledged only here (as a shell
   * that pipelines fsyncs would), so steps interleave with outstanding Readys.
   */
  advanceAll(id: NodeId): void {
    const pending = this.unadvanced.get(id) ?? [];
    this.unadvanced.set(id, []);
    for (const rd of pending) this.node(id).advance(rd);
    this.process(id);
  }

  private apply(id: NodeId, e: Entry): void {
    const last = this.appliedIndex.get(id) as number;
    if (e.index !== last + 1) throw new Error(`node ${id}: applied ${e.index} after ${last}`);
    this.appliedIndex.set(id, e.index);
    const key = `${e.term}:${e.type}:${text(e.data)}`;
    const seen = this.appliedAt.get(e.index);
    if (seen === undefined) this.appliedAt.set(e.index, key);
    else if (seen !== key)
      throw new Error(
        `state machine safety: node ${id} applied ${key} at ${e.index}, another ${seen}`,
      );
    // Conf entries are the core's business, the no-op is nobody's: neither reaches the list.
    if (e.type === "normal" && e.data.length > 0)
      (this.applied.get(id) as string[]).push(text(e.data));
  }

  /** A new leader's log holds every entry any node applied (Leader Completeness, §5.4). */
  private checkNewLeader(id: NodeId): void {
    const { term } = this.node(id).status();
    const other = this.leaderOf.get(term);
    if (other !== undefined && other !== id)
      throw new Error(`election safety: nodes ${other} and ${id} both lead term ${term}`);
    this.leaderOf.set(term, id);
    const disk = (this.disks.get(id) as Disk).state;
    const offset = disk.snapshot?.metadata.index ?? 0;
    for (const [index, key] of this.appliedAt) {
      if (index <= offset) continue;
      const e = disk.entries[index - offset - 1];
      const have = e === undefined ? "nothing" : `${e.term}:${e.type}:${text(e.data)}`;
      if (have !== key)
        throw new Error(
          `leader completeness: leader ${id} of term ${term} has ${have} at ${index}, applied ${key}`,
        );
    }
  }

  private send(m: Message): void {
    this.sent.push(m);
    this.queue.push(m);
  }

  canTalk(a: NodeId, b: NodeId): boolean {
    return !this.cut.has(`${a}-${b}`) && !this.cut.has(`${b}-${a}`);
  }

  /** Cuts `id` off from everyone else. */
  isolate(id: NodeId): void {
    for (const o of this.ids) if (o !== id) this.cut.add(`${id}-${o}`);
  }

  /** Cuts the link between a and b only. */
  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}-${b}`);
  }

  /** Splits the cluster into the given groups. */
  partition(...groups: NodeId[][]): void {
    for (const g of groups)
      for (const a of g) for (const b of this.ids) if (!g.includes(b)) this.cut.add(`${a}-${b}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Delivers (or drops) the message at queue position i. */
  deliverAt(i: number): void {
    const [m] = this.queue.splice(i, 1);
    if (m === undefined) throw new Error(`no message at ${i}`);
    if (!this.canTalk(m.from, m.to) || this.drop?.(m)) return;
    this.node(m.to).step(m);
    this.process(m.to);
  }

  /** Delivers queued messages in order until none are left (or maxSteps). */
  stabilize(maxSteps = 100_000): void {
    for (const id of this.ids) this.advanceAll(id);
    for (let i = 0; this.queue.length > 0; i++) {
      if (i >= maxSteps) throw new Error("stabilize: message storm");
      this.deliverAt(0);
    }
  }

  /** Removes and returns queued messages matching a predicate (to deliver later, or never). */
  take(pred: (m: Message) => boolean): Message[] {
    const out = this.queue.filter(pred);
    this.queue = this.queue.filter((m) => !pred(m));
    return out;
  }

  /** Delivers specific messages, e.g. ones taken earlier (a late, reordered delivery). */
  deliver(msgs: Message[]): void {
    for (const m of msgs) {
      this.queue.push(m);
      this.deliverAt(this.queue.length - 1);
    }
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).tick();
      this.process(id);
    }
  }

  /** Ticks every node n times, stabilizing the network after each round. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.ids) this.tick(id);
      this.stabilize();
    }
  }

  /** Makes `id` campaign and delivers everything; returns the node. */
  elect(id: NodeId): RawNode {
    this.node(id).campaign();
    this.stabilize();
    const st = this.node(id).status();
    if (st.role !== "leader") throw new Error(`node ${id} did not win (role ${st.role})`);
    return this.node(id);
  }

  propose(id: NodeId, data: string): number {
    const r = this.node(id).propose(bytes(data));
    if (!r.ok) throw new Error(`propose on ${id}: ${r.reason}`);
    this.process(id);
    return r.index;
  }

  leaders(): NodeId[] {
    return this.ids.filter((id) => this.node(id).status().role === "leader");
  }

  /** Takes a snapshot of node id's state machine at its applied index (as an application would). */
  compact(id: NodeId): void {
    const idx = this.appliedIndex.get(id) as number;
    const data = bytes(JSON.stringify(this.applied.get(id)));
    const snap = this.node(id).compact(idx, data);
    if (snap !== null) (this.disks.get(id) as Disk).installSnapshot(snap);
  }

  /** Replaces a node's disk with the given state and restarts it from there. */
  setState(id: NodeId, state: PersistedState): RawNode {
    (this.disks.get(id) as Disk).state = structuredClone(state);
    return this.restart(id);
  }

  /** Crash + restart from what is on disk (volatile state lost; applied restarts at the snapshot). */
  restart(id: NodeId): RawNode {
    const disk = this.disks.get(id) as Disk;
    const persisted = structuredClone(disk.state);
    const snap = persisted.snapshot;
    this.applied.set(id, snap === null ? [] : (JSON.parse(text(snap.data)) as string[]));
    this.appliedIndex.set(id, snap?.metadata.index ?? 0);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    this.unadvanced.set(id, []);
    const node = this.newNode(id, persisted);
    this.nodes.set(id, node);
    this.process(id);
    return node;
  }
}

/** Entries with consecutive indexes from `first`, one per given term, payload "i@t". */
export function ents(first: number, terms: number[]): Entry[] {
  return terms.map((term, k) => ({
    index: first + k,
    term,
    type: "normal" as const,
    data: bytes(`${first + k}@${term}`),
  }));
}

/** A persisted state with the given log terms (from index 1) and hard state. */
export function stateWith(terms: number[], term: number, commit = 0, vote = 0): PersistedState {
  return { hardState: { term, vote, commit }, snapshot: null, entries: ents(1, terms) };
}

/** Repeats a term n times, for building logs: run(2, 3) = [2, 2, 2]. */
export function run(term: number, n: number): number[] {
  return Array.from({ length: n }, () => term);
}
