// Membership math (Raft thesis §4.3 joint consensus, in etcd-io/raft's confchange shape): from a
// configuration and a requested change to the next configuration, or a clear reason why not.
// Pure functions over ConfState (types.ts); the core decides when a change may be proposed and
// when it takes effect (raw-node.ts), quorum.ts counts majorities.
//
//   simple change          C ---------------------------------> C'   (at most one voter differs)
//   joint change           C_old ---> C_old,new ---> C_new           (enterJoint, then leaveJoint)
//                                     votersOutgoing = C_old's voters, voters = C_new's
//
// A learner cannot be a voter of either half; a voter of C_old demoted to learner waits in
// learnersNext until the joint configuration is left (etcd's LearnersNext).

import { err, ok, type Result } from "../util/result.js";
import type {
  ConfChange,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfState,
  NodeId,
} from "./types.js";
import { copyConf } from "./types.js";

const TRANSITIONS: readonly ConfChangeTransition[] = ["auto", "joint", "joint-explicit"];

/** True for a joint configuration C_old,new (thesis §4.3). */
export function isJoint(c: ConfState): boolean {
  return c.votersOutgoing.length > 0;
}

/** True if `id` votes in either half of `c`. */
export function isVoter(c: ConfState, id: NodeId): boolean {
  return c.voters.includes(id) || c.votersOutgoing.includes(id);
}

/** Every node the configuration replicates to (voters of both halves and learners), ascending. */
export function members(c: ConfState): NodeId[] {
  const all = new Set([...c.voters, ...c.votersOutgoing, ...c.learners, ...c.learnersNext]);
  return [...all].sort((a, b) => a - b);
}

/**
 * The first broken ConfState invariant (types.ts), as the offending key and a sentence, or null.
 * One definition: the message schema (validate.ts) and the change functions below both use it.
 */
export function confProblem(c: ConfState): { key: keyof ConfState; what: string } | null {
  for (const key of ["voters", "learners", "votersOutgoing", "learnersNext"] as const) {
    const ids = c[key];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (!Number.isSafeInteger(id) || id < 1) return { key, what: `bad node id ${id}` };
      if (i > 0 && id <= (ids[i - 1] as number))
        return { key, what: id === ids[i - 1] ? "duplicate id" : "ids must be ascending" };
    }
  }
  if (c.voters.length === 0)
    return { key: "voters", what: "a configuration needs at least one voter" };
  for (const id of c.learners)
    if (isVoter(c, id))
      return { key: "learners", what: `node ${id} is both a learner and a voter` };
  for (const id of c.learnersNext) {
    if (!c.votersOutgoing.includes(id) || c.voters.includes(id) || c.learners.includes(id))
      return {
        key: "learnersNext",
        what: `node ${id} is not an outgoing voter leaving the voters`,
      };
  }
  if (!isJoint(c) && c.autoLeave)
    return {
      key: "autoLeave",
      what: "only a joint configuration (with outgoing voters) can leave",
    };
  return null;
}

/**
 * The configuration `cc` leads to from `c` (etcd's ConfChangeV2 semantics): leaving the joint
 * configuration when `changes` is empty, else a simple change when the transition allows it and
 * at most one voter changes, else entering a joint configuration.
 */
export function applyConfChange(c: ConfState, cc: ConfChange): Result<ConfState> {
  // Checked here too, for callers without the types (the change may come from a request).
  if (!Array.isArray(cc.changes)) return err("changes must be an array");
  const transition = cc.transition ?? "auto";
  if (!TRANSITIONS.includes(transition)) return err(`unknown transition ${String(transition)}`);
  if (cc.changes.length === 0) return leaveJoint(c);
  if (transition === "auto" && !isJoint(c)) {
    const next = copyConf(c);
    const applied = applyEach(next, cc.changes);
    if (!applied.ok) return applied;
    if (votersChanged(c, next) <= 1) return checked(next);
  }
  return enterJoint(c, transition !== "joint-explicit", cc.changes);
}

/**
 * A change of at most one voter without a joint configuration (thesis §4.1): any majority of
 * the old voters and any majority of the new ones then intersect.
 */
export function simpleChange(
  c: ConfState,
  changes: readonly ConfChangeSingle[],
): Result<ConfState> {
  if (isJoint(c))
    return err("a simple change cannot be made in a joint configuration; leave it first");
  const next = copyConf(c);
  const applied = applyEach(next, changes);
  if (!applied.ok) return applied;
  const n = votersChanged(c, next);
  if (n > 1) return err(`more than one voter changed (${n}) without a joint configuration`);
  return checked(next);
}

/** How many nodes are voters in exactly one of a and b (the symmetric difference). */
function votersChanged(a: ConfState, b: ConfState): number {
  let n = 0;
  for (const id of a.voters) if (!b.voters.includes(id)) n++;
  for (const id of b.voters) if (!a.voters.includes(id)) n++;
  return n;
}

/**
 * C_old -> C_old,new (thesis §4.3): C_old's voters become the outgoing half, the changes are made
 * to the incoming half. With `autoLeave` the leader leaves it on its own once it is applied.
 */
export function enterJoint(
  c: ConfState,
  autoLeave: boolean,
  changes: readonly ConfChangeSingle[],
): Result<ConfState> {
  if (isJoint(c)) return err("the configuration is already joint; leave it first");
  const next = copyConf(c);
  next.votersOutgoing = c.voters.slice();
  const applied = applyEach(next, changes);
  if (!applied.ok) return applied;
  next.autoLeave = autoLeave;
  return checked(next);
}

/** C_old,new -> C_new: the outgoing half goes, the voters it demoted become learners. */
export function leaveJoint(c: ConfState): Result<ConfState> {
  if (!isJoint(c)) return err("the configuration is not joint: there is nothing to leave");
  const next = copyConf(c);
  next.learners = sorted([...c.learners, ...c.learnersNext]);
  next.learnersNext = [];
  next.votersOutgoing = [];
  next.autoLeave = false;
  return checked(next);
}

/** Applies each single change to the incoming half of `c` (mutated), in order. */
function applyEach(c: ConfState, changes: readonly ConfChangeSingle[]): Result<void> {
  for (const ch of changes) {
    if (typeof ch !== "object" || ch === null) return err("a change must be an object");
    const id = ch.node;
    if (!Number.isSafeInteger(id) || id < 1) return err(`bad node id ${id}`);
    switch (ch.type) {
      case "add-voter":
        // Also a promotion: a learner (or a demoted voter waiting in learnersNext) votes again.
        c.learners = without(c.learners, id);
        c.learnersNext = without(c.learnersNext, id);
        c.voters = sorted([...c.voters, id]);
        break;
      case "add-learner":
        if (c.learners.includes(id)) break;
        c.voters = without(c.voters, id);
        // Still a voter of C_old: it becomes a learner only when the joint config is left.
        if (c.votersOutgoing.includes(id)) c.learnersNext = sorted([...c.learnersNext, id]);
        else c.learners = sorted([...c.learners, id]);
        break;
      case "remove":
        if (!c.voters.includes(id) && !c.learners.includes(id) && !c.learnersNext.includes(id))
          return err(`node ${id} is not a member`);
        c.voters = without(c.voters, id);
        c.learners = without(c.learners, id);
        c.learnersNext = without(c.learnersNext, id);
        break;
      default:
        return err(`unknown change type ${String((ch as { type: unknown }).type)}`);
    }
  }
  if (c.voters.length === 0) return err("the change would leave no voter");
  return ok(undefined);
}

function checked(c: ConfState): Result<ConfState> {
  const p = confProblem(c);
  // The functions above keep the invariants; a failure here is a bug in them.
  if (p !== null)
    throw new Error(`confchange: produced an invalid configuration: ${p.key}: ${p.what}`);
  return ok(c);
}

function without(ids: readonly NodeId[], id: NodeId): NodeId[] {
  return ids.filter((x) => x !== id);
}

function sorted(ids: readonly NodeId[]): NodeId[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}
