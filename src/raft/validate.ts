// Shape checks for messages entering the core. Transports decode bytes into Messages, but the
// core does not trust them: a malformed message (wrong types, negative indexes, entries that do
// not follow prevIndex) is dropped, never allowed to corrupt state or throw (api.ts step()).

import type { Entry, Message, Snapshot } from "./types.js";

function isIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isIdList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((id) => isIndex(id) && id > 0);
}

function isEntry(e: unknown, index: number, maxTerm: number): e is Entry {
  if (typeof e !== "object" || e === null) return false;
  const x = e as Record<string, unknown>;
  return (
    x.index === index &&
    isIndex(x.term) &&
    x.term >= 1 &&
    x.term <= maxTerm &&
    (x.type === "normal" || x.type === "conf") &&
    x.data instanceof Uint8Array
  );
}

function isSnapshot(s: unknown): s is Snapshot {
  if (typeof s !== "object" || s === null) return false;
  const x = s as Record<string, unknown>;
  const md = x.metadata as Record<string, unknown> | null | undefined;
  if (typeof md !== "object" || md === null) return false;
  const conf = md.conf as Record<string, unknown> | null | undefined;
  return (
    x.data instanceof Uint8Array &&
    isIndex(md.index) &&
    md.index >= 1 &&
    isIndex(md.term) &&
    md.term >= 1 &&
    typeof conf === "object" &&
    conf !== null &&
    isIdList(conf.voters) &&
    conf.voters.length > 0 &&
    isIdList(conf.learners) &&
    isIdList(conf.votersOutgoing) &&
    isIdList(conf.learnersNext) &&
    typeof conf.autoLeave === "boolean"
  );
}

/** True if m is a structurally valid Message (semantic checks happen in the state machine). */
export function isWellFormed(m: unknown): m is Message {
  if (typeof m !== "object" || m === null) return false;
  const x = m as Record<string, unknown>;
  if (!isIndex(x.from) || !isIndex(x.to) || !isIndex(x.term) || x.term < 1) return false;
  if (x.from === 0 || x.to === 0) return false;
  switch (x.type) {
    case "vote":
    case "prevote":
      return (
        isIndex(x.lastLogIndex) &&
        isIndex(x.lastLogTerm) &&
        (x.transfer === undefined || typeof x.transfer === "boolean")
      );
    case "vote-resp":
    case "prevote-resp":
      return typeof x.granted === "boolean";
    case "app": {
      if (!isIndex(x.prevIndex) || !isIndex(x.prevTerm) || !isIndex(x.commit)) return false;
      if (!Array.isArray(x.entries)) return false;
      const prev = x.prevIndex;
      const term = x.term;
      return x.entries.every((e, k) => isEntry(e, prev + 1 + k, term));
    }
    case "app-resp":
      return (
        typeof x.success === "boolean" &&
        isIndex(x.matchIndex) &&
        isIndex(x.rejectIndex) &&
        isIndex(x.conflictTerm) &&
        isIndex(x.conflictIndex)
      );
    case "heartbeat":
      return isIndex(x.commit) && isIndex(x.ctx);
    case "heartbeat-resp":
      return isIndex(x.ctx);
    case "snap":
      return isSnapshot(x.snapshot);
    case "timeout-now":
      return true;
    default:
      return false;
  }
}
