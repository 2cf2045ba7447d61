// The simulator's trace format: one JSON object per line (JSON Lines), in the order things
// happened. This file is the format's definition: every record kind the simulator writes today
// and the ones planned (disk faults, membership), with what each field
// means. Readers (src/sim/view/, the viewer page, `raftwork sim summary`) and writers
// (network.ts, cluster.ts, runner.ts) both follow it.
//
// Rules every record keeps:
//   - Keys come in a fixed order: `t`, `ev`, then the fields in the order its interface below
//     lists them; optional fields, when present, in the same order. The hot paths build lines
//     by hand, and the trace hash (sha256 of the text) must not depend on anything but the run.
//   - `t` is virtual time in milliseconds since the run started, never decreasing from one
//     line to the next. Records with the same `t` are in the order they happened.
//   - Node ids are positive integers. A field is absent rather than null, unless documented.
//   - The first record is the header (`trace`), whose `v` is TRACE_VERSION.
//
// Versioning: adding a record kind or an optional field keeps the version; readers skip kinds
// they do not know and ignore fields they do not know (a newer trace still opens in an older
// viewer). Removing a field, or changing what one means, bumps TRACE_VERSION.
//
// Messages are the bulk of a trace. Every message the network accepts for sending gets an id
// (`id`, 1, 2, ... in send order); its fate is one record: `deliver`, or `drop` with a reason.
// A duplicated message has a `dup` record at send time and two fates, the copy's carrying
// `dup: true`. The space-time diagram draws each fate as an arrow from (from, sent) to (to, t).
//
//   send at `sent` ──► drop (reason self | cut | loss)         at t = sent: never left
//                 ├──► dup                                     at t = sent: a second copy made
//                 └──► in flight ──► deliver                   at t >= sent
//                                └──► drop (reason cut | down | corrupt) at t >= sent

/** The trace format version this code writes and reads (see the versioning rule above). */
export const TRACE_VERSION = 1;

/** The raft message types a message record's `type` names (src/raft/types.ts, MessageType). */
export const MESSAGE_TYPES = [
  "prevote",
  "prevote-resp",
  "vote",
  "vote-resp",
  "app",
  "app-resp",
  "heartbeat",
  "heartbeat-resp",
  "snap",
  "timeout-now",
] as const;
export type TraceMessageType = (typeof MESSAGE_TYPES)[number];

/** Why a message was not delivered. */
export type DropReason =
  /** Sent to itself (the core never does this; the network refuses it). */
  | "self"
  /** The link from `from` to `to` was cut (partition, one-way cut, disconnect): at send or arrival. */
  | "cut"
  /** Lost by the network (the `drop` fault), decided at send time. */
  | "loss"
  /** The receiver was down (crashed) when the message arrived. */
  | "down"
  /** The sender's transport does not count `to` among its peers (after setPeers). */
  | "not-a-peer"
  /** The `corrupt` fault: a bit flipped in flight; the receiver's frame checksum rejected it. */
  | "corrupt"
  /** Still in its sender's socket buffers when the sender lost power (the `crash` fault). */
  | "sender-crash";

export type TraceRole = "follower" | "precandidate" | "candidate" | "leader";

interface Rec<K extends string> {
  /** Virtual time, ms since the start of the run; never decreases along the file. */
  t: number;
  /** The record kind. */
  ev: K;
}

// ---------------------------------------------------------------------------------------------
// Header and configuration

/** First line of every trace (written by SimCluster when it is given a trace). */
export interface HeaderRecord extends Rec<"trace"> {
  /** TRACE_VERSION of the writer. */
  v: number;
  /** The cluster's initial members, ascending. */
  nodes: number[];
  /** The run's seed as given (a number from the CLI; tests may use strings). */
  seed: number | string;
}

/**
 * The core and timing configuration the run used (drawn from the seed with `--config random`),
 * right after the header, with the keys and order of `--json`'s `config` (src/sim/config.ts).
 */
export interface ConfigRecord extends Rec<"config"> {
  maxEntriesPerMsg: number;
  maxBytesPerMsg: number;
  maxInflight: number;
  preVote: boolean;
  checkQuorum: boolean;
  electionTick: number;
  heartbeatTick: number;
  snapshotEvery: number;
  /** The fsync latency profile's name. */
  fsync: string;
  /** Readys in flight in the driver (1: one at a time). */
  pipeline?: number;
  /** Probes carry no entries (api.ts RaftConfig.emptyProbes). */
  emptyProbes?: boolean;
}

/** The run moved to another phase (`faults` from the start; `liveness`: faults stopped, healed, waiting for a commit). */
export interface PhaseRecord extends Rec<"phase"> {
  phase: "faults" | "liveness";
  /**
   * `faults` only: the run's options a replay needs (src/sim/replay.ts): the enabled faults
   * (comma-separated, or `none`), the end of the fault phase in virtual ms, and how the
   * configuration was chosen (`random`, `default`, or `given` by a program: no CLI replay).
   */
  faults?: string;
  until?: number;
  config?: "random" | "default" | "given";
}

// ---------------------------------------------------------------------------------------------
// Messages (network.ts). Shape: t, ev, id, sent, type, from, to, term, then the payload summary
// of `type` (MessagePayload, in its order), then late, dup, reason.

/** What a message carried, summarised (no entry data). Which keys appear depends on `type`. */
export interface MessagePayload {
  /** app: the index and term of the entry before the new ones (§5.3). */
  prev?: number;
  prevTerm?: number;
  /** app: number of entries carried (0: a probe or an empty append). */
  n?: number;
  /** app, heartbeat: the leader's commit index. */
  commit?: number;
  /** heartbeat, heartbeat-resp: ReadIndex round id, present when non-zero (thesis §6.4). */
  ctx?: number;
  /** app-resp: true if the follower's log matched. */
  ok?: boolean;
  /** app-resp with ok: the last index known to match the leader's log. */
  match?: number;
  /** app-resp without ok: the rejected request's prev index. */
  reject?: number;
  /** vote, prevote: the candidate's last log index and term (§5.4.1 up-to-date check). */
  lastIndex?: number;
  lastTerm?: number;
  /** vote, prevote: present (true) when campaigning for a leader transfer (thesis §3.10). */
  transfer?: boolean;
  /** vote-resp, prevote-resp. */
  granted?: boolean;
  /** snap: the last index the snapshot covers. */
  index?: number;
}

interface MessageFields extends MessagePayload {
  /** The message's id: 1, 2, ... in send order across the run. Both copies of a dup share it. */
  id: number;
  /** When it was sent (equal to `t` for a drop at send time and for `dup`). */
  sent: number;
  type: TraceMessageType;
  from: number;
  to: number;
  /** The sender's term when it sent the message. */
  term: number;
  /** Present (true) when the network held this copy back on a long detour (the `delay` fault). */
  late?: boolean;
  /** Present (true) on the fate of the second copy of a duplicated message. */
  dup?: boolean;
}

/** The message arrived at `to` and was handed to its core at `t`. */
export interface DeliverRecord extends Rec<"deliver">, MessageFields {}

/** The message never reached `to`'s core. */
export interface DropRecord extends Rec<"drop">, MessageFields {
  reason: DropReason;
}

/** The network will deliver a second copy of message `id` (the `dup` fault), recorded at send. */
export interface DupRecord extends Rec<"dup">, MessageFields {}

export type MessageRecord = DeliverRecord | DropRecord | DupRecord;

// ---------------------------------------------------------------------------------------------
// Links (network.ts). The viewer replays these to know which directed links are cut when.

/**
 * Every link between nodes that share no group is cut; every other link is restored (a
 * partition replaces earlier partitions and one-way cuts, not disconnects). Groups are
 * separated by `|`, ids in a group by `,`: `"1,2|3,4,5"`. A node in no group is cut off from
 * everyone. A bridge partition has a node in two groups (`"1,2,3|3,4,5"`: 3
 * reaches both sides, 1 and 5 do not reach each other).
 */
export interface PartitionRecord extends Rec<"partition"> {
  groups: string;
}

/** The one-way link from `from` to `to` is cut (the other direction is untouched). */
export interface CutRecord extends Rec<"cut"> {
  from: number;
  to: number;
}

/**
 * From now on every message from `from` to `to` is held back `ms` longer (the `delay` fault's
 * slow links); `ms` 0 ends it. The heal ends every slow link.
 */
export interface SlowRecord extends Rec<"slow"> {
  from: number;
  to: number;
  ms: number;
}

/** Every cut link is restored and every disconnected node reconnected. */
export type HealRecord = Rec<"heal">;

/** `node` is cut off from everyone, both ways (the 6.5840 lab's disconnect). */
export interface DisconnectRecord extends Rec<"disconnect"> {
  node: number;
}

/** `node`'s disconnect ends (partitions and cuts stay as they are). */
export interface ConnectRecord extends Rec<"connect"> {
  node: number;
}

/**
 * The network told `node` that `peer` is gone (its connections closed), a hint for the core
 * (RawNodeApi.forgetLeader). The `alarm` fault: `alarm: true` marks a false report:
 * `peer` is up and reachable.
 */
export interface PeerLostRecord extends Rec<"peer-lost"> {
  node: number;
  peer: number;
  alarm?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Nodes (cluster.ts)

/**
 * `node`'s role, term or known leader changed (a Ready's soft state, or its hard state's term).
 * After a `start` a node is a follower of its persisted term with no known leader until a
 * `role` record says otherwise.
 */
export interface RoleRecord extends Rec<"role"> {
  node: number;
  role: TraceRole;
  term: number;
  /** The leader `node` knows of, 0 if none. */
  leader: number;
}

/**
 * A timer fired in `node`'s core (api.ts TimerFired): `election` (it campaigns), `heartbeat`
 * (the leader broadcast heartbeats), `check-quorum` (the leader stepped down), `transfer` (an
 * abandoned leader transfer). Optional for older traces, which did not say which.
 */
export interface TimerRecord extends Rec<"timer"> {
  node: number;
  timer?: string;
}

/**
 * An fsync finished at `node`: everything written before it is durable. `last` is the last
 * index of its log and `commit` the commit index of its hard state, as now on disk.
 */
export interface SyncRecord extends Rec<"sync"> {
  node: number;
  last: number;
  commit: number;
}

/**
 * Index `index` was applied for the first time anywhere: from now on it is committed (the
 * simulator's proof of commitment). `cmd` is the client command, null for no-ops and conf entries.
 */
export interface CommitRecord extends Rec<"commit"> {
  index: number;
  term: number;
  cmd: string | null;
}

/** `node` applied log entry `index` to its state machine. */
export interface ApplyRecord extends Rec<"apply"> {
  node: number;
  index: number;
}

/** `node`'s state machine was replaced by a snapshot up to `index` (installed, or at restart). */
export interface RestoreRecord extends Rec<"restore"> {
  node: number;
  index: number;
  term: number;
}

/** `node` snapshotted its state machine and compacted its log up to `index`. */
export interface CompactRecord extends Rec<"compact"> {
  node: number;
  index: number;
}

/**
 * `node` lost power (or stopped). `durableLast` is the last log index its disk kept, `term` the
 * term on disk. `point` says where in the Ready cycle it stopped (`after-send`: the leader's
 * traffic left, the batch written but not synced; `after-fsync`: synced, replies not sent;
 * absent: anywhere). Planned: `reason` why if not the nemesis (`disk`: a failed write or fsync
 * stopped it; `error`: the core threw).
 */
export interface CrashRecord extends Rec<"crash"> {
  node: number;
  durableLast: number;
  term: number;
  point?: string;
  reason?: string;
}

/** `node` booted from its disk: last log index `last`, persisted term and commit. */
export interface StartRecord extends Rec<"start"> {
  node: number;
  last: number;
  term: number;
  commit: number;
}

// ---------------------------------------------------------------------------------------------
// Faults (issue 11; `disk` is planned). Each starts and ends with its own record: the heal at the end of
// the fault phase writes the ending record for whatever it ends, so a reader need not know what
// the heal implies.

/** `node` stops processing (no ticks, no messages handled) until `resume`; `ms` is the plan. */
export interface PauseRecord extends Rec<"pause"> {
  node: number;
  ms: number;
}

export interface ResumeRecord extends Rec<"resume"> {
  node: number;
}

/** From now on `node`'s clock runs at `rate` times virtual time (1: true time again). */
export interface SkewRecord extends Rec<"skew"> {
  node: number;
  rate: number;
}

/** The nemesis asked leader `node` to hand leadership to `to`; `ok` if the core took it. */
export interface TransferRecord extends Rec<"transfer"> {
  node: number;
  to: number;
  ok: boolean;
}

/**
 * A disk fault at `node`: `eio` (the next write or fsync fails: a `crash` with reason `disk`
 * follows), `stall` (fsyncs take `ms` longer until `stall-end`), `full` (ENOSPC until `space`).
 */
export interface DiskRecord extends Rec<"disk"> {
  node: number;
  fault: "eio" | "stall" | "stall-end" | "full" | "space";
  ms?: number;
}

// ---------------------------------------------------------------------------------------------
// Client operations (src/sim/client.ts): the history the linearizability
// checker sees (src/sim/linearizability.ts, KvOperation), one `call` and one `return` per op.

/** Client `client` issued operation `op` (1, 2, ... across the run) to `node`. */
export interface CallRecord extends Rec<"call"> {
  op: number;
  client: number;
  node: number;
  /** The operation: a write (put, append, del, cas) or a linearizable read (get). */
  kind: "get" | "put" | "append" | "del" | "cas";
  key: string;
  value?: string;
  /** cas: the value expected (null: absent). */
  expect?: string | null;
}

/**
 * Operation `op` ended. `ok`: it took effect (a read returned `value`, a cas says whether it
 * `swapped`); `fail`: it certainly did not take effect (not the leader, refused); `timeout`: the
 * client gave up, and whether it took effect is unknown (the checker's return time Infinity).
 */
export interface ReturnRecord extends Rec<"return"> {
  op: number;
  outcome: "ok" | "fail" | "timeout";
  /** get: the value read (null: absent). */
  value?: string | null;
  /** cas: whether it swapped. */
  swapped?: boolean;
  /** The log index the write committed at, or the read index a read was served at. */
  index?: number;
}

/** Leader `node` accepted operation `op` into its log at `index` in `term`. */
export interface ProposeRecord extends Rec<"propose"> {
  node: number;
  op: number;
  index: number;
  term: number;
}

/** Leader `node` confirmed read `op` at read index `index` (ReadIndex, thesis §6.4). */
export interface ReadIndexRecord extends Rec<"read-index"> {
  node: number;
  op: number;
  index: number;
}

// ---------------------------------------------------------------------------------------------
// Planned membership changes (the `member` fault, once membership change lands)

/** The nemesis asked leader `node` to change `target`'s membership; `ok` if it was proposed. */
export interface MemberRecord extends Rec<"member"> {
  node: number;
  action: "add" | "remove" | "promote" | "demote";
  target: number;
  ok: boolean;
}

/** `node` applied a configuration change at `index`: its configuration from now on. */
export interface ConfRecord extends Rec<"conf"> {
  node: number;
  index: number;
  voters: number[];
  learners: number[];
  /** In a joint configuration: C_old's voters (thesis §4.3). */
  outgoing?: number[];
}

// ---------------------------------------------------------------------------------------------
// The end

/** An invariant broke (the first one ends the run). `event` is the scheduler's event number. */
export interface ViolationRecord extends Rec<"violation"> {
  invariant: string;
  event: number;
  message: string;
}

export type TraceRecordOf =
  | HeaderRecord
  | ConfigRecord
  | PhaseRecord
  | DeliverRecord
  | DropRecord
  | DupRecord
  | PartitionRecord
  | CutRecord
  | SlowRecord
  | HealRecord
  | DisconnectRecord
  | ConnectRecord
  | PeerLostRecord
  | RoleRecord
  | TimerRecord
  | SyncRecord
  | CommitRecord
  | ApplyRecord
  | RestoreRecord
  | CompactRecord
  | CrashRecord
  | StartRecord
  | PauseRecord
  | ResumeRecord
  | SkewRecord
  | TransferRecord
  | DiskRecord
  | CallRecord
  | ReturnRecord
  | ProposeRecord
  | ReadIndexRecord
  | MemberRecord
  | ConfRecord
  | ViolationRecord;

export type TraceKind = TraceRecordOf["ev"];

/**
 * The kinds that record a fault, its end or a recovery from it (the summary counts them, the
 * viewer's "faults" filter groups them).
 */
export const FAULT_KINDS: readonly TraceKind[] = [
  "crash",
  "start",
  "partition",
  "cut",
  "slow",
  "heal",
  "disconnect",
  "connect",
  "peer-lost",
  "pause",
  "resume",
  "skew",
  "transfer",
  "disk",
  "member",
  "conf",
];

// ---------------------------------------------------------------------------------------------
// The same, as data, for readers that validate (src/sim/view/parse.ts). One entry per kind:
// its fields in key order, each with its type; a trailing `?` marks an optional field.
//   id   positive integer (a node)        int  integer >= 0          num  finite number >= 0
//   real finite number                    str  string                bool boolean
//   ids  array of node ids                str|null / int|str  either

export type FieldType =
  | "id"
  | "int"
  | "num"
  | "real"
  | "str"
  | "bool"
  | "ids"
  | "str|null"
  | "int|str";

const MESSAGE_SPEC = [
  "id:int",
  "sent:num",
  "type:str",
  "from:id",
  "to:id",
  "term:int",
  "prev:int?",
  "prevTerm:int?",
  "n:int?",
  "commit:int?",
  "ctx:int?",
  "ok:bool?",
  "match:int?",
  "reject:int?",
  "lastIndex:int?",
  "lastTerm:int?",
  "transfer:bool?",
  "granted:bool?",
  "index:int?",
  "late:bool?",
  "dup:bool?",
] as const;

/** Every kind's fields after `t` and `ev`, in key order (see the legend above). */
export const RECORD_FIELDS: { readonly [K in TraceKind]: readonly string[] } = {
  trace: ["v:int", "nodes:ids", "seed:int|str"],
  config: [
    "maxEntriesPerMsg:int",
    "maxBytesPerMsg:int",
    "maxInflight:int",
    "preVote:bool",
    "checkQuorum:bool",
    "electionTick:int",
    "heartbeatTick:int",
    "snapshotEvery:int",
    "fsync:str",
    "pipeline:int?",
    "emptyProbes:bool?",
  ],
  phase: ["phase:str", "faults:str?", "until:num?", "config:str?"],
  deliver: MESSAGE_SPEC,
  drop: [...MESSAGE_SPEC, "reason:str"],
  dup: MESSAGE_SPEC,
  partition: ["groups:str"],
  cut: ["from:id", "to:id"],
  slow: ["from:id", "to:id", "ms:num"],
  heal: [],
  disconnect: ["node:id"],
  connect: ["node:id"],
  "peer-lost": ["node:id", "peer:id", "alarm:bool?"],
  role: ["node:id", "role:str", "term:int", "leader:int"],
  timer: ["node:id", "timer:str?"],
  sync: ["node:id", "last:int", "commit:int"],
  commit: ["index:int", "term:int", "cmd:str|null"],
  apply: ["node:id", "index:int"],
  restore: ["node:id", "index:int", "term:int"],
  compact: ["node:id", "index:int"],
  crash: ["node:id", "durableLast:int", "term:int", "point:str?", "reason:str?"],
  start: ["node:id", "last:int", "term:int", "commit:int"],
  pause: ["node:id", "ms:num"],
  resume: ["node:id"],
  skew: ["node:id", "rate:num"],
  transfer: ["node:id", "to:id", "ok:bool"],
  disk: ["node:id", "fault:str", "ms:num?"],
  call: [
    "op:int",
    "client:int",
    "node:id",
    "kind:str",
    "key:str",
    "value:str?",
    "expect:str|null?",
  ],
  return: ["op:int", "outcome:str", "value:str|null?", "swapped:bool?", "index:int?"],
  propose: ["node:id", "op:int", "index:int", "term:int"],
  "read-index": ["node:id", "op:int", "index:int"],
  member: ["node:id", "action:str", "target:id", "ok:bool"],
  conf: ["node:id", "index:int", "voters:ids", "learners:ids", "outgoing:ids?"],
  violation: ["invariant:str", "event:int", "message:str"],
};
