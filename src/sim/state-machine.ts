// The simulated application: each normal entry carries a command (UTF-8 text); the state is the
// history of applied commands, folded into a rolling hash, so snapshots stay a few bytes however
// long the run. The invariant checker compares these hashes across nodes (state machine safety,
// Raft paper §5.4.3) and the cluster keeps the command text of every committed index.

import type { Entry } from "../raft/types.js";
import { HASH_SEED, mixBytes } from "./hash.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: string | number): Uint8Array {
  return encoder.encode(String(cmd));
}

export function decodeCommand(data: Uint8Array): string {
  return decoder.decode(data);
}

export interface MachineState {
  /** Index of the last applied entry (snapshot index after a restore). */
  applied: number;
  /** Term of that entry. */
  appliedTerm: number;
  /** Rolling hash of every command applied so far, in order. */
  hash: number;
}

export class SimStateMachine {
  state: MachineState = { applied: 0, appliedTerm: 0, hash: HASH_SEED };

  /** Applies a committed entry: no-ops and conf entries advance the index only. */
  apply(e: Entry): string | null {
    const isCommand = e.type === "normal" && e.data.length > 0;
    this.state = {
      applied: e.index,
      appliedTerm: e.term,
      hash: isCommand ? mixBytes(this.state.hash, e.data) : this.state.hash,
    };
    return isCommand ? decodeCommand(e.data) : null;
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify(this.state));
  }

  /** Replace the state with a snapshot's. Returns an error message for malformed data. */
  restore(data: Uint8Array): string | null {
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(data));
    } catch {
      return "snapshot data is not JSON";
    }
    const s = parsed as Partial<MachineState> | null;
    if (
      !s ||
      !Number.isSafeInteger(s.applied) ||
      !Number.isSafeInteger(s.appliedTerm) ||
      !Number.isSafeInteger(s.hash)
    )
      return "snapshot data lacks applied/appliedTerm/hash";
    this.state = {
      applied: s.applied as number,
      appliedTerm: s.appliedTerm as number,
      hash: s.hash as number,
    };
    return null;
  }
}
