// The etcd v3 gRPC API of one node (README, "etcd compatibility"): grpc-js serving
// the services in this folder, behind the HTTP/2 front door (h2-front.ts) that repairs the
// :authority etcdctl sends for endpoints written with a scheme. grpc-js and proto-loader are
// optional peer dependencies: they are loaded here, when a node is asked to serve the API.

import net from "node:net";
import type * as Grpc from "@grpc/grpc-js";
import type * as ProtoLoader from "@grpc/proto-loader";
import type { RaftService } from "../../node/api.js";
import type { MemberOps } from "../../node/member-ops.js";
import type { NodeId } from "../../raft/types.js";
import { formatHostPort, type HostPort } from "../../util/host-port.js";
import type { Logger } from "../../util/logger.js";
import { requireOptional } from "../../util/optional.js";
import type { KvStateMachine } from "../state-machine.js";
import { WatchHub } from "../watch/index.js";
import { EtcdBackend } from "./backend.js";
import { type ClusterAddresses, clusterService } from "./cluster-service.js";
import { acceptH2 } from "./h2-front.js";
import { kvService } from "./kv-service.js";
import { LeaderLink } from "./leader-link.js";
import { leaseService } from "./lease-service.js";
import { maintenanceService } from "./maintenance-service.js";
import { PROGRESS_INTERVAL_MS, watchService } from "./watch-service.js";

const NEEDED_FOR = "the etcd v3 gRPC API (kv serve --grpc)";
/** etcd's --max-request-bytes (1.5 MiB) plus room for the gRPC framing. */
const MAX_MESSAGE_BYTES = 2 * 1024 * 1024;

export interface EtcdServerOptions {
  service: RaftService;
  sm: KvStateMachine;
  id: NodeId;
  name: string;
  /** etcd's cluster id (0 until this member knows it). */
  clusterId: () => bigint;
  /** Where member `id` serves the HTTP API (the leader link's routes). */
  peerHttp: (id: NodeId) => string | null;
  addresses: ClusterAddresses;
  /** Membership operations (MemberAdd and the others); absent: they answer Unimplemented. */
  members?: MemberOps;
  electionTimeoutMs: number;
  logger?: Logger;
  now?: () => number;
}

export interface EtcdServer {
  /** HOST:PORT actually bound (port 0 resolved). */
  address: string;
  hub: WatchHub;
  link: LeaderLink;
  close(): Promise<void>;
}

/**
 * Builds the node's etcd API (watch hub, leader link, services). Its leader-side routes must be
 * given to the HTTP API (link.routes()) before followers can forward to this member; listen()
 * then opens the gRPC port.
 */
export function createEtcdApi(o: EtcdServerOptions): {
  link: LeaderLink;
  listen(at: HostPort): Promise<EtcdServer>;
} {
  const grpc = requireOptional<typeof Grpc>("@grpc/grpc-js", NEEDED_FOR);
  requireOptional<typeof ProtoLoader>("@grpc/proto-loader", NEEDED_FOR);
  const hub = new WatchHub(o.sm.store);
  const link = new LeaderLink({
    service: o.service,
    sm: o.sm,
    id: o.id,
    name: o.name,
    peerHttp: o.peerHttp,
    ...(o.now ? { now: o.now } : {}),
  });
  const backend = new EtcdBackend({
    service: o.service,
    sm: o.sm,
    hub,
    link,
    id: o.id,
    clusterId: o.clusterId,
    name: o.name,
    ...(o.now ? { now: o.now } : {}),
  });

  const listen = async (at: HostPort): Promise<EtcdServer> => {
    const { loadEtcdProto } = await import("./proto.js");
    const pb = grpc.loadPackageDefinition(loadEtcdProto()).etcdserverpb as Record<
      string,
      { service: Grpc.ServiceDefinition }
    >;
    const server = new grpc.Server({
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": -1,
    });
    const add = (name: string, impl: object) => {
      const def = pb[name];
      if (def === undefined) throw new Error(`etcd protos: no service etcdserverpb.${name}`);
      server.addService(def.service, impl as Grpc.UntypedServiceImplementation);
    };
    add("KV", kvService(backend));
    add("Watch", watchService(backend));
    add("Lease", leaseService(backend));
    add("Cluster", clusterService(backend, o.addresses, o.members));
    add("Maintenance", maintenanceService(backend, o.electionTimeoutMs));
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const sockets = new Set<net.Socket>();
    const tcp = net.createServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      acceptH2(socket, (s) => injector.injectConnection(s), {
        onRefused: (_s, reason) => o.logger?.debug({ reason }, "gRPC connection refused"),
      });
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(at.port, at.host, () => {
        tcp.off("error", reject);
        resolve();
      });
    });
    const progress = setInterval(() => hub.progressTick(), PROGRESS_INTERVAL_MS);
    progress.unref();
    const bound = tcp.address() as net.AddressInfo;
    return {
      address: formatHostPort({ host: bound.address, port: bound.port }),
      hub,
      link,
      close: async () => {
        clearInterval(progress);
        injector.destroy();
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        server.forceShutdown();
        link.close();
      },
    };
  };
  return { link, listen };
}
