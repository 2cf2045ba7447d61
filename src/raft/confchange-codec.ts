// The data of a "conf" log entry (types.ts ConfChangeEntry), hand-encoded because the core has
// no dependencies. Every integer is an unsigned LEB128 varint (node ids are safe integers, up
// to 2^53, so the arithmetic avoids 32-bit bit operations):
//
//   u8 version (1) | u8 transition (0 auto, 1 joint, 2 joint-explicit)
//   varint n | n x (u8 type (0 add-voter, 1 add-learner, 2 remove), varint node)
//   4 x (varint count | count x varint id)   voters, learners, votersOutgoing, learnersNext
//   u8 autoLeave (0 or 1) | varint context length | context bytes
//
// Decoding is strict (nothing may follow the context) and checks the configuration's
// invariants (confchange.ts confProblem), so the message schema (validate.ts) refuses a
// malformed conf entry like any other malformed field.

import { err, ok, type Result } from "../util/result.js";
import { confProblem } from "./confchange.js";
import type {
  ConfChangeEntry,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfState,
  NodeId,
} from "./types.js";

const VERSION = 1;
const TRANSITIONS: readonly ConfChangeTransition[] = ["auto", "joint", "joint-explicit"];
const TYPES: readonly ConfChangeSingle["type"][] = ["add-voter", "add-learner", "remove"];
const LISTS = ["voters", "learners", "votersOutgoing", "learnersNext"] as const;

export function encodeConfChangeEntry(e: ConfChangeEntry): Uint8Array {
  const out: number[] = [VERSION, TRANSITIONS.indexOf(e.transition)];
  varint(out, e.changes.length);
  for (const ch of e.changes) {
    out.push(TYPES.indexOf(ch.type));
    varint(out, ch.node);
  }
  for (const key of LISTS) {
    varint(out, e.conf[key].length);
    for (const id of e.conf[key]) varint(out, id);
  }
  out.push(e.conf.autoLeave ? 1 : 0);
  varint(out, e.context.length);
  const bytes = new Uint8Array(out.length + e.context.length);
  bytes.set(out);
  bytes.set(e.context, out.length);
  return bytes;
}

/** The entry's change and resulting configuration, or why `data` is not one. Never throws. */
export function decodeConfChangeEntry(data: Uint8Array): Result<ConfChangeEntry> {
  const r = new Reader(data);
  try {
    const version = r.byte();
    if (version !== VERSION) return err(`unknown conf entry version ${version}`);
    const transition = TRANSITIONS[r.byte()];
    if (transition === undefined) return err("unknown transition");
    const changes: ConfChangeSingle[] = [];
    for (let n = r.count(); n > 0; n--) {
      const type = TYPES[r.byte()];
      if (type === undefined) return err("unknown change type");
      changes.push({ type, node: r.id() });
    }
    const lists: NodeId[][] = [];
    for (const _ of LISTS) {
      const ids: NodeId[] = [];
      for (let n = r.count(); n > 0; n--) ids.push(r.id());
      lists.push(ids);
    }
    const autoLeave = r.byte();
    if (autoLeave > 1) return err("autoLeave must be 0 or 1");
    const context = r.bytes(r.count());
    if (!r.done()) return err("bytes after the context");
    const [voters, learners, votersOutgoing, learnersNext] = lists as [
      NodeId[],
      NodeId[],
      NodeId[],
      NodeId[],
    ];
    const conf: ConfState = {
      voters,
      learners,
      votersOutgoing,
      learnersNext,
      autoLeave: autoLeave === 1,
    };
    const p = confProblem(conf);
    if (p !== null) return err(`conf.${p.key}: ${p.what}`);
    return ok({ changes, transition, context, conf });
  } catch (e) {
    if (e instanceof Malformed) return err(e.message);
    throw e;
  }
}

function varint(out: number[], v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`confchange-codec: bad integer ${v}`);
  while (v >= 0x80) {
    out.push((v % 0x80) + 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** Thrown inside the reader only; decodeConfChangeEntry turns it into an error value. */
class Malformed extends Error {}

class Reader {
  private at = 0;
  constructor(private readonly data: Uint8Array) {}

  byte(): number {
    const b = this.data[this.at++];
    if (b === undefined) throw new Malformed("truncated conf entry");
    return b;
  }

  /** A varint no larger than Number.MAX_SAFE_INTEGER (8 groups of 7 bits suffice). */
  varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
    }
    throw new Malformed("truncated conf entry");
  }

  /** A length or count: never more than the bytes left (each item takes at least one). */
  count(): number {
    const n = this.varint();
    if (n > this.data.length - this.at) throw new Malformed("truncated conf entry");
    return n;
  }

  id(): NodeId {
    const id = this.varint();
    if (!Number.isSafeInteger(id) || id < 1) throw new Malformed(`bad node id ${id}`);
    return id;
  }

  bytes(n: number): Uint8Array {
    const out = this.data.slice(this.at, this.at + n);
    if (out.length !== n) throw new Malformed("truncated conf entry");
    this.at += n;
    return out;
  }

  done(): boolean {
    return this.at === this.data.length;
  }
}
