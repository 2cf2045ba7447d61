// The watch hub: one per node, fed by the MVCC store's applied changes (README, "etcd compatibility", Watch), serving etcd 3.4's watch semantics to any number of streams. Pure:
// no I/O and no timers; responses go into per-stream queues that the server drains (take())
// when its transport can send, and the server calls sync() and progressTick() when it likes.
//
// A watcher is synced (it has seen every revision up to the store's) or unsynced (it starts
// at a past revision, or the store was restored under it). Synced watchers are indexed by key
// (one Map for single keys, an interval index for ranges and prefixes), so a write costs a
// lookup per changed key, not a pass over the watchers; they get each revision's events as one
// response, in key order, as the write is applied. Unsynced watchers replay the store's
// history in bounded slices (sync(budget)), paced by their consumer, and join the synced ones
// when caught up; one whose start was compacted away is answered with compact_revision and
// canceled, as etcd does.
//
// Backpressure: live events cannot wait, so they are queued; a watcher whose queued, untaken
// responses pass maxPendingBytes is canceled with a reason (its client can watch again from
// its last revision). Replay only produces while the queue is below half that bound.

import { AFTER_ALL_KEYS, type ByteString, keyRange } from "../mvcc/keys.js";
import type { MvccStore, RevisionChanges } from "../mvcc/store.js";
import type { Event } from "../mvcc/types.js";
import { IntervalIndex } from "./interval-index.js";

/** WatchCreateRequest.FilterType */
export const WatchFilter = { NOPUT: 0, NODELETE: 1 } as const;
export type WatchFilter = (typeof WatchFilter)[keyof typeof WatchFilter];

/** etcdserverpb.WatchCreateRequest, in TypeScript's spelling. */
export interface WatchRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** 0: from the next write on. */
  startRevision?: number;
  progressNotify?: boolean;
  filters?: readonly WatchFilter[];
  prevKv?: boolean;
  /** 0: the stream picks one. */
  watchId?: number;
}

/** etcdserverpb.WatchResponse; `revision` is header.revision. */
export interface WatchResponse {
  watchId: number;
  revision: number;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  events: Event[];
}

export interface WatchHubOptions {
  /** Queued bytes (keys and values) per watcher before it is canceled. Default 8 MiB. */
  maxPendingBytes?: number;
  /** Events per replay response (a revision is never split). Default 1000. */
  batchEvents?: number;
}

/** etcd's cancel reasons (mvcc/watcher.go, rpctypes) and raftwork's for a slow consumer. */
export const CancelReason = {
  emptyRange: "mvcc: watcher range is empty",
  duplicateId: "mvcc: duplicate watch ID provided on the WatchStream",
  compacted: "etcdserver: mvcc: required revision has been compacted",
  slow: "raftwork: watcher canceled: its client did not read its events fast enough",
} as const;

/** header.watch_id of a response on behalf of the whole stream (etcd's InvalidWatchID). */
export const STREAM_WATCH_ID = -1;

const PER_EVENT_BYTES = 64;

interface Watcher {
  readonly id: number;
  readonly stream: WatchStream;
  readonly start: ByteString;
  /** null: the single key `start`. */
  readonly end: ByteString | null;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly progressNotify: boolean;
  /** The revision the client asked to start at (0: none). */
  readonly startRev: number;
  /** The next revision this watcher has to see. */
  nextRev: number;
  synced: boolean;
  /** Bytes of this watcher's responses in its stream's queue. */
  pendingBytes: number;
  /** Whether it got anything since the last progress tick. */
  sentSinceTick: boolean;
}

function response(watchId: number, revision: number): WatchResponse {
  return {
    watchId,
    revision,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: "",
    events: [],
  };
}

function eventBytes(e: Event): number {
  return (
    PER_EVENT_BYTES +
    e.kv.key.length +
    e.kv.value.length +
    (e.prevKv ? e.prevKv.key.length + e.prevKv.value.length : 0)
  );
}

export class WatchHub {
  private readonly single = new Map<ByteString, Set<Watcher>>();
  private readonly ranges = new IntervalIndex<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private syncedCount = 0;
  private readonly streams = new Set<WatchStream>();
  /** The store revision the synced watchers have seen. */
  private seen: number;
  readonly maxPendingBytes: number;
  readonly batchEvents: number;

  constructor(
    readonly store: MvccStore,
    options: WatchHubOptions = {},
  ) {
    this.maxPendingBytes = options.maxPendingBytes ?? 8 * 1024 * 1024;
    this.batchEvents = options.batchEvents ?? 1000;
    this.seen = store.revision;
    store.observe({
      changed: (c) => this.changed(c),
      compacted: () => this.dropCompacted(),
      restored: () => this.restored(),
    });
  }

  /** A new stream (one per gRPC Watch call); `onReady` is called when its queue fills from empty. */
  openStream(onReady: () => void = () => {}): WatchStream {
    const s = new WatchStream(this, onReady);
    this.streams.add(s);
    return s;
  }

  get watcherCount(): number {
    return this.syncedCount + this.unsynced.size;
  }

  /** Whether some watcher is replaying history (the server should call sync()). */
  get syncPending(): boolean {
    return this.unsynced.size > 0;
  }

  /**
   * Replays history for unsynced watchers, about `budget` revisions and events in all; returns
   * whether replay work is left. A watcher whose consumer is behind waits.
   */
  sync(budget = 10_000): boolean {
    let work = 0;
    for (const w of this.unsynced) {
      if (work >= budget) break;
      if (w.pendingBytes > this.maxPendingBytes / 2) continue;
      if (w.nextRev < this.store.compactRevision) {
        this.cancelCompacted(w);
        continue;
      }
      work += this.replay(w, budget - work);
      if (w.nextRev > this.store.revision) this.markSynced(w);
    }
    return this.unsynced.size > 0;
  }

  /**
   * The periodic progress notification (etcd: every 10 minutes by default): every synced
   * watcher that asked for progress_notify and got nothing since the last tick receives an
   * empty response carrying the current revision.
   */
  progressTick(): void {
    for (const s of this.streams) s.progressTick();
  }

  // ---- for WatchStream ----

  /** @internal */
  add(stream: WatchStream, id: number, req: WatchRequest): void {
    const r = keyRange(req.key.length === 0 ? new Uint8Array([0]) : req.key, req.rangeEnd);
    const startRev = req.startRevision ?? 0;
    const current = this.store.revision;
    const filters = req.filters ?? [];
    const w: Watcher = {
      id,
      stream,
      start: r.start,
      end: r.end,
      prevKv: req.prevKv ?? false,
      noPut: filters.includes(WatchFilter.NOPUT),
      noDelete: filters.includes(WatchFilter.NODELETE),
      progressNotify: req.progressNotify ?? false,
      startRev,
      nextRev: startRev === 0 || startRev > current ? Math.max(startRev, current + 1) : startRev,
      synced: false,
      pendingBytes: 0,
      sentSinceTick: false,
    };
    stream.watchers.set(id, w);
    const created = response(id, current);
    created.created = true;
    stream.push(created);
    if (w.nextRev > current) this.markSynced(w);
    else if (w.nextRev < this.store.compactRevision) this.cancelCompacted(w);
    else this.unsynced.add(w);
  }

  /** @internal */
  remove(w: Watcher): void {
    w.stream.watchers.delete(w.id);
    if (this.unsynced.delete(w)) return;
    if (!w.synced) return;
    w.synced = false;
    this.syncedCount--;
    if (w.end === null) {
      const set = this.single.get(w.start);
      set?.delete(w);
      if (set?.size === 0) this.single.delete(w.start);
    } else this.ranges.delete(w.start, w.end, w);
  }

  /** @internal */
  closeStream(stream: WatchStream): void {
    for (const w of [...stream.watchers.values()]) this.remove(w);
    this.streams.delete(stream);
  }

  /** @internal Responses of `w` were taken from its stream's queue. */
  taken(w: Watcher, bytes: number): void {
    w.pendingBytes -= bytes;
  }

  /** @internal Whether every watcher of `stream` is synced and past its start revision. */
  streamSynced(stream: WatchStream): boolean {
    for (const w of stream.watchers.values()) {
      if (!w.synced || this.store.revision < w.startRev) return false;
    }
    return true;
  }

  /** @internal */
  get revision(): number {
    return this.store.revision;
  }

  // ---- internals ----

  private markSynced(w: Watcher): void {
    this.unsynced.delete(w);
    w.synced = true;
    this.syncedCount++;
    if (w.end === null) {
      let set = this.single.get(w.start);
      if (set === undefined) {
        set = new Set();
        this.single.set(w.start, set);
      }
      set.add(w);
    } else this.ranges.add(w.start, w.end, w);
    w.stream.maybeProgress();
  }

  private unsync(w: Watcher): void {
    this.remove(w);
    w.stream.watchers.set(w.id, w);
    this.unsynced.add(w);
  }

  /** A write was applied: each synced watcher of its keys gets the revision's events. */
  private changed(c: RevisionChanges): void {
    this.seen = c.revision;
    if (this.syncedCount === 0) return;
    let matched: Map<Watcher, number[]> | null = null;
    const hit = (w: Watcher, i: number) => {
      if (c.revision < w.nextRev) return; // it starts at a later revision
      matched ??= new Map();
      const list = matched.get(w);
      if (list === undefined) matched.set(w, [i]);
      else list.push(i);
    };
    for (let i = 0; i < c.size; i++) {
      const key = c.key(i);
      const set = this.single.get(key);
      if (set !== undefined) for (const w of set) hit(w, i);
      if (this.ranges.size > 0) this.ranges.stab(key, (w) => hit(w, i));
    }
    if (matched === null) return;
    for (const [w, indexes] of matched as Map<Watcher, number[]>) {
      w.nextRev = c.revision + 1;
      const events: Event[] = [];
      for (const i of indexes) {
        if (c.isDelete(i) ? w.noDelete : w.noPut) continue;
        events.push(c.event(i, w.prevKv));
      }
      if (events.length === 0) continue;
      const resp = response(w.id, c.revision);
      resp.events = events;
      this.deliver(w, resp);
    }
  }

  private deliver(w: Watcher, resp: WatchResponse): void {
    let bytes = 0;
    for (const e of resp.events) bytes += eventBytes(e);
    w.pendingBytes += bytes;
    w.sentSinceTick = true;
    w.stream.push(resp, w, bytes);
    if (w.pendingBytes > this.maxPendingBytes) {
      this.remove(w);
      w.stream.dropQueued(w);
      const canceled = response(w.id, this.store.revision);
      canceled.canceled = true;
      canceled.cancelReason = CancelReason.slow;
      w.stream.push(canceled);
    }
  }

  /**
   * Replays from w.nextRev, whole revisions at a time, until `budget` work, batchEvents events
   * or a quarter of maxPendingBytes; returns the work done.
   */
  private replay(w: Watcher, budget: number): number {
    const events: Event[] = [];
    const last = this.store.revision;
    const maxBytes = this.maxPendingBytes / 4;
    let work = 0;
    let bytes = 0;
    let rev = w.nextRev;
    for (
      ;
      rev <= last && work < budget && events.length < this.batchEvents && bytes < maxBytes;
      rev++
    ) {
      const c = this.store.changesAt(rev);
      if (c === null) break;
      work += 1 + c.size;
      for (let i = 0; i < c.size; i++) {
        const key = c.key(i);
        const inside = w.end === null ? key === w.start : key >= w.start && key < w.end;
        if (!inside || (c.isDelete(i) ? w.noDelete : w.noPut)) continue;
        const e = c.event(i, w.prevKv);
        bytes += eventBytes(e);
        events.push(e);
      }
    }
    w.nextRev = rev;
    if (events.length > 0) {
      const resp = response(w.id, rev - 1);
      resp.events = events;
      this.deliver(w, resp);
    }
    return work;
  }

  private cancelCompacted(w: Watcher): void {
    this.remove(w);
    const resp = response(w.id, this.store.revision);
    resp.canceled = true;
    resp.compactRevision = this.store.compactRevision;
    w.stream.push(resp);
  }

  /** Unsynced watchers whose next revision was compacted are answered now. */
  private dropCompacted(): void {
    for (const w of [...this.unsynced]) {
      if (w.nextRev < this.store.compactRevision) this.cancelCompacted(w);
    }
  }

  /** A snapshot replaced the store: every watcher replays from where it was. */
  private restored(): void {
    const seen = this.seen;
    this.seen = this.store.revision;
    for (const s of this.streams) {
      for (const w of s.watchers.values()) {
        if (!w.synced) continue;
        w.nextRev = Math.max(w.nextRev, seen + 1);
        this.unsync(w);
      }
    }
    this.dropCompacted();
  }
}

interface Queued {
  resp: WatchResponse;
  watcher: Watcher | null;
  bytes: number;
}

/** One client stream of watchers (a gRPC Watch call): its requests in, its responses queued. */
export class WatchStream {
  /** @internal */
  readonly watchers = new Map<number, Watcher>();
  private queue: Queued[] = [];
  private head = 0;
  private nextId = 0;
  private progressWanted = false;
  private closed = false;

  constructor(
    private readonly hub: WatchHub,
    private readonly onReady: () => void,
  ) {}

  /**
   * etcd's WatchCreateRequest: answers with a `created` response (canceled at once, with
   * etcd's reason, for an empty range or a duplicate id). Returns the watch id, -1 if refused.
   */
  watch(req: WatchRequest): number {
    const current = this.hub.revision;
    const refuse = (reason: string) => {
      const resp = response(STREAM_WATCH_ID, current);
      resp.created = true;
      resp.canceled = true;
      resp.cancelReason = reason;
      this.push(resp);
      return STREAM_WATCH_ID;
    };
    if (this.closed) return STREAM_WATCH_ID;
    if ((req.startRevision ?? 0) < 0) return refuse(CancelReason.compacted);
    const r = keyRange(req.key.length === 0 ? new Uint8Array([0]) : req.key, req.rangeEnd);
    if (r.end !== null && r.end !== AFTER_ALL_KEYS && r.start >= r.end) {
      return refuse(CancelReason.emptyRange);
    }
    let id = req.watchId ?? 0;
    if (id === 0) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) return refuse(CancelReason.duplicateId);
    this.hub.add(this, id, req);
    return id;
  }

  /** etcd's WatchCancelRequest: answers `canceled` if the watcher existed. */
  cancel(watchId: number): boolean {
    const w = this.watchers.get(watchId);
    if (w === undefined) return false;
    this.hub.remove(w);
    const resp = response(watchId, this.hub.revision);
    resp.canceled = true;
    this.push(resp);
    return true;
  }

  /**
   * etcd's WatchProgressRequest: one response with watch_id -1 and the current revision once
   * every watcher of the stream is synced (at once if they are). Nothing without watchers.
   */
  requestProgress(): void {
    this.progressWanted = true;
    this.maybeProgress();
  }

  /** Up to `max` queued responses, oldest first. */
  take(max = Number.POSITIVE_INFINITY): WatchResponse[] {
    const n = Math.min(max, this.queue.length - this.head);
    const out: WatchResponse[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const q = this.queue[this.head + i] as Queued;
      out[i] = q.resp;
      if (q.watcher !== null) this.hub.taken(q.watcher, q.bytes);
    }
    this.head += n;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Responses waiting to be taken. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Ends the stream: its watchers go, its queue is dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.closeStream(this);
    this.queue = [];
    this.head = 0;
  }

  /** @internal */
  push(resp: WatchResponse, watcher: Watcher | null = null, bytes = 0): void {
    if (this.closed) return;
    const wasEmpty = this.pending === 0;
    this.queue.push({ resp, watcher, bytes });
    if (wasEmpty) this.onReady();
  }

  /** @internal Drops a canceled watcher's queued events. */
  dropQueued(w: Watcher): void {
    const rest = this.queue.slice(this.head).filter((q) => q.watcher !== w);
    this.queue = rest;
    this.head = 0;
    w.pendingBytes = 0;
  }

  /** @internal */
  maybeProgress(): void {
    if (!this.progressWanted || this.watchers.size === 0) return;
    if (!this.hub.streamSynced(this)) return;
    this.progressWanted = false;
    this.push(response(STREAM_WATCH_ID, this.hub.revision));
  }

  /** @internal */
  progressTick(): void {
    for (const w of this.watchers.values()) {
      if (!w.progressNotify || !w.synced) continue;
      if (!w.sentSinceTick) this.push(response(w.id, this.hub.revision));
      w.sentSinceTick = false;
    }
  }
}
