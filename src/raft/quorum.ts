// Majority math over a voter set (Raft paper §5.2 elections, §5.3/§5.4 commitment). Kept apart
// from the state machine so joint consensus (§6 of the paper) can later replace "one majority"
// with "a majority of both configurations" in this file alone.

import type { NodeId } from "./types.js";

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
