// The storage side of the mutation suite's planted bugs (src/raft/mutants.ts), shared by every
// Storage implementation so that a bug planted here shows whichever one the simulator runs.

import { mutant } from "../raft/mutants.js";
import type { HardState } from "../raft/types.js";

/** The hard state load() returns: a copy, which the lost-vote mutant hands back without its vote. */
export function loadedHardState(hs: HardState): HardState {
  return mutant("lost-vote") ? { ...hs, vote: 0 } : { ...hs };
}
