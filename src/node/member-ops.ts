// Membership operations on a running node (design: "The membership and operations contract"):
// the checks an operator's request goes through before it becomes a conf change, and the
// change itself, carrying the whole address book of the configuration it leads to
// (membership.ts). Leader only: the service forwards a follower's requests to the leader.
//
// The checks, each answered before anything is proposed (bad input changes nothing):
// - ids and addresses: an id in use, an address another member has, an unknown id;
// - the strict reconfiguration check (etcd's --strict-reconfig-check): a change that adds
//   voters must leave the new voter set with a quorum of members the leader heard from within
//   an election timeout, so that adding a voter that is not running cannot stall commitment;
//   the safe path is add a learner, start it, promote it;
// - promotion: the learner's match index is at least 90% of the leader's last index and at most
//   1,000 entries behind (etcd's readiness rule), so a promoted voter does not hold commits back
//   while it catches up.
// A joint change (`change`) resolves once the joint configuration has been left.

import { members as confMembers, isJoint } from "../raft/confchange.js";
import type { ConfChangeSingle, ConfState, NodeId } from "../raft/types.js";
import { newClusterId } from "../transport/cluster-id.js";
import { RaftworkError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { ConfChangeRefusedError, NotLeaderError, ProposalTimeoutError } from "./errors.js";
import { type AddressBook, encodeBook, type MemberAddress } from "./membership.js";
import type { RaftNode } from "./raft-node.js";

export type MemberRole = "voter" | "learner" | "outgoing";

export interface MemberInfo {
  id: NodeId;
  raft: string | null;
  role: MemberRole;
}

/** Why a request was refused (the etcd API maps each to etcd's own error). */
export type RefusalReason =
  | "bad-input"
  | "id-taken"
  | "address-taken"
  | "unknown-member"
  | "pending"
  | "not-enough-started"
  | "not-learner"
  | "learner-not-ready"
  | "no-voter"
  | "invalid-change";

/**
 * A request refused before anything was proposed: "bad-input" (400) or "conflict" (409: the id
 * or address is taken, the id is unknown, another change is in progress, the strict check or
 * the promotion rule refused it, the change would leave no voter); `reason` says which.
 */
export class MemberRequestError extends RaftworkError {
  readonly code: "bad-input" | "conflict";
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
    this.code = reason === "bad-input" ? "bad-input" : "conflict";
  }
}

export interface JointRequest {
  add?: { id: NodeId; raft: string; learner?: boolean }[];
  remove?: NodeId[];
  promote?: NodeId[];
}

export interface MemberOpsOptions {
  node: RaftNode;
  electionTimeoutMs: number;
  logger?: Logger;
}

const PROMOTE_FRACTION = 0.9;
const PROMOTE_MAX_LAG = 1000;

export class MemberOps {
  private readonly node: RaftNode;
  private drawing = false;

  constructor(private readonly o: MemberOpsOptions) {
    this.node = o.node;
    this.node.membership.onAdvanced(() => this.maybeDrawClusterId());
  }

  /** The leader this node knows, or null. */
  leader(): NodeId | null {
    return this.node.status().leader;
  }

  /** The configuration in effect here, with each member's Raft address; sorted by id. */
  list(): MemberInfo[] {
    const conf = this.conf();
    return confMembers(conf).map((id) => ({
      id,
      raft: this.node.membership.address(id),
      role: roleOf(conf, id),
    }));
  }

  async add(m: { id?: NodeId; raft: string; learner: boolean }, timeoutMs?: number) {
    const conf = this.leaderConf();
    const id = m.id ?? smallestUnused(conf, this.node.membership.current().removed ?? []);
    this.checkNew(conf, [{ id, raft: m.raft }]);
    const type = m.learner ? "add-learner" : "add-voter";
    if (!m.learner) this.strictCheck([...conf.voters, id]);
    const book = this.bookWith([{ id, raft: m.raft }], []);
    await this.propose([{ type, node: id }], book, timeoutMs);
    return this.list();
  }

  async update(id: NodeId, raft: string, timeoutMs?: number) {
    const conf = this.leaderConf();
    this.checkKnown(conf, id);
    const other = this.node.membership
      .current()
      .members.find((x) => x.raft === raft && x.id !== id);
    if (other) throw conflict("address-taken", `address ${raft} is taken by member ${other.id}`);
    // The core has no address change: re-adding a member in its own role changes nothing in the
    // configuration, and the entry carries the new book.
    const type = conf.learners.includes(id) ? "add-learner" : "add-voter";
    await this.propose([{ type, node: id }], this.bookWith([{ id, raft }], []), timeoutMs);
    return this.list();
  }

  async promote(id: NodeId, timeoutMs?: number) {
    const conf = this.leaderConf();
    this.checkKnown(conf, id);
    if (!conf.learners.includes(id)) throw conflict("not-learner", `member ${id} is not a learner`);
    this.checkCaughtUp(id);
    await this.propose(
      [{ type: "add-voter", node: id }],
      this.node.membership.current(),
      timeoutMs,
    );
    return this.list();
  }

  async remove(id: NodeId, timeoutMs?: number) {
    const conf = this.leaderConf();
    this.checkKnown(conf, id);
    if (conf.voters.length === 1 && conf.voters[0] === id)
      throw conflict("no-voter", `removing member ${id} would leave no voter`);
    await this.propose([{ type: "remove", node: id }], this.bookWith([], [id]), timeoutMs);
    return this.list();
  }

  /** One atomic change through a joint configuration, left automatically (thesis §4.3). */
  async change(req: JointRequest, timeoutMs?: number) {
    const conf = this.leaderConf();
    const add = req.add ?? [];
    const remove = req.remove ?? [];
    const promote = req.promote ?? [];
    if (add.length + remove.length + promote.length === 0)
      throw new MemberRequestError("bad-input", "the change is empty: give add, remove or promote");
    const ids = [...add.map((a) => a.id), ...remove, ...promote];
    const twice = ids.find((id, i) => ids.indexOf(id) !== i);
    if (twice !== undefined)
      throw new MemberRequestError("bad-input", `member ${twice} appears twice`);
    this.checkNew(conf, add);
    for (const id of [...remove, ...promote]) this.checkKnown(conf, id);
    for (const id of promote) {
      if (!conf.learners.includes(id))
        throw conflict("not-learner", `member ${id} is not a learner`);
      this.checkCaughtUp(id);
    }
    const voters = new Set(conf.voters);
    for (const a of add) if (!a.learner) voters.add(a.id);
    for (const id of promote) voters.add(id);
    for (const id of remove) voters.delete(id);
    if (voters.size === 0) throw conflict("no-voter", "the change would leave no voter");
    if (add.some((a) => !a.learner)) this.strictCheck([...voters]);
    const changes: ConfChangeSingle[] = [
      ...add.map((a) => ({ type: a.learner ? "add-learner" : "add-voter", node: a.id }) as const),
      ...promote.map((node) => ({ type: "add-voter", node }) as const),
      ...remove.map((node) => ({ type: "remove", node }) as const),
    ];
    const deadline = performance.now() + (timeoutMs ?? 5000);
    const book = this.bookWith(add, remove);
    const entered = await this.propose(changes, book, timeoutMs, "joint");
    if (isJoint(entered)) await this.untilLeft(deadline);
    return this.list();
  }

  private async propose(
    changes: ConfChangeSingle[],
    book: AddressBook,
    timeoutMs: number | undefined,
    transition: "auto" | "joint" = "auto",
  ): Promise<ConfState> {
    try {
      return await this.node.proposeConfChange(
        { changes, transition, context: encodeBook(book) },
        timeoutMs,
      );
    } catch (e) {
      if (e instanceof ConfChangeRefusedError && e.code !== "transferring") {
        const what =
          e.code === "conf-pending" ? "another membership change is in progress" : e.message;
        throw conflict(e.code === "conf-pending" ? "pending" : "invalid-change", what);
      }
      throw e;
    }
  }

  /** Resolves once the configuration in effect is no longer joint (the leader left it). */
  private untilLeft(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let done = false;
      let unsubscribe = () => {};
      const timer = setTimeout(
        () => finish(new ProposalTimeoutError()),
        deadline - performance.now(),
      );
      const finish = (e?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        if (e) reject(e);
        else resolve();
      };
      const check = () => {
        if (!isJoint(this.conf())) finish();
      };
      unsubscribe = this.node.membership.onAdvanced(() => check());
      check();
    });
  }

  private conf(): ConfState {
    return this.node.status().conf as ConfState;
  }

  /** The configuration, on the leader only (anything else: NotLeaderError, to forward). */
  private leaderConf(): ConfState {
    const s = this.node.status();
    if (s.role !== "leader") throw new NotLeaderError(s.leader);
    return s.conf as ConfState;
  }

  private checkNew(conf: ConfState, added: readonly { id: NodeId; raft: string }[]): void {
    const { members: book, removed = [] } = this.node.membership.current();
    for (const a of added) {
      if (!Number.isSafeInteger(a.id) || a.id < 1)
        throw new MemberRequestError("bad-input", `bad member id ${a.id}`);
      if (confMembers(conf).includes(a.id))
        throw conflict("id-taken", `member id ${a.id} is taken`);
      // Peers refuse a removed id as removed (membership.ts): it stays retired.
      if (removed.includes(a.id))
        throw conflict("id-taken", `member id ${a.id} was removed; give the new member another id`);
      const holder = book.find((m) => m.raft === a.raft);
      if (holder)
        throw conflict("address-taken", `address ${a.raft} is taken by member ${holder.id}`);
    }
    const addrs = added.map((a) => a.raft);
    const dup = addrs.find((r, i) => addrs.indexOf(r) !== i);
    if (dup !== undefined)
      throw new MemberRequestError("bad-input", `address ${dup} appears twice`);
  }

  private checkKnown(conf: ConfState, id: NodeId): void {
    if (!confMembers(conf).includes(id))
      throw conflict("unknown-member", `member ${id} is not in the cluster`);
  }

  /** etcd's strict reconfiguration check (see the header). */
  private strictCheck(newVoters: readonly NodeId[]): void {
    const self = this.node.status().id;
    const active = newVoters.filter(
      (id) => id === self || this.node.membership.silenceMs(id) <= this.o.electionTimeoutMs,
    );
    const quorum = Math.floor(newVoters.length / 2) + 1;
    if (active.length < quorum) {
      throw conflict(
        "not-enough-started",
        `the new voters (${newVoters.join(", ")}) would have ${active.length} active, below a quorum of ${quorum}: add the member as a learner, start it, then promote it`,
      );
    }
  }

  private checkCaughtUp(id: NodeId): void {
    const s = this.node.status();
    const p = s.progress?.find((x) => x.id === id);
    const last = (p?.lag ?? 0) + (p?.match ?? 0);
    if (p === undefined || p.match < PROMOTE_FRACTION * last || p.lag > PROMOTE_MAX_LAG) {
      throw conflict(
        "learner-not-ready",
        `learner ${id} is not caught up yet (match index ${p?.match ?? 0} of ${last}); retry once it is`,
      );
    }
  }

  /** The book in effect with `added` (re)addressed and `removed` dropped. */
  private bookWith(added: readonly { id: NodeId; raft: string }[], removed: readonly NodeId[]) {
    const book = this.node.membership.current();
    const byId = new Map<NodeId, MemberAddress>(book.members.map((m) => [m.id, m]));
    for (const a of added) byId.set(a.id, { id: a.id, raft: a.raft });
    for (const id of removed) byId.delete(id);
    return { clusterId: book.clusterId, members: [...byId.values()].sort((a, b) => a.id - b.id) };
  }

  /**
   * A new cluster's founders cannot agree on a random id without talking: its first leader
   * draws one and commits it in a change that changes nothing else (membership.ts header).
   * Retried after every Ready until applied (a new leader first applies its earlier entries).
   */
  private maybeDrawClusterId(): void {
    if (this.drawing || this.node.membership.current().clusterId !== null) return;
    const s = this.node.status();
    if (s.role !== "leader" || isJoint(this.conf())) return;
    const book = { ...this.node.membership.current(), clusterId: newClusterId() };
    const self = s.id;
    this.drawing = true;
    this.node
      .proposeConfChange({
        changes: [{ type: "add-voter", node: self }],
        context: encodeBook(book),
      })
      .then(
        () => this.o.logger?.info({ clusterId: book.clusterId }, "drew the cluster id"),
        () => undefined,
      )
      .finally(() => {
        this.drawing = false;
      });
  }
}

function roleOf(conf: ConfState, id: NodeId): MemberRole {
  if (conf.voters.includes(id)) return "voter";
  if (conf.votersOutgoing.includes(id)) return "outgoing";
  return "learner";
}

function smallestUnused(conf: ConfState, removed: readonly NodeId[]): NodeId {
  const used = new Set([...confMembers(conf), ...removed]);
  let id = 1;
  while (used.has(id)) id++;
  return id;
}

function conflict(reason: RefusalReason, message: string): MemberRequestError {
  return new MemberRequestError(reason, message);
}
