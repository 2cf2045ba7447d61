// The replicated command encoding: what the HTTP layer proposes and KvStateMachine.apply()
// decodes. msgpack with `useRecords: false` keeps the bytes self-describing and free of
// msgpackr's record extension, so a log written by one version stays readable.
//
// Wire shape (a msgpack array, positional to keep entries small):
//   [op, ts, key, value?, expect?, clientId?, requestId?]
// op: 1 put, 2 del, 3 append, 4 cas. ts: the proposing leader's clock in ms; it only ever moves
// session expiry forward (see state-machine.ts), so apply() never reads a local clock.
import { Packr } from "msgpackr";

/** Exactly-once identity of a write (README, "HTTP API"; Raft thesis §6.3). */
export interface Session {
  clientId: string;
  /** Decimal integer 1..2^53-1, increasing per client. */
  requestId: number;
}

interface Base {
  key: string;
  /** Leader timestamp (ms since epoch) taken at proposal time. */
  ts: number;
  session?: Session;
}

export type KvCommand =
  | (Base & { op: "put"; value: Uint8Array })
  | (Base & { op: "del" })
  | (Base & { op: "append"; value: Uint8Array })
  | (Base & { op: "cas"; expect: Uint8Array | null; value: Uint8Array });

const OP_CODES = { put: 1, del: 2, append: 3, cas: 4 } as const;

// copyBuffers: values outlive the entry buffer they were decoded from (the runtime may reuse it).
const packr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

export function encodeCommand(cmd: KvCommand): Uint8Array {
  const s = cmd.session;
  const value = cmd.op === "del" ? null : cmd.value;
  const expect = cmd.op === "cas" ? cmd.expect : null;
  const wire: unknown[] = [OP_CODES[cmd.op], cmd.ts, cmd.key, value, expect];
  if (s) wire.push(s.clientId, s.requestId);
  return packr.pack(wire);
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/**
 * Decode and validate a log entry's data. Returns a string describing the problem for bytes
 * that are not a command (entries come only from our own proposals, but the state machine must
 * stay deterministic and alive whatever the log holds).
 */
export function decodeCommand(data: Uint8Array): KvCommand | string {
  let wire: unknown;
  try {
    wire = packr.unpack(data);
  } catch {
    return "undecodable command";
  }
  if (!Array.isArray(wire) || (wire.length !== 5 && wire.length !== 7)) return "malformed command";
  const [op, ts, key, value, expect, clientId, requestId] = wire;
  if (typeof ts !== "number" || !Number.isFinite(ts)) return "malformed timestamp";
  if (typeof key !== "string") return "malformed key";
  let session: Session | undefined;
  if (wire.length === 7) {
    if (
      typeof clientId !== "string" ||
      !Number.isSafeInteger(requestId) ||
      (requestId as number) < 1
    )
      return "malformed session";
    session = { clientId, requestId: requestId as number };
  }
  const base = session ? { key, ts, session } : { key, ts };
  switch (op) {
    case OP_CODES.put:
    case OP_CODES.append:
      if (!isBytes(value)) return "malformed value";
      return { ...base, op: op === OP_CODES.put ? "put" : "append", value };
    case OP_CODES.del:
      return { ...base, op: "del" };
    case OP_CODES.cas:
      if (!isBytes(value) || !(expect === null || isBytes(expect))) return "malformed cas";
      return { ...base, op: "cas", expect, value };
    default:
      return "unknown operation";
  }
}
