// The trace model: one pass over a trace's records (src/sim/trace-schema.ts) builds everything
// the viewer draws, the summary counts and the narration tells, indexed by time:
//
//   events     every record in file order: time, kind, lane (node), message index
//   messages   each message fate (deliver or drop) as an arrow: id, sent, t, from, to, type,
//              fate, late/dup flags, drop reason
//   lanes      per node: role/term spans, down (crashed), paused and skewed spans, and a state
//              timeline (up, role, term, leader, last log index, commit, applied) answering
//              "the state after record i" and "the state at time t" by binary search
//   links      spans of time in which some directed link is cut, with each node's partition
//              group and the peers it cannot send to or hear from
//   commits, client operations (call .. return), the violation, the header and configuration
//
// Built incrementally (TraceModelBuilder.add per record, as the parser streams), frozen once
// (finish). Every series is sorted by time because records are; lookups are in lookup.ts.
// Runs in Node and in the viewer page alike: no imports beyond this folder and the schema.

import {
  type DropReason,
  MESSAGE_TYPES,
  RECORD_FIELDS,
  TRACE_VERSION,
  type TraceMessageType,
  type TraceRole,
} from "../trace-schema.js";
import { Column, lastAtOrBefore } from "./lookup.js";
import { type AnyRecord, TraceParser } from "./parse.js";

export const ROLES: readonly TraceRole[] = ["follower", "precandidate", "candidate", "leader"];
export const DROP_REASONS: readonly DropReason[] = [
  "self",
  "cut",
  "loss",
  "down",
  "not-a-peer",
  "corrupt",
  "sender-crash",
];
/** Code of a message type or drop reason this version does not know. */
export const UNKNOWN = 255;

export const FATE_DELIVERED = 0;
export const FATE_DROPPED = 1;
/** Message flags: held back on a long detour; the second copy of a duplicated message. */
export const FLAG_LATE = 1;
export const FLAG_DUP = 2;

/** Message records, as the columns of one table (index = message number, in record order). */
export interface MessageTable {
  count: number;
  /** Record index (0-based line number) of the fate. */
  seq: Int32Array;
  id: Float64Array;
  sent: Float64Array;
  /** Arrival time, or the drop time. */
  t: Float64Array;
  from: Int32Array;
  to: Int32Array;
  /** Index in MESSAGE_TYPES, or UNKNOWN. */
  type: Uint8Array;
  term: Float64Array;
  fate: Uint8Array;
  flags: Uint8Array;
  /** Index in DROP_REASONS (drops only), or UNKNOWN. */
  reason: Uint8Array;
  /** The longest time any message spent in flight (t - sent). */
  maxFlight: number;
}

/** Every record, as columns (index = record index = line number - 1). */
export interface EventTable {
  count: number;
  t: Float64Array;
  /** Index in `kinds`. */
  kind: Uint16Array;
  /** The node whose lane the record belongs to; 0 for cluster-wide records. */
  node: Int32Array;
  /** Index in MessageTable for deliver/drop records, -1 otherwise. */
  msg: Int32Array;
}

export interface Span {
  start: number;
  /** Exclusive; the trace's end for a span still open when it ended. */
  end: number;
  /** Record index that opened it. */
  seq: number;
}

export interface RoleSpan extends Span {
  role: string;
  term: number;
  leader: number;
}

export interface RateSpan extends Span {
  rate: number;
}

/** What the trace says about one node at one moment. */
export interface NodeState {
  /** Booted and not crashed. False before its first start, too. */
  up: boolean;
  paused: boolean;
  role: string;
  term: number;
  leader: number;
  /** Last index of its log on disk (start, sync, restore records). */
  last: number;
  /** Commit index: the higher of its disk's commit and what it applied. */
  commit: number;
  applied: number;
  /** Clock rate (skew), 1 normally. */
  rate: number;
}

const INITIAL: NodeState = {
  up: false,
  paused: false,
  role: "follower",
  term: 0,
  leader: 0,
  last: 0,
  commit: 0,
  applied: 0,
  rate: 1,
};

/** A node's NodeState after each record that changed it: binary search by record or time. */
export class StateTimeline {
  private readonly seqs = new Column(256);
  private readonly times = new Column(256);
  private readonly states: NodeState[] = [];
  private frozenSeqs: Float64Array | null = null;
  private frozenTimes: Float64Array | null = null;

  get current(): NodeState {
    return this.states[this.states.length - 1] ?? INITIAL;
  }

  /** Record that record `seq` at time `t` changed the state to `state`. */
  push(seq: number, t: number, state: NodeState): void {
    if (this.seqs.last() === seq) {
      this.states[this.states.length - 1] = state;
      return;
    }
    this.seqs.push(seq);
    this.times.push(t);
    this.states.push(state);
  }

  freeze(): void {
    this.frozenSeqs = this.seqs.freeze();
    this.frozenTimes = this.times.freeze();
  }

  /** The state right after record `seq` (INITIAL before the node's first record). */
  afterRecord(seq: number): NodeState {
    const i = lastAtOrBefore(this.frozenSeqs ?? this.seqs.freeze(), seq);
    return i < 0 ? INITIAL : (this.states[i] as NodeState);
  }

  /** The state after every record at or before time `t`. */
  atTime(t: number): NodeState {
    const i = lastAtOrBefore(this.frozenTimes ?? this.times.freeze(), t);
    return i < 0 ? INITIAL : (this.states[i] as NodeState);
  }

  get changes(): number {
    return this.states.length;
  }
}

export interface Lane {
  node: number;
  roles: RoleSpan[];
  /** Crashed (crash .. start). */
  down: Span[];
  paused: Span[];
  /** Clock running at another rate than 1. */
  skewed: RateSpan[];
  state: StateTimeline;
}

/** A node's view of the network during a LinkSpan. */
export interface NodeLinks {
  /**
   * 0: it reaches every node both ways. Otherwise nodes with the same group number reach each
   * other both ways and nobody else does (the sides of a partition).
   */
  group: number;
  /** Peers it cannot send to, and peers it cannot hear from. */
  noSend: number[];
  noHear: number[];
}

/** A stretch of time in which some link is cut. */
export interface LinkSpan extends Span {
  /** What is in force: "partition 1,2|3; cut 4→5; disconnected 2". */
  label: string;
  /** Per node of TraceModel.nodes (same order). */
  nodes: NodeLinks[];
  /** Number of partition groups (0 for one-way cuts only). */
  groups: number;
}

export interface Commit {
  seq: number;
  t: number;
  index: number;
  term: number;
  cmd: string | null;
}

export interface ClientOp {
  op: number;
  client: number;
  node: number;
  kind: string;
  key: string;
  value?: string;
  call: number;
  callSeq: number;
  /** Return time; null while it never returned (the trace ended first). */
  ret: number | null;
  retSeq: number;
  outcome: "ok" | "fail" | "timeout" | "pending";
  /** What a read returned. */
  result?: string | null;
  index?: number;
}

export interface Violation {
  seq: number;
  t: number;
  invariant: string;
  event: number;
  message: string;
}

export interface TraceModel {
  /** The header's format version; 0 for a trace without a header. */
  version: number;
  seed: number | string | null;
  /** Every node that appears, ascending (the header's members first among them). */
  nodes: number[];
  /** Time of the last record. */
  end: number;
  records: AnyRecord[];
  kinds: string[];
  /** Records per kind. */
  counts: Map<string, number>;
  /** Kinds this version does not know (from a newer simulator): kept, not interpreted. */
  unknownKinds: string[];
  warnings: string[];
  config: AnyRecord | null;
  /** When the liveness phase began (a `phase` record), or null. */
  livenessAt: number | null;
  events: EventTable;
  messages: MessageTable;
  lanes: Map<number, Lane>;
  links: LinkSpan[];
  commits: Commit[];
  ops: ClientOp[];
  violation: Violation | null;
  /** Sorted send times of the arrows leaving each node (aggregated drawing). */
  sendTimes: Map<number, Float64Array>;
  /** Sorted times of the drops of the arrows leaving each node. */
  dropTimes: Map<number, Float64Array>;
  /** Sorted times of the records of `kind` in `node`'s lane (computed on first use). */
  timesOf(kind: string, node: number): Float64Array;
  /** Every node's state right after record `seq`. */
  statesAfter(seq: number): Map<number, NodeState>;
  /** The link span in force right after record `seq`, or null if every link was up. */
  linksAfter(seq: number): LinkSpan | null;
}

const TYPE_CODE = new Map<string, number>(MESSAGE_TYPES.map((m, i) => [m, i]));
const REASON_CODE = new Map<string, number>(DROP_REASONS.map((r, i) => [r, i]));

/** The type name of a message type code. */
export function messageTypeName(code: number): TraceMessageType | "unknown" {
  return MESSAGE_TYPES[code] ?? "unknown";
}

class MessageColumns {
  readonly seq = new Column();
  readonly id = new Column();
  readonly sent = new Column();
  readonly t = new Column();
  readonly from = new Column();
  readonly to = new Column();
  readonly type = new Column();
  readonly term = new Column();
  readonly fate = new Column();
  readonly flags = new Column();
  readonly reason = new Column();
  maxFlight = 0;

  freeze(): MessageTable {
    return {
      count: this.seq.length,
      seq: Int32Array.from(this.seq.freeze()),
      id: this.id.freeze(),
      sent: this.sent.freeze(),
      t: this.t.freeze(),
      from: Int32Array.from(this.from.freeze()),
      to: Int32Array.from(this.to.freeze()),
      type: Uint8Array.from(this.type.freeze()),
      term: this.term.freeze(),
      fate: Uint8Array.from(this.fate.freeze()),
      flags: Uint8Array.from(this.flags.freeze()),
      reason: Uint8Array.from(this.reason.freeze()),
      maxFlight: this.maxFlight,
    };
  }
}

class LaneBuilder {
  readonly lane: Lane;
  private openRole: RoleSpan | null = null;
  private openDown: Span | null = null;
  private openPause: Span | null = null;
  private openSkew: RateSpan | null = null;

  constructor(node: number) {
    this.lane = { node, roles: [], down: [], paused: [], skewed: [], state: new StateTimeline() };
  }

  /** Apply `change` to the node's state as of record `seq` at `t`, and keep the spans in step. */
  change(seq: number, t: number, change: Partial<NodeState>): void {
    const prev = this.lane.state.current;
    const next = { ...prev, ...change };
    this.lane.state.push(seq, t, next);
    if (
      next.up !== prev.up ||
      next.role !== prev.role ||
      next.term !== prev.term ||
      next.leader !== prev.leader ||
      this.openRole === null
    ) {
      this.closeRole(t);
      if (next.up) {
        this.openRole = {
          start: t,
          end: t,
          seq,
          role: next.role,
          term: next.term,
          leader: next.leader,
        };
        this.lane.roles.push(this.openRole);
      }
    }
    if (next.paused !== prev.paused) {
      if (next.paused) {
        this.openPause = { start: t, end: t, seq };
        this.lane.paused.push(this.openPause);
      } else this.openPause = close(this.openPause, t);
    }
    if (next.rate !== prev.rate) {
      this.openSkew = close(this.openSkew, t);
      if (next.rate !== 1) {
        this.openSkew = { start: t, end: t, seq, rate: next.rate };
        this.lane.skewed.push(this.openSkew);
      }
    }
  }

  crash(seq: number, t: number, rec: AnyRecord): void {
    this.change(seq, t, {
      up: false,
      paused: false,
      last: rec.durableLast as number,
      term: rec.term as number,
      leader: 0,
    });
    this.openDown = { start: t, end: t, seq };
    this.lane.down.push(this.openDown);
  }

  start(seq: number, t: number, rec: AnyRecord): void {
    this.openDown = close(this.openDown, t);
    this.change(seq, t, {
      up: true,
      paused: false,
      role: "follower",
      term: rec.term as number,
      leader: 0,
      last: rec.last as number,
      commit: typeof rec.commit === "number" ? rec.commit : 0,
      applied: 0,
    });
  }

  finish(end: number): Lane {
    this.closeRole(end);
    close(this.openDown, end);
    close(this.openPause, end);
    close(this.openSkew, end);
    this.lane.state.freeze();
    return this.lane;
  }

  private closeRole(t: number): void {
    this.openRole = close(this.openRole, t);
  }
}

function close<S extends Span>(span: S | null, t: number): null {
  if (span) span.end = t;
  return null;
}

/**
 * Which directed links are cut, replaying partition/cut/heal/disconnect/connect with the
 * network's semantics (src/sim/network.ts): a partition replaces the cut set, a cut adds one
 * link, a heal restores everything, disconnect/connect toggle a node on top of the cuts.
 */
class LinkState {
  private readonly cut = new Set<string>();
  private readonly disconnected = new Set<number>();
  private partitionText = "";
  private cutTexts: string[] = [];

  apply(rec: AnyRecord, known: readonly number[]): boolean {
    switch (rec.ev) {
      case "partition": {
        const groups = parseGroups(rec.groups as string);
        this.cut.clear();
        this.cutTexts = [];
        const all = [...new Set([...known, ...groups.flat()])];
        for (const a of all)
          for (const b of all)
            if (a !== b && !groups.some((g) => g.includes(a) && g.includes(b)))
              this.cut.add(`${a}>${b}`);
        this.partitionText = `partition ${rec.groups as string}`;
        return true;
      }
      case "cut":
        this.cut.add(`${rec.from}>${rec.to}`);
        this.cutTexts.push(`cut ${rec.from}→${rec.to}`);
        return true;
      case "heal":
        this.cut.clear();
        this.disconnected.clear();
        this.partitionText = "";
        this.cutTexts = [];
        return true;
      case "disconnect":
        this.disconnected.add(rec.node as number);
        return true;
      case "connect":
        this.disconnected.delete(rec.node as number);
        return true;
      default:
        return false;
    }
  }

  canReach(a: number, b: number): boolean {
    return !this.disconnected.has(a) && !this.disconnected.has(b) && !this.cut.has(`${a}>${b}`);
  }

  /** The span this state defines from `start`, or null if no link among `nodes` is cut. */
  span(seq: number, start: number, nodes: readonly number[]): LinkSpan | null {
    let anyCut = false;
    const groupKeys = new Map<string, number>();
    const infos = nodes.map((a): NodeLinks => {
      const info: NodeLinks = { group: 0, noSend: [], noHear: [] };
      const side = [a];
      let cutBothWays = false;
      for (const b of nodes) {
        if (a === b) continue;
        const out = this.canReach(a, b);
        const inn = this.canReach(b, a);
        if (!out) info.noSend.push(b);
        if (!inn) info.noHear.push(b);
        if (out && inn) side.push(b);
        if (!out && !inn) cutBothWays = true;
      }
      if (info.noSend.length > 0 || info.noHear.length > 0) anyCut = true;
      // Cut off both ways from someone: it is on a side of a partition, with whomever it still
      // reaches both ways. (One-way cuts alone leave group 0: the lane is hatched instead.)
      if (cutBothWays) {
        const key = side.sort((x, y) => x - y).join(",");
        if (!groupKeys.has(key)) groupKeys.set(key, groupKeys.size + 1);
        info.group = groupKeys.get(key) as number;
      }
      return info;
    });
    if (!anyCut) return null;
    const parts = [this.partitionText, ...this.cutTexts];
    if (this.disconnected.size > 0)
      parts.push(`disconnected ${[...this.disconnected].sort((x, y) => x - y).join(",")}`);
    return {
      start,
      end: start,
      seq,
      label: parts.filter((p) => p !== "").join("; "),
      nodes: infos,
      groups: groupKeys.size,
    };
  }
}

/** "1,2|3,4" -> [[1, 2], [3, 4]]; "" -> [] (everyone in no group: all cut). */
export function parseGroups(text: string): number[][] {
  if (text.trim() === "") return [];
  return text.split("|").map((g) =>
    g
      .split(",")
      .filter((s) => s.trim() !== "")
      .map(Number),
  );
}

/** Builds a TraceModel from records fed in file order. */
export class TraceModelBuilder {
  private readonly records: AnyRecord[] = [];
  private readonly kinds: string[] = [];
  private readonly kindCode = new Map<string, number>();
  private readonly counts = new Map<string, number>();
  private readonly evT = new Column(4096);
  private readonly evKind = new Column(4096);
  private readonly evNode = new Column(4096);
  private readonly evMsg = new Column(4096);
  private readonly msgs = new MessageColumns();
  private readonly lanes = new Map<number, LaneBuilder>();
  private readonly known: number[] = [];
  private readonly linkState = new LinkState();
  private readonly links: LinkSpan[] = [];
  /** Every link record: its index and the span it opened (null: every link up again). */
  private readonly linkChangeSeqs = new Column(64);
  private readonly linkChangeSpans: (LinkSpan | null)[] = [];
  private openLink: LinkSpan | null = null;
  private readonly commits: Commit[] = [];
  private readonly ops = new Map<number, ClientOp>();
  private violation: Violation | null = null;
  private version = 0;
  private seed: number | string | null = null;
  private config: AnyRecord | null = null;
  private livenessAt: number | null = null;
  private readonly warnings: string[] = [];

  /** Add the next record (records arrive in file order, as the parser validated them). */
  add(rec: AnyRecord): void {
    const seq = this.records.length;
    this.records.push(rec);
    this.counts.set(rec.ev, (this.counts.get(rec.ev) ?? 0) + 1);
    let code = this.kindCode.get(rec.ev);
    if (code === undefined) {
      code = this.kinds.length;
      this.kinds.push(rec.ev);
      this.kindCode.set(rec.ev, code);
    }
    this.evT.push(rec.t);
    this.evKind.push(code);
    let node = typeof rec.node === "number" ? rec.node : 0;
    let msg = -1;
    switch (rec.ev) {
      case "trace":
        this.header(rec, seq);
        break;
      case "config":
        this.config = rec;
        break;
      case "phase":
        if (rec.phase === "liveness") this.livenessAt = rec.t;
        break;
      case "deliver":
      case "drop":
        msg = this.message(rec, seq);
        node = this.messageLane(rec);
        break;
      case "dup":
        node = rec.from as number;
        this.lane(node);
        this.lane(rec.to as number);
        break;
      case "partition":
      case "cut":
      case "heal":
      case "disconnect":
      case "connect":
        if (rec.ev === "cut") {
          this.lane(rec.from as number);
          this.lane(rec.to as number);
          node = rec.from as number;
        } else if (rec.ev === "disconnect" || rec.ev === "connect") this.lane(node);
        this.linkChange(rec, seq);
        break;
      case "role":
        // Only a running node changes role: a trace that lacks its start still shows it.
        this.lane(node).change(seq, rec.t, {
          up: true,
          role: rec.role as string,
          term: rec.term as number,
          leader: rec.leader as number,
        });
        break;
      case "sync":
        this.lane(node).change(seq, rec.t, {
          last: rec.last as number,
          commit: Math.max(rec.commit as number, this.lane(node).lane.state.current.applied),
        });
        break;
      case "apply": {
        const s = this.lane(node).lane.state.current;
        const index = rec.index as number;
        this.lane(node).change(seq, rec.t, { applied: index, commit: Math.max(s.commit, index) });
        break;
      }
      case "restore": {
        const s = this.lane(node).lane.state.current;
        const index = rec.index as number;
        this.lane(node).change(seq, rec.t, {
          applied: index,
          commit: Math.max(s.commit, index),
          last: Math.max(s.last, index),
        });
        break;
      }
      case "crash":
        this.lane(node).crash(seq, rec.t, rec);
        break;
      case "start":
        this.lane(node).start(seq, rec.t, rec);
        break;
      case "pause":
        this.lane(node).change(seq, rec.t, { paused: true });
        break;
      case "resume":
        this.lane(node).change(seq, rec.t, { paused: false });
        break;
      case "skew":
        this.lane(node).change(seq, rec.t, { rate: rec.rate as number });
        break;
      case "commit":
        this.commits.push({
          seq,
          t: rec.t,
          index: rec.index as number,
          term: rec.term as number,
          cmd: rec.cmd as string | null,
        });
        break;
      case "call":
        this.call(rec, seq);
        break;
      case "return":
        node = this.ret(rec, seq);
        break;
      case "violation":
        if (!this.violation)
          this.violation = {
            seq,
            t: rec.t,
            invariant: rec.invariant as string,
            event: rec.event as number,
            message: rec.message as string,
          };
        break;
      default:
        // Records with a node (timer, peer-lost, transfer, disk, ...) or none (new kinds).
        if (node > 0) this.lane(node);
        for (const f of ["peer", "to", "target"] as const)
          if (typeof rec[f] === "number" && (rec[f] as number) > 0) this.lane(rec[f] as number);
    }
    if (!Number.isSafeInteger(node) || node < 0) node = 0;
    this.evNode.push(node);
    this.evMsg.push(msg);
  }

  finish(): TraceModel {
    const records = this.records;
    const end = records.length > 0 ? (records[records.length - 1] as AnyRecord).t : 0;
    const nodes = [...this.lanes.keys()].sort((a, b) => a - b);
    if (this.openLink) this.openLink.end = end;
    this.openLink = null;
    // Spans were computed over the nodes known then: widen them to every lane.
    for (const span of this.links) span.nodes = this.alignLinks(span, nodes);
    const lanes = new Map<number, Lane>();
    for (const id of nodes) lanes.set(id, (this.lanes.get(id) as LaneBuilder).finish(end));
    for (const op of this.ops.values()) if (op.ret === null) op.outcome = "pending";
    const messages = this.msgs.freeze();
    const events: EventTable = {
      count: records.length,
      t: this.evT.freeze(),
      kind: Uint16Array.from(this.evKind.freeze()),
      node: Int32Array.from(this.evNode.freeze()),
      msg: Int32Array.from(this.evMsg.freeze()),
    };
    if (this.version === 0 && records.length > 0)
      this.warnings.push(
        "no header record: a trace from before format version 1 (messages have no send times)",
      );
    const unknownKinds = this.kinds.filter((k) => !KNOWN_KINDS.has(k));
    if (unknownKinds.length > 0)
      this.warnings.push(
        `record kinds this viewer does not know (shown, not interpreted): ${unknownKinds.join(", ")}`,
      );
    const kinds = this.kinds;
    const { sendTimes, dropTimes } = perNodeMessageTimes(messages, nodes);
    const timesCache = new Map<string, Float64Array>();
    const linkSeqs = this.linkChangeSeqs.freeze();
    const linkSpans = this.linkChangeSpans;
    return {
      version: this.version,
      seed: this.seed,
      nodes,
      end,
      records,
      kinds,
      counts: this.counts,
      unknownKinds,
      warnings: this.warnings,
      config: this.config,
      livenessAt: this.livenessAt,
      events,
      messages,
      lanes,
      links: this.links,
      commits: this.commits,
      ops: [...this.ops.values()],
      violation: this.violation,
      sendTimes,
      dropTimes,
      timesOf(kind: string, node: number): Float64Array {
        const key = `${kind}@${node}`;
        let times = timesCache.get(key);
        if (!times) {
          const code = kinds.indexOf(kind);
          const col = new Column();
          if (code >= 0)
            for (let i = 0; i < events.count; i++)
              if (events.kind[i] === code && events.node[i] === node)
                col.push(events.t[i] as number);
          times = col.freeze();
          timesCache.set(key, times);
        }
        return times;
      },
      statesAfter(seq: number): Map<number, NodeState> {
        return new Map(nodes.map((id) => [id, (lanes.get(id) as Lane).state.afterRecord(seq)]));
      },
      linksAfter(seq: number): LinkSpan | null {
        return linkSpans[lastAtOrBefore(linkSeqs, seq)] ?? null;
      },
    };
  }

  private lane(node: number): LaneBuilder {
    let lane = this.lanes.get(node);
    if (!lane) {
      lane = new LaneBuilder(node);
      this.lanes.set(node, lane);
      this.known.push(node);
    }
    return lane;
  }

  private header(rec: AnyRecord, seq: number): void {
    if (seq !== 0) this.warnings.push(`a second header at line ${seq + 1} (ignored)`);
    if (seq !== 0) return;
    this.version = rec.v as number;
    this.seed = rec.seed as number | string;
    for (const id of rec.nodes as number[]) this.lane(id);
    if (this.version > TRACE_VERSION)
      this.warnings.push(
        `trace format version ${this.version} is newer than this viewer's (${TRACE_VERSION}): ` +
          "what it added is not shown",
      );
  }

  private message(rec: AnyRecord, seq: number): number {
    const from = rec.from as number;
    const to = rec.to as number;
    this.lane(from);
    this.lane(to);
    const m = this.msgs;
    // A trace from before version 1 has no send times: the arrow then has no length.
    const sent = typeof rec.sent === "number" ? rec.sent : rec.t;
    m.seq.push(seq);
    m.id.push(typeof rec.id === "number" ? rec.id : 0);
    m.sent.push(sent);
    m.t.push(rec.t);
    m.from.push(from);
    m.to.push(to);
    m.type.push(TYPE_CODE.get(rec.type as string) ?? UNKNOWN);
    m.term.push(rec.term as number);
    m.fate.push(rec.ev === "deliver" ? FATE_DELIVERED : FATE_DROPPED);
    m.flags.push((rec.late === true ? FLAG_LATE : 0) | (rec.dup === true ? FLAG_DUP : 0));
    m.reason.push(rec.ev === "drop" ? (REASON_CODE.get(rec.reason as string) ?? UNKNOWN) : 0);
    m.maxFlight = Math.max(m.maxFlight, rec.t - sent);
    return m.seq.length - 1;
  }

  /** A message fate's lane: where it happened (the sender's for a drop at send time). */
  private messageLane(rec: AnyRecord): number {
    if (rec.ev === "deliver") return rec.to as number;
    const atSend = rec.reason === "loss" || rec.reason === "self" || rec.t === rec.sent;
    return (atSend ? rec.from : rec.to) as number;
  }

  private linkChange(rec: AnyRecord, seq: number): void {
    if (!this.linkState.apply(rec, this.known)) return;
    if (this.openLink) this.openLink.end = rec.t;
    this.openLink = this.linkState.span(seq, rec.t, this.known);
    if (this.openLink) this.links.push(this.openLink);
    this.linkChangeSeqs.push(seq);
    this.linkChangeSpans.push(this.openLink);
  }

  /** A span's per-node info for `nodes` (lanes first seen after it are not cut by it). */
  private alignLinks(span: LinkSpan, nodes: number[]): NodeLinks[] {
    const known = this.known;
    return nodes.map((id) => {
      const i = known.indexOf(id);
      return span.nodes[i] ?? { group: 0, noSend: [], noHear: [] };
    });
  }

  private call(rec: AnyRecord, seq: number): void {
    const node = rec.node as number;
    this.lane(node);
    this.ops.set(rec.op as number, {
      op: rec.op as number,
      client: rec.client as number,
      node,
      kind: rec.kind as string,
      key: rec.key as string,
      ...(typeof rec.value === "string" ? { value: rec.value } : {}),
      call: rec.t,
      callSeq: seq,
      ret: null,
      retSeq: -1,
      outcome: "pending",
    });
  }

  /** Returns the lane of the operation's node (0 for an op never called). */
  private ret(rec: AnyRecord, seq: number): number {
    const op = this.ops.get(rec.op as number);
    if (!op) {
      this.warnings.push(`line ${seq + 1}: return of operation ${rec.op} that was never called`);
      return 0;
    }
    op.ret = rec.t;
    op.retSeq = seq;
    op.outcome = rec.outcome === "ok" || rec.outcome === "fail" ? rec.outcome : "timeout";
    if (rec.value !== undefined) op.result = rec.value as string | null;
    if (typeof rec.index === "number") op.index = rec.index;
    return op.node;
  }
}

const KNOWN_KINDS = new Set(Object.keys(RECORD_FIELDS));

function perNodeMessageTimes(
  m: MessageTable,
  nodes: number[],
): { sendTimes: Map<number, Float64Array>; dropTimes: Map<number, Float64Array> } {
  const sends = new Map<number, Column>(nodes.map((id) => [id, new Column()]));
  const drops = new Map<number, Column>(nodes.map((id) => [id, new Column()]));
  for (let i = 0; i < m.count; i++) {
    const from = m.from[i] as number;
    sends.get(from)?.push(m.sent[i] as number);
    if (m.fate[i] === FATE_DROPPED) drops.get(from)?.push(m.t[i] as number);
  }
  const sorted = (cols: Map<number, Column>) =>
    new Map([...cols].map(([id, col]) => [id, col.freeze().sort()]));
  return { sendTimes: sorted(sends), dropTimes: sorted(drops) };
}

/** Parse a whole trace text into a model (tests, small traces). Throws TraceParseError. */
export function modelFromText(text: string): TraceModel {
  const builder = new TraceModelBuilder();
  const parser = new TraceParser((rec) => builder.add(rec));
  parser.push(text);
  parser.end();
  return builder.finish();
}
