// One-line renderings of messages, so protocol exchanges can be reviewed as text (in the manner
// of etcd-io/raft's interaction tests).
import type { Message } from "../../src/raft/types.js";

export function fmt(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case "vote":
    case "prevote":
      return `${head} last=${m.lastLogIndex}@${m.lastLogTerm}${m.transfer ? " transfer" : ""}`;
    case "vote-resp":
    case "prevote-resp":
      return `${head} ${m.granted ? "granted" : "rejected"}`;
    case "app":
      return `${head} prev=${m.prevIndex}@${m.prevTerm} entries=[${m.entries.map((e) => `${e.index}@${e.term}`).join(" ")}] commit=${m.commit}`;
    case "app-resp":
      return m.success
        ? `${head} ok match=${m.matchIndex}`
        : `${head} reject=${m.rejectIndex} hint=${m.conflictIndex}@${m.conflictTerm}`;
    case "heartbeat":
      return `${head} commit=${m.commit} ctx=${m.ctx}`;
    case "heartbeat-resp":
      return `${head} ctx=${m.ctx}`;
    case "snap":
      return `${head} snapshot=${m.snapshot.metadata.index}@${m.snapshot.metadata.term}`;
    case "timeout-now":
      return `${head} index=${m.index}`;
  }
}
