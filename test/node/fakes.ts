// Test doubles for the node runtime's collaborators: a scripted Raft core (the test decides what
// each Ready holds), a storage whose sync() the test releases by hand, a recording transport
// and a state machine that logs what it applies.

import type { StateMachine } from "../../src/node/api.js";
import type { NodeMetrics } from "../../src/node/metrics.js";
import type { PersistedState, RawNodeApi, Ready, Status } from "../../src/raft/api.js";
import {
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Role,
  type Snapshot,
  simpleConf,
} from "../../src/raft/types.js";
import type { Storage, WriteBatch } from "../../src/storage/storage.js";
import type { Transport } from "../../src/transport/transport.js";

export class ScriptedCore implements RawNodeApi {
  role: Role = "follower";
  leader: NodeId = 0;
  term = 1;
  commit = 0;
  applied = 0;
  log: Entry[] = [];
  ticks = 0;
  stepped: Message[] = [];
  readRequests: number[] = [];
  canRead = true;
  compactions: number[] = [];
  /** Ready under construction (what the next ready() returns). */
  private next: Omit<Ready, "mustSync"> = empty();
  private outstanding: Ready | null = null;
  readiesHandedOut = 0;
  /** Called when the test changed the core behind the node's back (the node must look again). */
  changed: () => void = () => {};

  constructor(readonly id: NodeId) {}

  becomeLeader(term: number): void {
    this.term = term;
    this.role = "leader";
    this.leader = this.id;
    this.next.softState = { role: "leader", leader: this.id };
    this.next.hardState = { term, vote: this.id, commit: this.commit };
    this.changed();
  }

  becomeFollower(term: number, leader: NodeId): void {
    this.term = term;
    this.role = "follower";
    this.leader = leader;
    this.next.softState = { role: "follower", leader };
    this.next.hardState = { term, vote: 0, commit: this.commit };
    this.changed();
  }

  /** Commits log entries up to index (they are handed out as committed in the next Ready). */
  commitTo(index: number): void {
    for (const e of this.log)
      if (e.index > this.commit && e.index <= index) this.next.committed.push(e);
    this.commit = index;
    this.next.hardState = { term: this.term, vote: 0, commit: index };
    this.changed();
  }

  /** Replaces the log from e.index on (a new leader overwrote the suffix). */
  overwrite(e: Entry): void {
    this.log = this.log.filter((x) => x.index < e.index);
    this.log.push(e);
  }

  send(m: Message): void {
    this.next.messages.push(m);
    this.changed();
  }

  confirmRead(ctx: number, index: number): void {
    this.next.readStates.push({ ctx, index });
    this.changed();
  }

  tick(): null {
    this.ticks++;
    return null;
  }
  /** Thrown by the next step() (as the real core throws LogInconsistencyError). */
  throwOnStep: Error | null = null;
  step(m: Message): void {
    const e = this.throwOnStep;
    this.throwOnStep = null;
    if (e !== null) throw e;
    this.stepped.push(m);
  }
  propose(data: Uint8Array) {
    if (this.role !== "leader")
      return { ok: false as const, reason: "not-leader" as const, leader: this.leader };
    const e: Entry = { index: this.log.length + 1, term: this.term, type: "normal", data };
    this.log.push(e);
    this.next.entries.push(e);
    return { ok: true as const, index: e.index, term: e.term };
  }
  readIndex(ctx: number): boolean {
    if (this.role !== "leader" || !this.canRead) return false;
    this.readRequests.push(ctx);
    return true;
  }
  proposeConfChange() {
    return { ok: false as const, reason: "not-leader" as const, leader: this.leader };
  }
  transferLeader(): boolean {
    return false;
  }
  campaign(): void {}
  unreachable: NodeId[] = [];
  forgetLeader(id: NodeId): void {
    this.unreachable.push(id);
  }
  compact(index: number, data: Uint8Array): Snapshot | null {
    this.compactions.push(index);
    const term = this.log.find((e) => e.index === index)?.term ?? 0;
    return { metadata: { index, term, conf: simpleConf([1, 2, 3]) }, data };
  }
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const n = this.next;
    return (
      n.entries.length + n.committed.length + n.messages.length + n.readStates.length > 0 ||
      n.hardState !== undefined ||
      n.softState !== undefined ||
      n.snapshot !== undefined
    );
  }
  ready(): Ready {
    if (this.outstanding !== null) throw new Error("ready() called twice without advance()");
    const rd: Ready = {
      ...this.next,
      mustSync: this.next.entries.length > 0 || this.next.hardState !== undefined,
    };
    this.next = empty();
    this.outstanding = rd;
    this.readiesHandedOut++;
    return rd;
  }
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new Error("advance() of a Ready that is not outstanding");
    this.outstanding = null;
    const last = rd.committed.at(-1);
    if (last) this.applied = last.index;
  }
  status(): Status {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      vote: 0,
      commit: this.commit,
      applied: this.applied,
      lastIndex: this.log.length,
      firstIndex: 1,
      snapshotIndex: 0,
      voters: [1, 2, 3],
      conf: simpleConf([1, 2, 3]),
    };
  }
}

function empty(): Omit<Ready, "mustSync"> {
  return { entries: [], committed: [], messages: [], readStates: [] };
}

/** Storage whose syncs complete only when the test calls releaseSync(). */
export class GatedStorage implements Storage {
  writes: WriteBatch[] = [];
  syncs = 0;
  private gates: (() => void)[] = [];
  events: string[] = [];
  failNextSync: Error | null = null;
  /** When false, every sync completes at once. */
  gated = true;

  constructor(private readonly initial: PersistedState = emptyState()) {}

  load(): PersistedState {
    return this.initial;
  }
  write(batch: WriteBatch): void {
    this.writes.push(batch);
    this.events.push("write");
  }
  sync(): Promise<void> {
    this.syncs++;
    this.events.push("sync-start");
    const fail = this.failNextSync;
    this.failNextSync = null;
    return new Promise((resolve, reject) => {
      if (!this.gated) {
        this.events.push("sync-done");
        if (fail) reject(fail);
        else resolve();
        return;
      }
      this.gates.push(() => {
        this.events.push("sync-done");
        if (fail) reject(fail);
        else resolve();
      });
    });
  }
  get syncsInFlight(): number {
    return this.gates.length;
  }
  releaseSync(): void {
    const g = this.gates.shift();
    if (!g) throw new Error("no sync in flight");
    g();
  }
  close(): void {}
}

export function emptyState(): PersistedState {
  const hardState: HardState = { term: 0, vote: 0, commit: 0 };
  return { hardState, snapshot: null, entries: [] };
}

export class RecordingTransport implements Transport {
  sent: Message[] = [];
  handler: ((m: Message) => void) | null = null;
  constructor(
    readonly id: NodeId,
    private readonly events?: string[],
  ) {}
  send(m: Message): void {
    this.sent.push(m);
    this.events?.push(`send:${m.type}`);
  }
  onMessage(handler: (m: Message) => void): void {
    this.handler = handler;
  }
  deliver(m: Message): void {
    this.handler?.(m);
  }
  lostHandler: ((id: NodeId) => void) | null = null;
  onPeerLost(handler: (id: NodeId) => void): void {
    this.lostHandler = handler;
  }
  async close(): Promise<void> {}
}

/** Appends each command (UTF-8) to a list; its result is the list's length. */
export class ListMachine implements StateMachine {
  items: string[] = [];
  apply(entry: Entry): unknown {
    this.items.push(new TextDecoder().decode(entry.data));
    return this.items.length;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.items));
  }
  restore(data: Uint8Array): void {
    this.items = JSON.parse(new TextDecoder().decode(data)) as string[];
  }
}

/** Polls `cond` every few ms until it holds or the deadline passes. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Records what the node reports through its metrics port. */
export class RecordingMetrics implements NodeMetrics {
  leaders: number[] = [];
  proposals = 0;
  applied = 0;
  setCommitIndex(): void {}
  setAppliedIndex(index: number): void {
    this.applied = index;
  }
  setTerm(): void {}
  setLeader(leader: number): void {
    this.leaders.push(leader);
  }
  proposal(): void {
    this.proposals++;
  }
  observeFsync(): void {}
  observeBatch(): void {}
}
