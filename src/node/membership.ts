// Members' addresses and the cluster id, kept by the node layer beside the core's configuration
// (docs/architecture.md, "Membership: how addresses travel and are stored").
//
// The core's ConfState names members by id only. Every conf entry the node proposes carries, in
// its `context`, the whole address book of the configuration it leads to: each member's Raft
// address and the cluster id. So the book in effect is the one of the last applied conf entry,
// and a restart rebuilds it by replaying the log like the configuration itself. Compaction drops
// those entries, so the snapshot carries the book too: the node wraps the application's snapshot
// bytes in an envelope (a header naming the book, then the application's bytes untouched).
//
//   context   JSON {"v":1,"cluster":"<decimal id>"|null,"members":[[id,"HOST:PORT"],...]}
//   envelope  "\0RWM" | u8 version (1) | u32 BE context length | context | application bytes
//
// A snapshot without the magic predates the envelope (the KV state machine's own snapshots start
// with "RWMV", never a zero byte); the book then stays what the data directory and the log say.
//
// A new cluster's log starts with a bootstrap conf entry at index 1 (term 1, committed), written
// identically by every founding member before it starts, as etcd does: the log then holds the
// whole history of the configuration and its addresses, and a member added later learns both
// from the leader's log or snapshot alone. Its members cannot agree on a random cluster id
// without talking, so the first leader draws one and commits it in a no-op conf change
// (member-ops.ts); until it is applied, handshakes carry no id. It is never drawn twice: a new
// leader proposes no change before it applied its whole log, an earlier draw included.

import { members as confMembers } from "../raft/confchange.js";
import { decodeConfChangeEntry, encodeConfChangeEntry } from "../raft/confchange-codec.js";
import type { Entry, NodeId } from "../raft/types.js";
import { type ConfState, simpleConf } from "../raft/types.js";
import { isClusterId } from "../transport/cluster-id.js";
import { err, ok, type Result } from "../util/result.js";
import type { StateMachine } from "./api.js";

/** A member's id and Raft address (HOST:PORT as formatHostPort writes it). */
export interface MemberAddress {
  id: NodeId;
  raft: string;
}

/** What a conf entry's context and a snapshot's envelope hold. */
export interface AddressBook {
  /** The cluster id (transport/cluster-id.ts), null until the first leader drew it. */
  clusterId: string | null;
  /** Every member of the configuration (voters of both halves and learners), sorted by id. */
  members: MemberAddress[];
  /**
   * Ids the configuration removed and has not added back, so that peers can tell a removed
   * member that comes back (TcpTransport.setRemoved). Absent: none.
   */
  removed?: NodeId[];
}

const CONTEXT_VERSION = 1;
const MAGIC = [0x00, 0x52, 0x57, 0x4d]; // "\0RWM"
const ENVELOPE_VERSION = 1;
const HEADER = MAGIC.length + 1 + 4;
const ADDRESS = /^[^\s,=]+:\d{1,5}$/;

export function encodeBook(b: AddressBook): Uint8Array {
  const members = [...b.members].sort((x, y) => x.id - y.id).map((m) => [m.id, m.raft]);
  const removed = b.removed && b.removed.length > 0 ? { removed: b.removed } : {};
  return new TextEncoder().encode(
    JSON.stringify({ v: CONTEXT_VERSION, cluster: b.clusterId, members, ...removed }),
  );
}

/** The book a conf entry's context or an envelope holds, or why the bytes are not one. */
export function decodeBook(bytes: Uint8Array): Result<AddressBook> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return err("the address book is not JSON");
  }
  const o = v as { v?: unknown; cluster?: unknown; members?: unknown; removed?: unknown };
  if (typeof o !== "object" || o === null || o.v !== CONTEXT_VERSION)
    return err("the address book has an unknown version");
  if (o.cluster !== null && !isClusterId(o.cluster))
    return err("the address book's cluster id is bad");
  if (!Array.isArray(o.members)) return err("the address book has no member list");
  const members: MemberAddress[] = [];
  for (const m of o.members as unknown[]) {
    if (!Array.isArray(m) || m.length !== 2)
      return err("an address book entry is not [id, address]");
    const [id, raft] = m as [unknown, unknown];
    if (!Number.isSafeInteger(id) || (id as number) < 1) return err(`bad member id ${String(id)}`);
    if (typeof raft !== "string" || !ADDRESS.test(raft)) return err(`bad address for member ${id}`);
    if (members.some((x) => x.id === id)) return err(`member ${id} is listed twice`);
    members.push({ id: id as NodeId, raft });
  }
  if (o.removed === undefined) return ok({ clusterId: o.cluster as string | null, members });
  if (
    !Array.isArray(o.removed) ||
    !o.removed.every((id) => Number.isSafeInteger(id) && (id as number) >= 1)
  )
    return err("the address book's removed ids are bad");
  return ok({ clusterId: o.cluster as string | null, members, removed: o.removed as NodeId[] });
}

/**
 * The first entry of a new cluster's log: the founding voters, their addresses, no cluster id
 * yet. Every founding member writes the same bytes at index 1, term 1, committed.
 */
export function bootstrapEntry(founders: readonly MemberAddress[]): Entry {
  const ids = founders.map((m) => m.id);
  const data = encodeConfChangeEntry({
    changes: [...ids].sort((a, b) => a - b).map((node) => ({ type: "add-voter" as const, node })),
    transition: "auto",
    context: encodeBook({ clusterId: null, members: [...founders] }),
    conf: simpleConf(ids),
  });
  return { index: 1, term: 1, type: "conf", data };
}

/** Wraps a snapshot of the application with the book in effect at its index. */
export function wrapSnapshot(book: AddressBook, app: Uint8Array): Uint8Array {
  const context = encodeBook(book);
  const out = new Uint8Array(HEADER + context.length + app.length);
  out.set(MAGIC, 0);
  out[MAGIC.length] = ENVELOPE_VERSION;
  new DataView(out.buffer).setUint32(MAGIC.length + 1, context.length);
  out.set(context, HEADER);
  out.set(app, HEADER + context.length);
  return out;
}

/**
 * A snapshot's book (null for one that predates the envelope) and the application's bytes (a
 * view, not a copy), or why the envelope is damaged.
 */
export function unwrapSnapshot(
  data: Uint8Array,
): Result<{ book: AddressBook | null; app: Uint8Array }> {
  if (data.length < MAGIC.length || MAGIC.some((b, i) => data[i] !== b))
    return ok({ book: null, app: data });
  if (data.length < HEADER) return err("the snapshot's envelope is truncated");
  if (data[MAGIC.length] !== ENVELOPE_VERSION)
    return err(`the snapshot's envelope has unknown version ${data[MAGIC.length]}`);
  const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(MAGIC.length + 1);
  if (HEADER + n > data.length) return err("the snapshot's envelope is truncated");
  const book = decodeBook(data.subarray(HEADER, HEADER + n));
  if (!book.ok) return err(`the snapshot's envelope: ${book.error}`);
  return ok({ book: book.value, app: data.subarray(HEADER + n) });
}

/** What the node reports on each change of the book. */
export interface MembershipView {
  book: AddressBook;
  /** The configuration of the applied conf entry; null after a snapshot (the core has it). */
  conf: ConfState | null;
}

/**
 * The book in effect at this node: applied conf entries and installed snapshots update it, in
 * log order, on the node's loop. Its listeners (the transport's peer set, the removal check)
 * run synchronously on each change.
 */
export class Membership {
  private book: AddressBook;
  private readonly listeners: ((v: MembershipView) => void)[] = [];
  /** Index of the last conf entry applied, and of the last the core has in effect. */
  private appliedThrough = 0;
  private advancedThrough = 0;
  private advanceWaiters: { index: number; resolve: () => void }[] = [];
  private readonly advanceListeners = new Set<() => void>();
  private readonly lastHeard = new Map<NodeId, number>();

  /** `base`: the book before the log's first entry (the data directory's). */
  constructor(base: AddressBook) {
    this.book = { clusterId: base.clusterId, members: [...base.members] };
  }

  current(): AddressBook {
    const b: AddressBook = { clusterId: this.book.clusterId, members: [...this.book.members] };
    if (this.book.removed) b.removed = [...this.book.removed];
    return b;
  }

  address(id: NodeId): string | null {
    return this.book.members.find((m) => m.id === id)?.raft ?? null;
  }

  onChange(listener: (v: MembershipView) => void): void {
    this.listeners.push(listener);
  }

  /**
   * A conf entry was applied: its context is the new book. An entry without a book (proposed
   * by the core itself: the empty change that leaves a joint configuration) keeps the book's
   * addresses and drops the members it no longer has. Returns the entry's configuration.
   */
  applyConfEntry(e: Entry): ConfState {
    const cc = decodeConfChangeEntry(e.data);
    // The core decoded this entry before handing it out; a failure here is a broken invariant.
    if (!cc.ok) throw new Error(`membership: conf entry ${e.index} does not decode: ${cc.error}`);
    const { conf, context } = cc.value;
    const before = this.book.members.map((m) => m.id);
    const removed = new Set(this.book.removed ?? []);
    if (context.length > 0) {
      const b = decodeBook(context);
      if (!b.ok) throw new Error(`membership: conf entry ${e.index}: ${b.error}`);
      this.book = b.value;
      for (const id of b.value.removed ?? []) removed.add(id);
    }
    const after = new Set(confMembers(conf));
    for (const id of before) if (!after.has(id)) removed.add(id);
    for (const id of after) removed.delete(id);
    if (removed.size > 0) this.book.removed = [...removed].sort((a, b) => a - b);
    else delete this.book.removed;
    this.appliedThrough = e.index;
    this.set(conf);
    return conf;
  }

  /** Wraps the application so that snapshots carry the book (see the header). */
  wrap(sm: StateMachine): StateMachine {
    const wrapped: StateMachine = {
      apply: (e) => sm.apply(e),
      snapshot: () => wrapSnapshot(this.book, sm.snapshot()),
      restore: (data) => {
        const u = unwrapSnapshot(data);
        // Snapshots are checksummed on disk and on the wire: a bad envelope is a broken invariant.
        if (!u.ok) throw new Error(`membership: ${u.error}`);
        sm.restore(u.value.app);
        if (u.value.book !== null) {
          this.book = u.value.book;
          this.set(null);
        }
      },
    };
    if (sm.snapshotAsync) {
      const encode = sm.snapshotAsync.bind(sm);
      wrapped.snapshotAsync = () => {
        // The book of the moment of the call, like the application's bytes.
        const book = this.current();
        return encode().then((app) => (app === null ? null : wrapSnapshot(book, app)));
      };
    }
    return wrapped;
  }

  /** Called by the node right after each advance() of the core. */
  advanced(): void {
    this.advancedThrough = this.appliedThrough;
    for (const l of [...this.advanceListeners]) l();
    const due = this.advanceWaiters.filter((w) => w.index <= this.advancedThrough);
    if (due.length === 0) return;
    this.advanceWaiters = this.advanceWaiters.filter((w) => w.index > this.advancedThrough);
    for (const w of due) w.resolve();
  }

  /** Calls `listener` after each advance() of the core; returns its removal. */
  onAdvanced(listener: () => void): () => void {
    this.advanceListeners.add(listener);
    return () => this.advanceListeners.delete(listener);
  }

  /**
   * Resolves once the conf entry at `index` (applied here already) is in effect in the core too:
   * the core puts a change in effect in advance(), after the node applied it, and accepts the
   * next change only then.
   */
  afterAdvance(index: number): Promise<void> {
    if (index <= this.advancedThrough) return Promise.resolve();
    return new Promise((resolve) => this.advanceWaiters.push({ index, resolve }));
  }

  /** The node received a message from `id` (for the strict reconfiguration check). */
  heard(id: NodeId): void {
    this.lastHeard.set(id, performance.now());
  }

  /** Milliseconds since a message from `id` last arrived; Infinity if never. */
  silenceMs(id: NodeId): number {
    const t = this.lastHeard.get(id);
    return t === undefined ? Number.POSITIVE_INFINITY : performance.now() - t;
  }

  private set(conf: ConfState | null): void {
    if (conf !== null) {
      // Members the configuration no longer has lose their address: a stale one is never dialed.
      const ids = new Set(confMembers(conf));
      const members = this.book.members.filter((m) => ids.has(m.id));
      this.book = { ...this.book, members };
    }
    const view = { book: this.current(), conf };
    for (const l of this.listeners) l(view);
  }
}
