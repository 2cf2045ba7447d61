// The on-disk form of a ConfState, shared by the WAL's snapshot marker and the snapshot file:
//
//   [voters, learners, votersOutgoing, learnersNext, autoLeave (0 or 1)]
//
// Data written before learners and joint configurations existed holds the voter list alone
// (an array of ids); it decodes as that configuration with nothing else in it.

import { type ConfState, type NodeId, simpleConf } from "../raft/types.js";

export function encodeConf(c: ConfState): unknown[] {
  return [c.voters, c.learners, c.votersOutgoing, c.learnersNext, c.autoLeave ? 1 : 0];
}

const isId = (v: unknown): v is NodeId => Number.isSafeInteger(v) && (v as number) > 0;
const isIdList = (v: unknown): v is NodeId[] => Array.isArray(v) && v.every(isId);

/** The configuration, or null if `v` is neither form. */
export function decodeConf(v: unknown): ConfState | null {
  if (!Array.isArray(v)) return null;
  if (v.every(isId)) return simpleConf(v);
  const [voters, learners, votersOutgoing, learnersNext, autoLeave] = v as unknown[];
  if (
    v.length !== 5 ||
    !isIdList(voters) ||
    !isIdList(learners) ||
    !isIdList(votersOutgoing) ||
    !isIdList(learnersNext) ||
    (autoLeave !== 0 && autoLeave !== 1)
  )
    return null;
  return { voters, learners, votersOutgoing, learnersNext, autoLeave: autoLeave === 1 };
}
