// The simulated application: each normal entry carries a command (UTF-8 text); the state is the
// history of applied commands, folded into a rolling hash, plus a tiny key-value map the
// simulated clients write and read (`KEY=VALUE` sets KEY; any other text only counts). The map
// holds one value per key of a small key space, so snapshots stay a few bytes however long the
// run. The invariant checker compares the hashes across nodes (state machine safety, Raft paper
// §5.4.3), the cluster keeps the command text of every committed index, and the client history
// of puts and reads is checked for linearizability (client.ts).

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

/** `KEY=VALUE`: a put of VALUE under KEY (keys never contain `=`). */
export function putCommand(key: string, value: string): string {
  return `${key}=${value}`;
}

export interface MachineState {
  /** Index of the last applied entry (snapshot index after a restore). */
  applied: number;
  /** Term of that entry. */
  appliedTerm: number;
  /** Rolling hash of every command applied so far, in order. */
  hash: number;
  /** The clients' keys and their latest values. */
  kv: Record<string, string>;
}

export class SimStateMachine {
  state: MachineState = { applied: 0, appliedTerm: 0, hash: HASH_SEED, kv: {} };

  /** Applies a committed entry: no-ops and conf entries advance the index only. */
  apply(e: Entry): string | null {
    const isCommand = e.type === "normal" && e.data.length > 0;
    const s = this.state;
    s.applied = e.index;
    s.appliedTerm = e.term;
    if (!isCommand) return null;
    s.hash = mixBytes(s.hash, e.data);
    const command = decodeCommand(e.data);
    const eq = command.indexOf("=");
    if (eq > 0) s.kv[command.slice(0, eq)] = command.slice(eq + 1);
    return command;
  }

  /** The value of `key` in the applied state (null: never written). */
  get(key: string): string | null {
    return Object.hasOwn(this.state.kv, key) ? (this.state.kv[key] as string) : null;
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
      !Number.isSafeInteger(s.hash) ||
      typeof s.kv !== "object" ||
      s.kv === null ||
      !Object.values(s.kv).every((v) => typeof v === "string")
    )
      return "snapshot data lacks applied/appliedTerm/hash/kv";
    this.state = {
      applied: s.applied as number,
      appliedTerm: s.appliedTerm as number,
      hash: s.hash as number,
      kv: { ...s.kv },
    };
    return null;
  }
}
