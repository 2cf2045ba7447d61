// /v1/members (design: "The membership and operations contract"): list, add, update, promote,
// remove, and one joint change. Each request is checked completely (zod, then MemberOps's
// checks on the leader) before anything is proposed: bad input gets 400, a refused change 409,
// and nothing changes. A follower forwards every request to the leader, which answers from the
// configuration it has applied and knows every member's advertised addresses (it dials them
// all); with no leader known, a follower answers GET from its own configuration.

import type * as Zod from "zod";
import { ConfChangeRefusedError, NotLeaderError } from "../node/errors.js";
import { type MemberInfo, type MemberOps, MemberRequestError } from "../node/member-ops.js";
import type { NodeId } from "../raft/types.js";
import { formatHostPort, parseHostPort } from "../util/host-port.js";
import { requireOptional } from "../util/optional.js";

/** What the HTTP API lends a member route. */
export interface MemberRouteKit {
  method: string;
  /** The path after /v1/members ("" or "/ID"). */
  rest: string;
  params: Map<string, string>;
  ops: MemberOps;
  self: NodeId;
  /** Advertised addresses: from the member's Raft handshake, this node's own for itself. */
  hello(id: NodeId): Readonly<{ http?: string; grpc?: string }> | null;
  json(status: number, body: unknown): void;
  fail(status: number, message: string): void;
  methodNotAllowed(allow: string): void;
  /** Reads the body as JSON (400/413 answered there), then calls `then`. */
  readJson(then: (v: unknown) => void): void;
  /** Runs a call; NotLeaderError forwards, timeouts answer 504, and so on (http-api.ts). */
  settle<T>(call: () => Promise<T>, then: (v: T) => void): void;
  /** Whether a follower may forward this request: a leader is known and it was not forwarded already. */
  mayForward(): boolean;
}

/** The answer's shape: [{id, raft, http, grpc, role}] sorted by id. */
export interface MemberJson {
  id: NodeId;
  raft: string | null;
  http: string | null;
  grpc: string | null;
  role: MemberInfo["role"];
}

const MAX_ID = 2 ** 31 - 1;

let schemas: ReturnType<typeof buildSchemas> | null = null;

function buildSchemas() {
  const { z } = requireOptional<typeof Zod>("zod", "raftwork's KV HTTP API");
  const id = z.number().int().min(1).max(MAX_ID);
  const raft = z.string().transform((s, ctx) => {
    const hp = parseHostPort(s);
    if (!hp.ok) {
      ctx.addIssue({ code: "custom", message: `raft: ${hp.error}` });
      return z.NEVER;
    }
    return formatHostPort(hp.value);
  });
  const added = z.strictObject({ id, raft, learner: z.boolean().default(false) });
  return {
    add: z.strictObject({ id: id.optional(), raft, learner: z.boolean().default(false) }),
    update: z.strictObject({ raft }),
    change: z.strictObject({
      add: z.array(added).max(64).default([]),
      remove: z.array(id).max(64).default([]),
      promote: z.array(id).max(64).default([]),
    }),
  };
}

export function membersRoute(k: MemberRouteKit) {
  schemas ??= buildSchemas();
  const s = schemas;
  const op = k.params.get("op");
  const respond = (call: () => Promise<MemberInfo[]>) =>
    k.settle(
      () =>
        call().catch((e: unknown) => {
          if (e instanceof MemberRequestError) return e;
          if (e instanceof ConfChangeRefusedError) return e;
          throw e;
        }),
      (r) => {
        if (r instanceof MemberRequestError)
          return k.fail(r.code === "bad-input" ? 400 : 409, r.message);
        if (r instanceof ConfChangeRefusedError) return k.fail(503, `${r.message}; retry later`);
        k.json(
          200,
          r.map((m) => describe(k, m)),
        );
      },
    );
  const parsed = <T>(schema: Zod.ZodType<T>, v: unknown, then: (t: T) => void) => {
    const r = schema.safeParse(v);
    if (r.success) return then(r.data);
    const issue = r.error.issues[0];
    const where = issue?.path.join(".") || "body";
    k.fail(400, `bad request body: ${where}: ${issue?.message ?? "invalid"}`);
  };

  if (k.rest === "") {
    if (k.method === "GET") {
      if (op !== undefined || k.params.size > 0)
        return k.fail(400, "GET /v1/members takes no parameters");
      return k.settle(
        async () => {
          // The leader knows every member's advertised addresses; a follower asks it.
          const leader = k.ops.leader();
          if (leader === k.self || leader === null || !k.mayForward()) return k.ops.list();
          throw new NotLeaderError(leader);
        },
        (list) =>
          k.json(
            200,
            list.map((m) => describe(k, m)),
          ),
      );
    }
    if (k.method !== "POST") return k.methodNotAllowed("GET, POST");
    if (op !== undefined && op !== "change")
      return k.fail(400, `unknown op "${op}" (POST /v1/members takes none, or op=change)`);
    return k.readJson((v) => {
      if (op === "change") {
        return parsed(s.change, v, (c) => respond(() => k.ops.change(c)));
      }
      parsed(s.add, v, (a) =>
        respond(() =>
          k.ops.add({
            ...(a.id !== undefined ? { id: a.id } : {}),
            raft: a.raft,
            learner: a.learner,
          }),
        ),
      );
    });
  }

  const m = /^\/([1-9][0-9]{0,9})$/.exec(k.rest);
  const id = m ? Number(m[1]) : Number.NaN;
  if (!m || id > MAX_ID)
    return k.fail(400, `"${k.rest.slice(1)}" is not a member id (1..${MAX_ID})`);
  if (k.method === "PATCH") {
    if (k.params.size > 0) return k.fail(400, "PATCH /v1/members/{id} takes no parameters");
    return k.readJson((v) => parsed(s.update, v, (u) => respond(() => k.ops.update(id, u.raft))));
  }
  if (k.method === "DELETE") {
    if (k.params.size > 0) return k.fail(400, "DELETE /v1/members/{id} takes no parameters");
    return respond(() => k.ops.remove(id));
  }
  if (k.method === "POST") {
    if (op !== "promote")
      return k.fail(
        400,
        op === undefined ? "POST /v1/members/{id} needs ?op=promote" : `unknown op "${op}"`,
      );
    return respond(() => k.ops.promote(id));
  }
  k.methodNotAllowed("PATCH, DELETE, POST");
}

function describe(k: MemberRouteKit, m: MemberInfo): MemberJson {
  const hello = k.hello(m.id);
  return {
    id: m.id,
    raft: m.raft,
    http: hello?.http ?? null,
    grpc: hello?.grpc ?? null,
    role: m.role,
  };
}
