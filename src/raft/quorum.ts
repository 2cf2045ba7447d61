// Majority math over a voter set (Raft paper §5.2 elections, §5.3/§5.4 commitment), and over a
// configuration (the joint* functions, which the core uses): in a joint configuration C_old,new
// (thesis §4.3) an election or a commitment needs a majority of C_new's voters AND a majority of
// C_old's. Outside a change the outgoing half is empty, and an empty half agrees to everything,
// so the joint functions reduce to one majority. Learners are in neither half: they never count.

import type { ConfState, NodeId } from "./types.js";

/** Smallest number of voters that forms a majority. */
export function quorumSize(voters: readonly NodeId[]): number {
  return Math.floor(voters.length / 2) + 1;
}

/**
 * The highest index that a majority of voters hold: the quorum-th largest match index (the
 * "median" for odd clusters). The leader may commit it only if it is from its own term (§5.4.2).
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) throw new Error("quorum: empty voter set");
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  const m = matches[quorumSize(voters) - 1];
  if (m === undefined) throw new Error("quorum: index out of range");
  return m;
}

export type VoteResult = "won" | "lost" | "pending";

/** Tally of an election: won once a majority granted, lost once a majority can no longer grant. */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const q = quorumSize(voters);
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= q) return "won";
  if (voters.length - rejected < q) return "lost";
  return "pending";
}

/** True if the voters for which `active` holds form a majority (check-quorum, ReadIndex acks). */
export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  let n = 0;
  for (const id of voters) if (active(id)) n++;
  return n >= quorumSize(voters);
}

/**
 * The highest index a majority of each half holds: the smaller of the two halves' committed
 * indexes (an empty half constrains nothing).
 */
export function jointCommittedIndex(conf: ConfState, matchOf: (id: NodeId) => number): number {
  const incoming = committedIndex(conf.voters, matchOf);
  if (conf.votersOutgoing.length === 0) return incoming;
  return Math.min(incoming, committedIndex(conf.votersOutgoing, matchOf));
}

/** Won once both halves granted, lost once either half can no longer grant. */
export function jointVoteResult(conf: ConfState, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const incoming = voteResult(conf.voters, votes);
  const outgoing =
    conf.votersOutgoing.length === 0 ? "won" : voteResult(conf.votersOutgoing, votes);
  if (incoming === "lost" || outgoing === "lost") return "lost";
  if (incoming === "won" && outgoing === "won") return "won";
  return "pending";
}

/** True if the nodes for which `active` holds form a majority of each half. */
export function jointHasQuorum(conf: ConfState, active: (id: NodeId) => boolean): boolean {
  if (!hasQuorum(conf.voters, active)) return false;
  return conf.votersOutgoing.length === 0 || hasQuorum(conf.votersOutgoing, active);
}
