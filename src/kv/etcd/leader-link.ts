// How a follower's etcd API reaches the leader: the same internal HTTP API and member link
// (member-link.ts: HTTPS when the members serve TLS, and the proof that the caller is a member)
// the native API forwards through (http-api.ts, forward-batch.ts), with two routes of its own:
//
//   PROPOSE_PATH  a batch of encoded commands (forward-batch.ts BatchForwarder: the writes
//                 reaching a follower in one turn go in one request), each proposed by the
//                 leader as if it had arrived there, stamped with the leader's clock; a lease
//                 grant without an id gets one picked by the leader.
//                 item: [command bytes, pickLeaseId, token?]
//                 answer: [200, KvResult] | [503|504, msg]
//                 The client's auth token travels with its command: the leader names the
//                 command's user from the token, never from the user field in the bytes.
//   CALL_PATH     one request answered by the leader's local state:
//                 {kind: "read"}       ReadIndex: the leader's revision once a barrier passed
//                 {kind: "renew", id}  a lease keep-alive (deadlines live on the leader only)
//                 {kind: "ttl", id}    a lease's time to live
//                 {kind: "member"}     this member's etcd name (any member answers)
//                 {kind: "members"}    the leader's MemberList (it has heard from every member,
//                                      so it knows their addresses; a follower may not)
//                 {kind: "change"}     a MemberAdd/Remove/Update/Promote, run by the leader
import { randomBytes } from "node:crypto";
import { Packr } from "msgpackr";
import type { RaftService } from "../../node/api.js";
import { NoSpaceAlarmError } from "../../node/disk-health.js";
import {
  LeadershipLostError,
  NotLeaderError,
  ProposalTimeoutError,
  StoppedError,
} from "../../node/errors.js";
import type { NodeId } from "../../raft/types.js";
import { type HostPort, parseHostPort } from "../../util/host-port.js";
import { AuthGate } from "../auth/index.js";
import { type Command, decodeCommand, encodeCommand } from "../commands.js";
import { BatchForwarder, unpackAnswers } from "../forward-batch.js";
import { FORWARDED_HEADER } from "../http-api.js";
import type { LeaseTable, TimeToLive } from "../lease/index.js";
import type { MemberLink } from "../member-link.js";
import type { EtcdErrorCode } from "../mvcc/index.js";
import type { KvResult, KvStateMachine } from "../state-machine.js";
import { grpcError, NO_LEADER, Status } from "./errors.js";

export const PROPOSE_PATH = "/v1/internal/etcd/propose";
export const CALL_PATH = "/v1/internal/etcd/call";

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export type ProposeAnswer =
  | { ok: true; result: KvResult }
  | { ok: false; status: 503 | 504; message: string };

export type LinkCall =
  | { kind: "read" }
  | { kind: "renew"; id: bigint }
  | { kind: "ttl"; id: bigint }
  | { kind: "member" }
  | { kind: "members" }
  | { kind: "change"; change: MemberChange };

/** A membership change an etcd client asked a follower for, relayed to the leader. */
export type MemberChange =
  | { op: "add"; raft: string; learner: boolean }
  | { op: "remove"; id: NodeId }
  | { op: "update"; id: NodeId; raft: string }
  | { op: "promote"; id: NodeId };

export type RenewAnswer = { ttl: number } | { error: EtcdErrorCode };

export interface LeaderLinkOptions {
  service: RaftService;
  sm: KvStateMachine;
  id: NodeId;
  /** This member's etcd name. */
  name: string;
  /** Where member `id` serves the HTTP API (its internal routes), if known. */
  peerHttp: (id: NodeId) => string | null;
  /** The same link the HTTP API forwards through (it is the one checking callers). */
  members: MemberLink;
  timeoutMs?: number;
  now?: () => number;
  /** Checks the tokens of forwarded proposals; default: a gate over sm.auth. */
  gate?: AuthGate;
}

/** A random lease id that is not taken: positive int64, as etcd's lessor picks them. */
export function pickLeaseId(leases: LeaseTable): bigint {
  for (;;) {
    const id = randomBytes(8).readBigInt64BE() & 0x7fff_ffff_ffff_ffffn;
    if (id !== 0n && leases.get(id) === undefined) return id;
  }
}

export class LeaderLink {
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly proposals: BatchForwarder<[Uint8Array, boolean, string | null], ProposeAnswer>;
  private readonly gate: AuthGate;
  private members: () => Promise<unknown> = () => Promise.reject(new Error("no member list"));
  private changes: (c: MemberChange) => Promise<unknown> = () =>
    Promise.reject(new Error("no membership changes served"));

  constructor(private readonly o: LeaderLinkOptions) {
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.now = o.now ?? Date.now;
    this.gate = o.gate ?? new AuthGate({ store: o.sm.auth });
    const forwarder = { link: o.members, from: String(o.id), headerName: FORWARDED_HEADER };
    this.proposals = new BatchForwarder(
      { ...forwarder, timeoutMs: this.timeoutMs },
      {
        path: PROPOSE_PATH,
        encode: (item) => ({ wire: item, bytes: item[0].length }),
        parseAnswers,
        refused: (status, _type, body) => ({
          ok: false,
          status: status === 504 ? 504 : 503,
          message: `the leader refused the request (${status}): ${body.toString().slice(0, 200)}`,
        }),
        lost: (status, message) => ({ ok: false, status, message }),
      },
    );
  }

  /** What this member answers to {kind: "members"} (the Cluster service sets it). */
  serveMembers(list: () => Promise<unknown>): void {
    this.members = list;
  }

  // ---- follower side ----

  /**
   * Proposes `cmd` through the leader; `pickLeaseId`: the leader chooses a grant's id;
   * `token`: the client's, from which the leader names the command's user.
   */
  propose(
    leader: NodeId,
    cmd: Command,
    pickLeaseId = false,
    token?: string,
  ): Promise<ProposeAnswer> {
    const target = this.address(leader);
    if (target === null) {
      return Promise.resolve({ ok: false, status: 503, message: NO_LEADER });
    }
    return this.proposals.forward(leader, target, [encodeCommand(cmd), pickLeaseId, token ?? null]);
  }

  /** What this member answers to {kind: "change"} (the Cluster service sets it). */
  serveChanges(run: (c: MemberChange) => Promise<unknown>): void {
    this.changes = run;
  }

  /**
   * One CALL_PATH request to `member`; rejects with an Unavailable GrpcError on failure or
   * after `timeoutMs` (default: the link's).
   */
  call<T>(member: NodeId, req: LinkCall, timeoutMs = this.timeoutMs): Promise<T> {
    const target = this.address(member);
    if (target === null) return Promise.reject(grpcError(Status.Unavailable, NO_LEADER));
    const body = packr.pack(req);
    return new Promise<T>((resolve, reject) => {
      const unavailable = (why: string) =>
        reject(grpcError(Status.Unavailable, `raftwork: cannot reach member ${member}: ${why}`));
      const preq = this.o.members.request(member, target, {
        method: "POST",
        path: CALL_PATH,
        headers: {
          [FORWARDED_HEADER]: String(this.o.id),
          "content-type": "application/msgpack",
          "content-length": body.length,
        },
        timeout: timeoutMs,
      });
      if (preq === null) return unavailable("no Raft handshake with it yet");
      preq.on("timeout", () => preq.destroy(new Error("timed out")));
      preq.on("error", (e) => unavailable(e.message));
      preq.on("response", (pres) => {
        const chunks: Buffer[] = [];
        pres.on("data", (c: Buffer) => chunks.push(c));
        pres.on("error", (e) => unavailable(e.message));
        pres.on("end", () => {
          const raw = Buffer.concat(chunks);
          if (pres.statusCode !== 200) return unavailable(`${pres.statusCode} ${raw.toString()}`);
          try {
            resolve(packr.unpack(raw) as T);
          } catch {
            unavailable("undecodable answer");
          }
        });
      });
      preq.end(body);
    });
  }

  private address(id: NodeId): HostPort | null {
    const a = this.o.peerHttp(id);
    if (a === null) return null;
    const hp = parseHostPort(a);
    return hp.ok ? hp.value : null;
  }

  // ---- leader side (and any member, for "member") ----

  /** The internal routes to give the HTTP API (KvHttpOptions.internalRoutes). */
  routes(): Map<string, (body: Buffer) => Promise<Uint8Array>> {
    return new Map([
      [PROPOSE_PATH, (body: Buffer) => this.onPropose(body)],
      [CALL_PATH, (body: Buffer) => this.onCall(body)],
    ]);
  }

  private async onPropose(body: Buffer): Promise<Uint8Array> {
    const items = packr.unpack(body) as unknown;
    if (!Array.isArray(items)) throw new Error("etcd proposal batch: not an array");
    const answers = await Promise.all(
      items.map(async (item): Promise<[number, unknown]> => {
        if (!Array.isArray(item) || !(item[0] instanceof Uint8Array)) {
          return [503, "malformed forwarded proposal"];
        }
        const cmd = decodeCommand(item[0]);
        if (typeof cmd === "string") return [503, `malformed forwarded proposal: ${cmd}`];
        cmd.ts = this.now();
        // Who asked is the leader's to say (from the token), and only its own keeper compacts
        // automatically: a follower's bytes claim neither.
        delete cmd.user;
        if (cmd.op === "compact") delete cmd.auto;
        if (typeof item[2] === "string") {
          const who = this.gate.identify(item[2]);
          if (!who.ok) return [200, { kind: "auth", error: who.error } satisfies KvResult];
          if (who.value !== undefined) cmd.user = who.value;
        }
        if (cmd.op === "lease-grant" && item[1] === true)
          cmd.id = pickLeaseId(this.o.sm.store.leases);
        try {
          return [200, await this.o.service.propose(encodeCommand(cmd))];
        } catch (err) {
          if (err instanceof ProposalTimeoutError || err instanceof LeadershipLostError) {
            return [504, err.message];
          }
          const refused =
            err instanceof NotLeaderError ||
            err instanceof StoppedError ||
            err instanceof NoSpaceAlarmError;
          if (refused) return [503, err.message];
          throw err;
        }
      }),
    );
    return packr.pack(answers);
  }

  private async onCall(body: Buffer): Promise<Uint8Array> {
    const req = packr.unpack(body) as LinkCall;
    const leases = this.o.sm.store.leases;
    switch (req?.kind) {
      case "read":
        await this.o.service.readBarrier();
        return packr.pack({ revision: this.o.sm.revision });
      case "renew": {
        const r = leases.renew(BigInt(req.id), this.now());
        return packr.pack(r.ok ? { ttl: r.value } : { error: r.error.code });
      }
      case "ttl": {
        const ttl: TimeToLive | undefined = leases.isPrimary
          ? leases.timeToLive(BigInt(req.id), this.now())
          : undefined;
        if (!leases.isPrimary) return packr.pack({ error: "NotPrimary" });
        return packr.pack({ ttl: ttl ?? null });
      }
      case "member":
        return packr.pack({ name: this.o.name });
      case "members":
        return packr.pack(await this.members());
      case "change":
        return packr.pack(await this.changes(req.change));
      default:
        throw new Error("unknown etcd internal call");
    }
  }
}

function parseAnswers(raw: Buffer, n: number): ProposeAnswer[] | null {
  const v = unpackAnswers(raw, n);
  if (v === null || v.some((a) => a.length !== 2)) return null;
  return v.map(
    ([status, payload]): ProposeAnswer =>
      status === 200
        ? { ok: true, result: payload as KvResult }
        : { ok: false, status: status === 504 ? 504 : 503, message: String(payload) },
  );
}
