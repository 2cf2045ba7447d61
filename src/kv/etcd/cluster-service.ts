// etcd's Cluster service. MemberList describes the Raft configuration: etcd member ids are
// raftwork node ids, peerURLs http://RAFT-ADDR, clientURLs http://GRPC-ADDR, names from each
// member (its `--name`, asked once over the leader link and remembered; `node-ID` until it
// answers). The leader answers it: it has heard from every member (their gRPC addresses come
// in the Raft handshake), while a follower may never have; a follower relays the question.
// Membership changes are not served yet: they answer Unimplemented with a message saying so.
import type { NodeId } from "../../raft/types.js";
import type { EtcdBackend } from "./backend.js";
import { type UnaryHandler, unary, type Wire } from "./call.js";
import { grpcError, Status } from "./errors.js";

/** How long MemberList waits for a member to tell its name. */
const NAME_WAIT_MS = 1000;

export interface ClusterAddresses {
  /** Member `id`'s Raft address (HOST:PORT), if known. */
  raft(id: NodeId): string | null;
  /** Member `id`'s etcd gRPC address (HOST:PORT), if known. */
  grpc(id: NodeId): string | null;
}

/** A member's name when started without --name (and until a member tells its own). */
export function defaultName(id: NodeId): string {
  return `node-${id}`;
}

export function clusterService(
  b: EtcdBackend,
  addresses: ClusterAddresses,
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
      () => defaultName(id),
    );
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(defaultName(id)), NAME_WAIT_MS);
    });
    try {
      return await Promise.race([asked, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  const member = async (id: NodeId): Promise<Wire> => {
    const raft = addresses.raft(id);
    const grpc = addresses.grpc(id);
    return {
      ID: String(id),
      name: await nameOf(id),
      peerURLs: raft === null ? [] : [`http://${raft}`],
      clientURLs: grpc === null ? [] : [`http://${grpc}`],
      isLearner: false,
    };
  };

  const notYet = (what: string) =>
    unary(() => {
      throw grpcError(
        Status.Unimplemented,
        `raftwork: ${what} is not supported yet: membership changes are not available through the etcd API`,
      );
    });

  const members = () => Promise.all(b.service.status().members.map(member));
  b.link.serveMembers(members);

  return {
    MemberList: unary(async () => {
      const leader = b.leader();
      const list =
        leader === b.id ? await members() : await b.link.call<Wire[]>(leader, { kind: "members" });
      return { header: b.header(), members: list };
    }),
    MemberAdd: notYet("MemberAdd"),
    MemberRemove: notYet("MemberRemove"),
    MemberUpdate: notYet("MemberUpdate"),
    MemberPromote: notYet("MemberPromote"),
  };
}
