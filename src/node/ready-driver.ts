// ReadyDriver: the one loop that drives the Raft core's Ready batches (src/raft/api.ts), shared
// by RaftNode (real timers, FileStorage on node:fs, TCP) and the simulator's SimNode (virtual
// time, FileStorage on a SimDisk, SimNetwork). docs/architecture.md, "The Ready loop and its
// ordering rules", is the specification; in short, for each Ready, in the order taken:
//
//   take:    rd = core.ready()
//            send what may leave before the fsync (mayLeaveBeforeFsync: the leader's traffic)
//            storage.write(rd's snapshot, entries, hard state)
//            apply rd.committed (durable already) and hand over rd.readStates
//            start storage.sync() if the batch needs one (group commit: one per Ready)
//   finish:  once this Ready and every earlier one are durable, in order:
//            send the other messages (votes, append replies)
//            with rd.snapshot: install it, then apply rd.committed
//            core.advance(rd)
//
// Up to `window` Readys are in flight at once (pipelined Readys, api.ts): the next one is taken
// while earlier fsyncs run, so the leader's appends for new proposals leave without waiting for
// its own disk; its other messages still wait for every earlier Ready to be durable, and
// Readys are finished (and advanced) in the order they were taken. window 1 is the classic loop.
//
// Everything a shell differs in comes in through interfaces: Storage, a send function, the
// ReadyHandler (the state machine and the shell's bookkeeping), a DriverClock, and DriverHooks
// at the Ready boundaries (the simulator's crash points and trace; production passes none).
// A storage failure goes through one place, storageError(): retried if the shell says it is
// retryable (a full disk), else the driver stops (fail-stop).

import type { RawNodeApi, ReadState, Ready, SoftState } from "../raft/api.js";
import { mutant } from "../raft/mutants.js";
import type { Entry, Message, Snapshot } from "../raft/types.js";
import type { Storage, WriteBatch } from "../storage/storage.js";

/**
 * The messages that may leave before this node's own fsync: the leader's replication traffic
 * (thesis §10.2.1: the core counts the leader's own log toward commit only after advance()
 * says it is durable). Everything else (votes, append replies, read acknowledgements) promises
 * state that must be on disk first (Raft paper Figure 2). This is the only copy of the rule.
 */
export function mayLeaveBeforeFsync(m: Message): boolean {
  if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") return true;
  // A planted bug for the simulator's mutation tests (src/raft/mutants.ts): off unless planted.
  return (m.type === "vote-resp" || m.type === "prevote-resp") && mutant("vote-before-fsync");
}

/** Time as the driver needs it: a clock for measuring fsyncs, and a way to run work soon. */
export interface DriverClock {
  /** Milliseconds (any origin). */
  now(): number;
  /**
   * Runs `fn` after the current input has been fully handled, so that every message and
   * proposal arriving in one turn lands in the same Ready (RaftNode: setImmediate; the
   * simulator: at once, since each simulated event is one input).
   */
  soon(fn: () => void): void;
  /** Runs `fn` in `ms` milliseconds (a storage retry). */
  after(ms: number, fn: () => void): void;
}

/** What the shell does with a Ready's contents. */
export interface ReadyHandler {
  /**
   * Called before each Ready is taken: the last moment to feed the core what belongs in it (a
   * read round, a compaction).
   */
  beforeReady?(): void;
  /** A Ready was taken (before anything in it is written or sent). */
  onReady?(rd: Ready): void;
  /** The core's role or leader changed (from rd.softState, when the Ready is taken). */
  onSoftState?(soft: SoftState): void;
  /** Committed entries, in log order, each locally durable. Conf entries and no-ops included. */
  apply(entries: Entry[]): void;
  /** A snapshot from the leader, durable now: replace the state machine with it. */
  restore(snapshot: Snapshot): void;
  /** Linearizable reads the core confirmed (serve each once applied >= its index). */
  onReadStates(readStates: ReadState[]): void;
  /** A Ready was advanced (snapshot policy, metrics). */
  afterAdvance?(rd: Ready): void;
  /** A fsync completed after `ms` (metrics). */
  onSynced?(rd: Ready, ms: number): void;
  /**
   * The driver stopped for good: storage failed (`storageError`), or the core threw in
   * ready()/advance(). The shell stops the node.
   */
  onFatal(err: unknown, where: string): void;
}

/**
 * The Ready boundaries, for the simulator (crash points: it may stop the driver from any of
 * them, and the driver then does nothing more). Production passes none.
 */
export interface DriverHooks {
  /** The early messages left and the batch is written; its fsync has not started. */
  afterWrite?(rd: Ready, needsSync: boolean): void;
  /** The Ready is durable (and every earlier one); its other messages have not left. */
  afterSync?(rd: Ready): void;
  /** Its other messages left; nothing else of it has happened. */
  afterReply?(rd: Ready): void;
}

export interface ReadyDriverOptions {
  core: RawNodeApi;
  /** What the driver does with storage: write Readys and sync them (load is the shell's). */
  storage: Pick<Storage, "write" | "sync">;
  send: (m: Message) => void;
  handler: ReadyHandler;
  clock: DriverClock;
  hooks?: DriverHooks;
  /** Readys in flight at once (default DEFAULT_READY_WINDOW). */
  window?: number;
  /**
   * Which storage failures are retryable: the delay before trying the sync again, or null for
   * fail-stop (the default for every error). A retried sync keeps its Ready and every later one
   * in flight, unsent and unadvanced, until a sync succeeds. Meant for a full disk
   * (StorageNoSpaceError: FileStorage keeps the unsynced batches queued and retries them).
   */
  retryDelay?: (err: unknown, op: "write" | "sync") => number | null;
}

/**
 * The default number of Readys in flight. Measured (bench/ready-window.ts, bench/RESULTS.md
 * "Ready window"): 2 was marginally the best of 1, 2 and 4 (within the noise of a shared
 * machine); it lets the leader's appends for new proposals overlap its own fsync, and more adds
 * nothing, since FileStorage shares one flush among every sync() queued behind the current one.
 */
export const DEFAULT_READY_WINDOW = 2;

/** A Ready taken and not yet advanced. */
interface Flight {
  rd: Ready;
  /** Its messages that wait until it and every earlier Ready are durable. */
  later: Message[];
  durable: boolean;
}

export class ReadyDriver {
  private readonly window: number;
  private readonly flights: Flight[] = [];
  private scheduled = false;
  private pumping = false;
  private stopped = false;
  /** A storage.write() that returned a promise and has not settled (Storage allows both). */
  private writing: Promise<void> | null = null;

  constructor(private readonly o: ReadyDriverOptions) {
    const w = o.window ?? DEFAULT_READY_WINDOW;
    if (!Number.isInteger(w) || w < 1) throw new RangeError(`ready window must be >= 1, got ${w}`);
    this.window = w;
  }

  /** Readys taken and not yet advanced. */
  get inFlight(): number {
    return this.flights.length;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Look at the core again soon (after an input: a message, a tick, a proposal). */
  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    this.o.clock.soon(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Take Readys while the core has one and the window has room. */
  pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.stopped || this.flights.length >= this.window) return;
        this.o.handler.beforeReady?.();
        if (this.stopped || !this.core.hasReady()) return;
        const rd = this.inCore("ready()", () => this.core.ready());
        if (rd === null) return;
        this.take(rd);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Nothing more happens: pending fsyncs are ignored when they complete. */
  stop(): void {
    this.stopped = true;
    this.flights.length = 0;
  }

  /**
   * Writes a batch outside a Ready (a local snapshot's install) in order with the Readys' writes;
   * the next Ready's sync makes it durable. False if the storage failed (the driver stopped).
   */
  write(batch: WriteBatch): boolean {
    return this.persist(batch);
  }

  private get core(): RawNodeApi {
    return this.o.core;
  }

  private take(rd: Ready): void {
    const { handler, hooks } = this.o;
    handler.onReady?.(rd);
    if (rd.softState) handler.onSoftState?.(rd.softState);
    if (this.stopped) return;

    const later: Message[] = [];
    for (const m of rd.messages) {
      if (mayLeaveBeforeFsync(m)) this.o.send(m);
      else later.push(m);
    }
    if (rd.snapshot || rd.entries.length > 0 || rd.hardState) {
      const ok = this.persist({
        ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
        ...(rd.entries.length > 0 ? { entries: rd.entries } : {}),
        ...(rd.hardState ? { hardState: rd.hardState } : {}),
      });
      if (!ok) return;
    }
    const needsSync = rd.mustSync || rd.snapshot !== undefined;
    hooks?.afterWrite?.(rd, needsSync);
    if (this.stopped) return;

    // Committed entries were persisted by earlier Readys (the core hands out only entries that
    // advance() reported durable), so they are applied while this batch's fsync runs: a proposer
    // waits for one fsync, not two. Entries after a snapshot wait until it is durable and installed.
    if (!rd.snapshot) {
      if (rd.committed.length > 0) handler.apply(rd.committed);
      if (rd.readStates.length > 0) handler.onReadStates(rd.readStates);
      if (this.stopped) return;
    }
    const flight: Flight = { rd, later, durable: !needsSync };
    this.flights.push(flight);
    if (needsSync) this.startSync(flight);
    else this.settle();
  }

  /** Buffers `batch` in storage; a failure stops the driver (storageError). */
  private persist(batch: WriteBatch): boolean {
    try {
      const r = this.o.storage.write(batch);
      if (r instanceof Promise) {
        // Kept in order: the next sync waits for it. A failure is reported by that sync's path.
        const prev = this.writing ?? Promise.resolve();
        const mine: Promise<void> = prev.then(() => r);
        this.writing = mine;
        mine.then(
          () => {
            if (this.writing === mine) this.writing = null;
          },
          (err: unknown) => this.storageError("write", err),
        );
      }
      return true;
    } catch (err) {
      this.storageError("write", err);
      return false;
    }
  }

  private startSync(flight: Flight): void {
    const started = this.o.clock.now();
    const done = (): void => {
      if (this.stopped) return;
      this.o.handler.onSynced?.(flight.rd, this.o.clock.now() - started);
      // One disk: a sync makes every batch written before it durable, and syncs finish in order.
      for (const f of this.flights) {
        f.durable = true;
        if (f === flight) break;
      }
      this.settle();
    };
    const attempt = (): void => {
      const failed = (err: unknown): void => this.storageError("sync", err, attempt);
      let r: void | Promise<void>;
      try {
        r = this.writing ? this.writing.then(() => this.o.storage.sync()) : this.o.storage.sync();
      } catch (err) {
        failed(err);
        return;
      }
      if (r instanceof Promise) r.then(done, failed);
      else done();
    };
    attempt();
  }

  /** Finish the durable Readys at the head, in order; then take more if the window has room. */
  private settle(): void {
    while (!this.stopped && this.flights.length > 0 && (this.flights[0] as Flight).durable) {
      const f = this.flights.shift() as Flight;
      this.finish(f);
    }
    if (!this.stopped) this.pump();
  }

  private finish({ rd, later }: Flight): void {
    const { handler, hooks } = this.o;
    hooks?.afterSync?.(rd);
    if (this.stopped) return;
    for (const m of later) this.o.send(m);
    hooks?.afterReply?.(rd);
    if (this.stopped) return;
    if (rd.snapshot) {
      handler.restore(rd.snapshot);
      if (rd.committed.length > 0) handler.apply(rd.committed);
      if (rd.readStates.length > 0) handler.onReadStates(rd.readStates);
      if (this.stopped) return;
    }
    if (this.inCore("advance()", () => this.core.advance(rd)) === null) return;
    handler.afterAdvance?.(rd);
  }

  /**
   * THE storage-error path: every failed write or sync comes here. If the shell's retryDelay
   * says so (a full disk) and there is something to retry, it is tried again later, with
   * everything still in flight waiting for it. Otherwise the node's durable state is unknown
   * (after a failed fsync the kernel may have dropped the dirty pages): the driver stops and the
   * shell is told (onFatal); nothing of this or any later Ready is sent, applied or advanced.
   */
  private storageError(op: "write" | "sync", err: unknown, retry?: () => void): void {
    if (this.stopped) return;
    const delay = retry ? (this.o.retryDelay?.(err, op) ?? null) : null;
    if (retry && delay !== null) {
      this.o.clock.after(delay, () => {
        if (!this.stopped) retry();
      });
      return;
    }
    this.stop();
    this.o.handler.onFatal(err, `storage ${op}`);
  }

  /** Runs `f` on the core; an exception stops the driver (the core may be half-way). */
  private inCore<T>(where: string, f: () => T): T | null {
    try {
      return f();
    } catch (err) {
      if (!this.stopped) {
        this.stop();
        this.o.handler.onFatal(err, where);
      }
      return null;
    }
  }
}
