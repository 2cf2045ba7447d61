// etcd's Cluster service. MemberList describes the Raft configuration: etcd member ids are
// raftwork node ids, peerURLs http://RAFT-ADDR, clientURLs http://GRPC-ADDR, names from each
// member (its `--name`, asked once over the leader link and remembered; `node-ID` until it
// answers), isLearner from the configuration. The leader answers it: it has heard from every
// member (their gRPC addresses come in the Raft handshake), while a follower may never have; a
// follower relays the question. MemberAdd, MemberRemove, MemberUpdate and MemberPromote are the
// native API's membership operations (node/member-ops.ts), run by the leader (a follower relays
// them over the leader link) and refused with etcd's codes and messages. MemberAdd picks the
// smallest unused id (etcd draws a random one; raftwork's ids are small integers) and accepts
// one peer URL, http://HOST:PORT (a member has one Raft address).
import { type MemberOps, MemberRequestError, type RefusalReason } from "../../node/member-ops.js";
import type { NodeId } from "../../raft/types.js";
import { formatHostPort, parseHostPort } from "../../util/host-port.js";
import type { EtcdBackend } from "./backend.js";
import { type UnaryHandler, unary, type Wire } from "./call.js";
import { fromServiceError, grpcError, Status } from "./errors.js";
import type { MemberChange } from "./leader-link.js";

/** How long MemberList waits for a member to tell its name. */
const NAME_WAIT_MS = 1000;

export interface ClusterAddresses {
  /** Member `id`'s Raft address (HOST:PORT), if known. */
  raft(id: NodeId): string | null;
  /** Member `id`'s etcd gRPC address (HOST:PORT), if known. */
  grpc(id: NodeId): string | null;
  /** Whether member `id` has ever shaken hands with this one (etcd: "started"). Default: yes. */
  started?(id: NodeId): boolean;
}

/** A member's name when started without --name (and until a member tells its own). */
export function defaultName(id: NodeId): string {
  return `node-${id}`;
}

/** etcd's errors for each refusal (rpctypes/error.go). */
const REFUSALS: Record<RefusalReason, [number, string]> = {
  "bad-input": [Status.InvalidArgument, "etcdserver: given member URLs are invalid"],
  "id-taken": [Status.FailedPrecondition, "etcdserver: member ID already exist"],
  "address-taken": [Status.FailedPrecondition, "etcdserver: Peer URLs already exists"],
  "unknown-member": [Status.NotFound, "etcdserver: member not found"],
  "not-enough-started": [
    Status.FailedPrecondition,
    "etcdserver: re-configuration failed due to not enough started members",
  ],
  "not-learner": [Status.FailedPrecondition, "etcdserver: can only promote a learner member"],
  "learner-not-ready": [
    Status.FailedPrecondition,
    "etcdserver: can only promote a learner member which is in sync with leader",
  ],
  // etcd queues concurrent changes; raftwork refuses the second until the first is applied.
  pending: [Status.FailedPrecondition, "raftwork: another membership change is in progress; retry"],
  "no-voter": [Status.FailedPrecondition, "raftwork: the change would leave no voter"],
  "invalid-change": [Status.FailedPrecondition, "raftwork: the change is not valid"],
};

/** What the leader answers a relayed change: the new member's id, or etcd's error. */
export type ChangeAnswer = { ok: true; id: NodeId } | { ok: false; code: number; message: string };

export function clusterService(
  b: EtcdBackend,
  addresses: ClusterAddresses,
  ops?: MemberOps,
): Record<string, UnaryHandler> {
  const names = new Map<NodeId, string>([[b.id, b.name]]);

  const nameOf = async (id: NodeId): Promise<string> => {
    const known = names.get(id);
    if (known !== undefined) return known;
    let timer: NodeJS.Timeout | undefined;
    const asked = b.link.call<{ name: string }>(id, { kind: "member" }).then(
      (r) => {
        names.set(id, r.name);
        return r.name;
      },
      // A member that never started has no name in etcd (etcdctl shows it "unstarted").
      () => (addresses.started?.(id) === false ? "" : defaultName(id)),
    );
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(addresses.started?.(id) === false ? "" : defaultName(id)),
        NAME_WAIT_MS,
      );
    });
    try {
      return await Promise.race([asked, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  const member = async (id: NodeId, learner: boolean): Promise<Wire> => {
    const raft = addresses.raft(id);
    const grpc = addresses.grpc(id);
    return {
      ID: String(id),
      name: await nameOf(id),
      peerURLs: raft === null ? [] : [`http://${raft}`],
      clientURLs: grpc === null ? [] : [`http://${grpc}`],
      isLearner: learner,
    };
  };

  const members = async () => {
    const conf = b.service.status().conf;
    if (conf === undefined)
      return Promise.all(b.service.status().members.map((id) => member(id, false)));
    const ids = [
      ...new Set([...conf.voters, ...conf.votersOutgoing, ...conf.learners, ...conf.learnersNext]),
    ];
    ids.sort((x, y) => x - y);
    return Promise.all(
      ids.map((id) => member(id, conf.learners.includes(id) || conf.learnersNext.includes(id))),
    );
  };
  b.link.serveMembers(members);

  /** Runs a change here (the leader): the new member's id, or etcd's error. */
  const runHere = async (c: MemberChange): Promise<ChangeAnswer> => {
    if (ops === undefined)
      return {
        ok: false,
        code: Status.Unimplemented,
        message: "raftwork: membership changes are not served here",
      };
    try {
      switch (c.op) {
        case "add": {
          const before = new Set(ops.list().map((m) => m.id));
          const after = await ops.add({ raft: c.raft, learner: c.learner });
          const added = after.find((m) => !before.has(m.id));
          return { ok: true, id: added?.id ?? 0 };
        }
        case "remove":
          await ops.remove(c.id);
          return { ok: true, id: c.id };
        case "update":
          await ops.update(c.id, c.raft);
          return { ok: true, id: c.id };
        case "promote":
          await ops.promote(c.id);
          return { ok: true, id: c.id };
      }
    } catch (e) {
      if (e instanceof MemberRequestError) {
        const [code, message] = REFUSALS[e.reason];
        return { ok: false, code, message };
      }
      const g = fromServiceError(e);
      return { ok: false, code: g.code, message: g.details };
    }
  };
  b.link.serveChanges(runHere);

  /** Runs a change on the leader (relayed by a follower) and answers its member list. */
  const change = async (c: MemberChange) => {
    const leader = b.leader();
    const a =
      leader === b.id
        ? await runHere(c)
        : await b.link.call<ChangeAnswer>(leader, { kind: "change", change: c });
    if (!a.ok) throw grpcError(a.code, a.message);
    const list =
      leader === b.id ? await members() : await b.link.call<Wire[]>(leader, { kind: "members" });
    return { id: a.id, list };
  };

  return {
    MemberList: unary(async () => {
      const leader = b.leader();
      const list =
        leader === b.id ? await members() : await b.link.call<Wire[]>(leader, { kind: "members" });
      return { header: b.header(), members: list };
    }),
    MemberAdd: unary(async (req) => {
      const raft = peerAddress(req.peerURLs);
      const r = await change({ op: "add", raft, learner: req.isLearner === true });
      const added = r.list.find((m) => m.ID === String(r.id)) ?? {
        ID: String(r.id),
        name: "",
        peerURLs: [`http://${raft}`],
        clientURLs: [],
        isLearner: req.isLearner === true,
      };
      // etcd shows a member that has not started with an empty name.
      return { header: b.header(), member: { ...added, name: "" }, members: r.list };
    }),
    MemberRemove: unary(async (req) => {
      const r = await change({ op: "remove", id: memberId(req.ID) });
      return { header: b.header(), members: r.list };
    }),
    MemberUpdate: unary(async (req) => {
      const r = await change({
        op: "update",
        id: memberId(req.ID),
        raft: peerAddress(req.peerURLs),
      });
      return { header: b.header(), members: r.list };
    }),
    MemberPromote: unary(async (req) => {
      const r = await change({ op: "promote", id: memberId(req.ID) });
      return { header: b.header(), members: r.list };
    }),
  };
}

const BAD_URLS = "etcdserver: given member URLs are invalid";

/** The one Raft address of a member's peer URLs (http://HOST:PORT), or InvalidArgument. */
function peerAddress(urls: unknown): string {
  if (!Array.isArray(urls) || urls.length !== 1 || typeof urls[0] !== "string")
    throw grpcError(Status.InvalidArgument, BAD_URLS);
  const m = /^https?:\/\/([^/]+)\/?$/.exec(urls[0]);
  const hp = m ? parseHostPort(m[1] as string) : null;
  if (hp === null || !hp.ok) throw grpcError(Status.InvalidArgument, BAD_URLS);
  return formatHostPort(hp.value);
}

/** A uint64 member id (a decimal string from proto-loader) as a node id; 0 or huge: not found. */
function memberId(v: unknown): NodeId {
  const n = typeof v === "string" && /^[0-9]{1,16}$/.test(v) ? Number(v) : 0;
  if (!Number.isSafeInteger(n) || n < 1)
    throw grpcError(Status.NotFound, "etcdserver: member not found");
  return n;
}
