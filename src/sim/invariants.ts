// Raft's safety properties (Raft paper, Figure 3), checked as the simulation runs. Each check is
// incremental and O(entries touched): a node's log is mirrored as rolling prefix hashes, so
// "same index and term => identical prefixes" is one number comparison.
//
//   election-safety        at most one leader per term, and no node grants its vote to two
//                          candidates in one term (§5.2: first come, first served, once)
//   log-matching           two logs with an entry of the same index and term agree up to it
//   leader-completeness    a new leader's log holds every entry committed in an earlier term
//                          (the commit's term is bounded above by the applier's term: a leader
//                          elected in term 2 whose vote replies it handled late, after term 3
//                          committed more, is still a legitimate leader of term 2)
//   state-machine-safety   no two nodes apply different entries (or states) at one index
//   applied-monotonic      a node applies index applied+1, never skips or goes back
//   committed-durable      a committed entry is never overwritten (but by a leader older than
//                          its commit, at a node its commit did not count on), after any crash a majority
//                          still holds it (the disk kept what was acknowledged), and whenever a
//                          node's commit index reaches an entry, a majority holds that entry
//                          durably (written and fsynced: §5.3 with Figure 2's persistence)
//   vote-durable           after a crash, and at a restart, a node's durable term and vote
//                          cover every vote it granted (Figure 2: persist before replying)
//   commit-safety          when a node's commit index reaches an entry, no node that lacks it
//                          could still win an election (its log at least as up-to-date as a
//                          majority's): otherwise the entry could be lost (Figure 8)
//   leader-match           a leader's matchIndex for a follower never exceeds what that
//                          follower acknowledged in the leader's term (Figure 2: matchIndex is
//                          reinitialized at election; a reply of an older term may describe a
//                          log the follower or the leader no longer has)
//   liveness               (checked by the runner) the healed cluster commits within 10 s
//   linearizability        (checked by the runner) the clients' history of puts and reads is
//                          linearizable (linearizability.ts)
//
// "Committed" here means applied by some node: only then has the simulator seen proof of it.

import type { PersistedState, Ready } from "../raft/api.js";
import type { AppendResponse, Entry, NodeId } from "../raft/types.js";
import { HASH_SEED, mixBytes, mixInt } from "./hash.js";

export type InvariantName =
  | "election-safety"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "applied-monotonic"
  | "committed-durable"
  | "commit-safety"
  | "leader-match"
  | "vote-durable"
  | "liveness"
  | "linearizability"
  | "node-error";

export interface Violation {
  invariant: InvariantName;
  /** Number of the simulator event during which it was detected. */
  event: number;
  message: string;
}

/** One node's log as prefix hashes: hashes[k] covers entries 1..base+k+1. */
class LogMirror {
  base = 0;
  baseTerm = 0;
  baseHash = HASH_SEED;
  terms: number[] = [];
  hashes: number[] = [];
  /** Entries up to here are fsynced (as far as the disk promised). */
  synced = 0;
  /** The node's commit index, as last written. */
  commit = 0;

  get lastIndex(): number {
    return this.base + this.terms.length;
  }

  hashAt(index: number): number | undefined {
    if (index === this.base) return this.baseHash;
    return this.hashes[index - this.base - 1];
  }

  termAt(index: number): number | undefined {
    if (index === this.base) return this.baseTerm;
    return this.terms[index - this.base - 1];
  }

  reset(base: number, baseTerm: number, baseHash: number): void {
    this.base = base;
    this.baseTerm = baseTerm;
    this.baseHash = baseHash;
    this.terms = [];
    this.hashes = [];
    this.synced = Math.min(this.synced, base);
  }

  /** Drop entries from `index` on. */
  truncateFrom(index: number): void {
    this.synced = Math.min(this.synced, index - 1);
    const keep = Math.max(0, index - this.base - 1);
    this.terms.length = Math.min(this.terms.length, keep);
    this.hashes.length = Math.min(this.hashes.length, keep);
  }

  push(term: number, hash: number): void {
    this.terms.push(term);
    this.hashes.push(hash);
  }

  /** Forget entries up to `index` (compaction), keeping the prefix hash at `index`. */
  compact(index: number): void {
    const h = this.hashAt(index);
    const t = this.termAt(index);
    if (index <= this.base || h === undefined || t === undefined) return;
    const drop = index - this.base;
    this.terms = this.terms.slice(drop);
    this.hashes = this.hashes.slice(drop);
    this.base = index;
    this.baseTerm = t;
    this.baseHash = h;
  }
}

function entryHash(prev: number, e: Entry): number {
  return mixBytes(mixInt(mixInt(prev, e.index), e.term), e.data);
}

export class InvariantChecker {
  readonly violations: Violation[] = [];
  leaderChanges = 0;
  /** Highest index applied anywhere. */
  committedIndex = 0;
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly mirrors = new Map<NodeId, LogMirror>();
  /** Prefix hash of every (index, term) ever written anywhere: the log matching witness. */
  private readonly prefixOf = new Map<number, number>();
  /** Per committed index: prefix hash of the log, and the state machine hash after it. */
  private readonly committedPrefix: number[] = [0];
  private readonly committedState: (number | undefined)[] = [HASH_SEED];
  /**
   * Per committed index, an upper bound of the term it was committed in: the term of the node
   * that applied it first (it learned the commit from a leader of that term or an earlier one).
   */
  private readonly commitTermBound: number[] = [0];
  /** Each node's term as last persisted (its Readys' hard states, its disk at restart). */
  private readonly termOf = new Map<NodeId, number>();
  /** Per node, per term, the candidate it granted its vote to. */
  private readonly votedFor = new Map<NodeId, Map<number, NodeId>>();
  /**
   * Per node while it leads: its term, and per follower the highest match index that follower
   * acknowledged in that term (leader-match).
   */
  private readonly leading = new Map<NodeId, { term: number; acked: Map<NodeId, number> }>();

  constructor(
    private readonly voters: NodeId[],
    private readonly eventNumber: () => number,
  ) {
    for (const id of voters) this.mirrors.set(id, new LogMirror());
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  fail(invariant: InvariantName, message: string): void {
    this.violations.push({ invariant, event: this.eventNumber(), message });
  }

  /** A Ready left the core of `id` (before it is persisted or sent). */
  onReady(id: NodeId, rd: Ready, term: number): void {
    const log = this.mirror(id);
    if (rd.hardState) this.termOf.set(id, rd.hardState.term);
    if (rd.snapshot)
      this.installSnapshot(id, log, rd.snapshot.metadata.index, rd.snapshot.metadata.term);
    if (rd.entries.length > 0) this.append(id, log, rd.entries);
    if (rd.softState?.role === "leader") {
      this.leading.set(id, { term, acked: new Map() });
      this.onLeader(id, log, term);
    } else if (rd.softState) this.leading.delete(id);
    if (rd.hardState && rd.hardState.commit > log.commit) {
      log.commit = rd.hardState.commit;
      if (this.ok) this.checkCommit(id, log, log.commit);
    }
  }

  /** `id`'s fsync made its log durable up to `last` (everything written before it). */
  onSync(id: NodeId, last = Number.POSITIVE_INFINITY): void {
    const log = this.mirror(id);
    log.synced = Math.max(log.synced, Math.min(last, log.lastIndex));
  }

  /** `id` sent a granted vote to `candidate` for `term`. */
  onVoteGranted(id: NodeId, term: number, candidate: NodeId): void {
    let mine = this.votedFor.get(id);
    if (!mine) {
      mine = new Map();
      this.votedFor.set(id, mine);
    }
    const earlier = mine.get(term);
    if (earlier === undefined) mine.set(term, candidate);
    else if (earlier !== candidate)
      this.fail(
        "election-safety",
        `node ${id} voted for ${earlier} and then for ${candidate} in term ${term}`,
      );
  }

  /**
   * `id`'s commit index reached `c`: a majority must hold `id`'s entry at `c` durably, and no
   * node without it may be electable. In correct Raft the holders' last entries are at least
   * (term of c, c), and a node lacking c has a log less up-to-date than each of them (§5.4.1),
   * so it cannot gather a majority. Nodes whose snapshot covers c count as holders.
   */
  private checkCommit(id: NodeId, log: LogMirror, c: number): void {
    if (c < log.base) return;
    const h = log.hashAt(c);
    if (h === undefined) return;
    const has = (m: LogMirror) => c < m.base || m.hashAt(c) === h;
    let durable = 0;
    for (const m of this.mirrors.values()) if (has(m) && (c < m.base || c <= m.synced)) durable++;
    const n = this.voters.length;
    if (durable * 2 <= n) {
      this.fail(
        "committed-durable",
        `node ${id}'s commit index reached ${c}, which only ${durable} of ${n} nodes hold durably`,
      );
      return;
    }
    for (const [other, m] of this.mirrors) {
      if (has(m)) continue;
      const last = m.lastIndex;
      const lastTerm = m.termAt(last) as number;
      let supporters = 0;
      for (const v of this.mirrors.values()) {
        const vLast = v.lastIndex;
        const vTerm = v.termAt(vLast) as number;
        if (lastTerm > vTerm || (lastTerm === vTerm && last >= vLast)) supporters++;
      }
      if (supporters * 2 > n) {
        this.fail(
          "commit-safety",
          `node ${id}'s commit index reached ${c}, but node ${other} lacks that entry and could ` +
            `still win an election (its log is at least as up-to-date as ${supporters} of ${n})`,
        );
        return;
      }
    }
  }

  /** `id` applied `e`; `stateHash` is its state machine hash afterwards. */
  onApply(id: NodeId, e: Entry, stateHash: number): void {
    const log = this.mirror(id);
    // With pipelined Readys a snapshot taken after this entry's Ready may already cover it in
    // the mirror: then the entry's prefix is the one written with it.
    const covered = e.index <= log.base;
    const prefix = covered ? this.prefixOf.get(e.index * 4_194_304 + e.term) : log.hashAt(e.index);
    if (prefix === undefined || (!covered && log.termAt(e.index) !== e.term)) {
      this.fail(
        "state-machine-safety",
        `node ${id} applied index ${e.index} term ${e.term}, which is not in its log`,
      );
      return;
    }
    const known = this.committedPrefix[e.index];
    if (known === undefined) {
      // The first application of a new index: the frontier moves by exactly one.
      if (e.index !== this.committedIndex + 1) {
        this.fail(
          "applied-monotonic",
          `node ${id} applied ${e.index} but no node has applied ${this.committedIndex + 1}`,
        );
        return;
      }
      this.committedPrefix[e.index] = prefix;
      this.committedState[e.index] = stateHash;
      this.commitTermBound[e.index] = this.termOf.get(id) ?? 0;
      this.committedIndex = Math.max(this.committedIndex, e.index);
      return;
    }
    if (known !== prefix) {
      this.fail(
        "state-machine-safety",
        `node ${id} applied a different entry at index ${e.index} (term ${e.term}) than an earlier applier`,
      );
      return;
    }
    if (this.committedState[e.index] !== stateHash)
      this.fail(
        "state-machine-safety",
        `node ${id}'s state after index ${e.index} differs from another node's`,
      );
  }

  /** `id`'s state machine was replaced by a snapshot at `index`. */
  onRestore(id: NodeId, index: number, term: number, stateHash: number): void {
    const known = this.committedState[index];
    if (index > this.committedIndex) {
      this.fail(
        "state-machine-safety",
        `node ${id} restored a snapshot at ${index} beyond every applied index (${this.committedIndex})`,
      );
      return;
    }
    if (known !== undefined && known !== stateHash)
      this.fail(
        "state-machine-safety",
        `node ${id} restored a snapshot at ${index} (term ${term}) whose state differs from the committed state`,
      );
  }

  onCompact(id: NodeId, index: number): void {
    this.mirror(id).compact(index);
  }

  /**
   * `id` (re)started, or crashed and its disk now holds `persisted`: the mirror becomes the
   * durable log, and every committed entry must still be on a majority.
   */
  onDurableState(id: NodeId, persisted: PersistedState, afterCrash: boolean): void {
    const log = this.mirror(id);
    this.leading.delete(id);
    this.termOf.set(id, persisted.hardState.term);
    log.commit = persisted.hardState.commit;
    this.checkVotesKept(id, persisted, afterCrash);
    const snap = persisted.snapshot;
    if (snap) {
      const h = this.committedPrefix[snap.metadata.index];
      if (h === undefined) {
        this.fail(
          "committed-durable",
          `node ${id}'s disk holds a snapshot at ${snap.metadata.index}, never applied anywhere`,
        );
        return;
      }
      log.reset(snap.metadata.index, snap.metadata.term, h);
    } else {
      log.reset(0, 0, HASH_SEED);
    }
    let prev = log.baseHash;
    for (const e of persisted.entries) {
      if (e.index <= log.base) continue;
      if (e.index !== log.lastIndex + 1) {
        this.fail("committed-durable", `node ${id}'s disk log has a gap before ${e.index}`);
        return;
      }
      prev = entryHash(prev, e);
      log.push(e.term, prev);
    }
    log.synced = log.lastIndex;
    if (afterCrash) this.checkMajorityHolds(id);
  }

  /**
   * Leader `id` stepped an append reply `m`; `matchAfter` reads its match index for the sender
   * now. A reply of the leader's term raises what the follower acknowledged; one of an older
   * term must have taught the leader nothing (leader-match). Only older replies cost a look
   * at the core, and they are rare.
   */
  onAppendReply(id: NodeId, m: AppendResponse, matchAfter: () => number | undefined): void {
    const lead = this.leading.get(id);
    if (!lead || m.term > lead.term) return;
    const acked = lead.acked.get(m.from) ?? 0;
    if (m.term === lead.term) {
      if (m.success && m.matchIndex > acked) lead.acked.set(m.from, m.matchIndex);
      return;
    }
    const match = matchAfter();
    if (match !== undefined && match > acked)
      this.fail(
        "leader-match",
        `leader ${id} of term ${lead.term} took node ${m.from}'s reply of term ${m.term}: ` +
          `match ${match}, acknowledged in term ${lead.term} only up to ${acked}`,
      );
  }

  /** Every vote `id` granted is in `persisted`, or a later term replaced it. */
  private checkVotesKept(id: NodeId, persisted: PersistedState, afterCrash: boolean): void {
    const { term, vote } = persisted.hardState;
    const mine = this.votedFor.get(id);
    if (!mine) return;
    for (const [t, candidate] of mine) {
      if (t < term || (t === term && vote === candidate)) continue;
      this.fail(
        "vote-durable",
        `node ${id} granted its vote to ${candidate} in term ${t}, but ${afterCrash ? "after the crash its disk" : "at restart its state"} ` +
          `holds term ${term} with vote ${vote || "none"}`,
      );
      return;
    }
  }

  private checkMajorityHolds(crashed: NodeId): void {
    const c = this.committedIndex;
    if (c === 0) return;
    let holders = 0;
    for (const log of this.mirrors.values()) if (this.holds(log, c)) holders++;
    if (holders * 2 <= this.voters.length)
      this.fail(
        "committed-durable",
        `after node ${crashed} crashed only ${holders} of ${this.voters.length} logs hold committed index ${c}`,
      );
  }

  private holds(log: LogMirror, index: number): boolean {
    if (index < log.base) return true; // covered by its snapshot
    return log.hashAt(index) === this.committedPrefix[index];
  }

  private installSnapshot(id: NodeId, log: LogMirror, index: number, term: number): void {
    const h = this.committedPrefix[index];
    if (h === undefined) {
      this.fail(
        "state-machine-safety",
        `node ${id} received a snapshot at ${index}, an index never applied anywhere`,
      );
      return;
    }
    // Storage contract: an older snapshot is ignored; a newer one keeps the log after it only
    // if the log holds the snapshot's entry.
    if (index <= log.base) return;
    if (log.termAt(index) === term && log.hashAt(index) === h) log.compact(index);
    else log.reset(index, term, h);
  }

  private append(id: NodeId, log: LogMirror, entries: Entry[]): void {
    const first = entries[0] as Entry;
    if (first.index <= log.base) {
      this.fail(
        "log-matching",
        `node ${id} wrote entry ${first.index} at or below its snapshot index ${log.base}`,
      );
      return;
    }
    if (first.index > log.lastIndex + 1) {
      this.fail(
        "log-matching",
        `node ${id} wrote entry ${first.index} after last index ${log.lastIndex}: a gap`,
      );
      return;
    }
    // A write from first.index replaces the log's tail. If that tail held a committed entry,
    // the entry must survive the write (§5.3: only uncommitted conflicting entries are deleted).
    // A node that never had the entry may of course take other entries there from a stale leader.
    const lastCommitted = Math.min(log.lastIndex, this.committedIndex);
    const heldCommitted = lastCommitted >= first.index && this.holds(log, lastCommitted);
    log.truncateFrom(first.index);
    let prev = log.hashAt(first.index - 1) as number;
    for (const e of entries) {
      if (e.index !== log.lastIndex + 1) {
        this.fail("log-matching", `node ${id} wrote non-contiguous entries at ${e.index}`);
        return;
      }
      prev = entryHash(prev, e);
      log.push(e.term, prev);
      const key = e.index * 4_194_304 + e.term;
      const seen = this.prefixOf.get(key);
      if (seen === undefined) this.prefixOf.set(key, prev);
      else if (seen !== prev) {
        this.fail(
          "log-matching",
          `node ${id}'s log has index ${e.index} term ${e.term} like another log, but a different prefix`,
        );
        return;
      }
    }
    // Except from a leader older than the commit: a node that has not heard of the newer term
    // yet takes a stale leader's entries (all of an older term than the commit's) over entries
    // it held but whose commit did not count on it (seed 81 of the 7-node release sweep);
    // the leaders after the commit hold it (leader-completeness) and so does a durable majority.
    const stale = first.term < (this.commitTermBound[lastCommitted] ?? 0);
    if (heldCommitted && !stale && !this.holds(log, lastCommitted)) {
      this.fail(
        "committed-durable",
        `node ${id} dropped or overwrote committed index ${lastCommitted} (writing from ${first.index})`,
      );
    }
  }

  private onLeader(id: NodeId, log: LogMirror, term: number): void {
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== id) {
      this.fail("election-safety", `nodes ${other} and ${id} are both leader of term ${term}`);
      return;
    }
    if (other === undefined) {
      this.leaderOfTerm.set(term, id);
      this.leaderChanges++;
    }
    // The newest index committed in a term before `term` (holding it means holding its prefix).
    let c = this.committedIndex;
    while (c > 0 && (this.commitTermBound[c] as number) >= term) c--;
    if (c > 0 && !this.holds(log, c))
      this.fail(
        "leader-completeness",
        `node ${id} became leader of term ${term} without committed index ${c}`,
      );
  }

  private mirror(id: NodeId): LogMirror {
    let m = this.mirrors.get(id);
    if (!m) {
      m = new LogMirror();
      this.mirrors.set(id, m);
    }
    return m;
  }
}
