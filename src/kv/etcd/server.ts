// The etcd v3 gRPC API of one node (README, "etcd compatibility"): grpc-js serving
// the services in this folder, behind the HTTP/2 front door (h2-front.ts) that repairs the
// :authority etcdctl sends for endpoints written with a scheme. grpc-js and proto-loader are
// optional peer dependencies: they are loaded here, when a node is asked to serve the API.
//
// With TLS (kv serve --cert-file) the port terminates TLS itself and hands the decrypted stream
// to the front door, so grpc-js serves it as it serves plaintext: ALPN offers h2 only, and a
// client that sends no SNI (one dialing an IP address, as etcdctl does) gets the one
// certificate there is.
import net from "node:net";
import tls from "node:tls";
import type * as Grpc from "@grpc/grpc-js";
import type * as ProtoLoader from "@grpc/proto-loader";
import type { RaftService } from "../../node/api.js";
import type { MemberOps } from "../../node/member-ops.js";
import type { NodeId } from "../../raft/types.js";
import { formatHostPort, type HostPort } from "../../util/host-port.js";
import type { Logger } from "../../util/logger.js";
import { requireOptional } from "../../util/optional.js";
import { logRefusedHandshakes, type ServerTls, serverTlsOptions } from "../../util/tls.js";
import type { AuthGate } from "../auth/index.js";
import type { MemberLink } from "../member-link.js";
import type { KvStateMachine } from "../state-machine.js";
import { WatchHub } from "../watch/index.js";
import { authService, guardService } from "./auth-service.js";
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
  /** etcd's cluster id, read for every response header (EtcdBackendOptions.clusterId). */
  clusterId: () => bigint;
  /** Where member `id` serves the HTTP API (the leader link's routes). */
  peerHttp: (id: NodeId) => string | null;
  /** How this member calls the others (the HTTP API's link). */
  members: MemberLink;
  /** TLS for the gRPC port (etcd's --cert-file, --key-file, --trusted-ca-file). */
  tls?: ServerTls;
  addresses: ClusterAddresses;
  /** Membership operations (MemberAdd and the others); absent: they answer Unimplemented. */
  memberOps?: MemberOps;
  electionTimeoutMs: number;
  logger?: Logger;
  now?: () => number;
  /** The node's auth gate, shared with the HTTP API; default: one over sm.auth. */
  gate?: AuthGate;
}

export interface EtcdServer {
  /** HOST:PORT actually bound (port 0 resolved). */
  address: string;
  hub: WatchHub;
  link: LeaderLink;
  /** New certificates for connections from now on (only for a port started with TLS). */
  reloadTls(tls: ServerTls): void;
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
    members: o.members,
    ...(o.now ? { now: o.now } : {}),
    ...(o.gate ? { gate: o.gate } : {}),
  });
  const backend = new EtcdBackend({
    service: o.service,
    sm: o.sm,
    hub,
    link,
    id: o.id,
    clusterId: o.clusterId,
    name: o.name,
    electionTimeoutMs: o.electionTimeoutMs,
    ...(o.now ? { now: o.now } : {}),
    ...(o.gate ? { gate: o.gate } : {}),
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
      // Channelz bookkeeping runs on every call (a CPU profile of a member under PUT load
      // shows it); raftwork serves no channelz service to read it.
      "grpc.enable_channelz": 0,
    });
    const add = (name: string, impl: object) => {
      const def = pb[name];
      if (def === undefined) throw new Error(`etcd protos: no service etcdserverpb.${name}`);
      server.addService(def.service, impl as Grpc.UntypedServiceImplementation);
    };
    add("KV", kvService(backend));
    add("Watch", watchService(backend));
    add("Lease", leaseService(backend));
    add("Cluster", guardService(backend, clusterService(backend, o.addresses, o.memberOps)));
    add("Maintenance", guardService(backend, maintenanceService(backend, o.electionTimeoutMs)));
    add("Auth", authService(backend));
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const sockets = new Set<net.Socket>();
    const front = (socket: net.Socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      acceptH2(socket, (s) => injector.injectConnection(s), {
        onRefused: (_s, reason) => o.logger?.debug({ reason }, "gRPC connection refused"),
      });
    };
    let tcp: net.Server;
    let secureServer: tls.Server | undefined;
    if (o.tls === undefined) {
      tcp = net.createServer(front);
    } else {
      const secure = tls.createServer(serverTlsOptions(o.tls, ["h2"]), (socket) => {
        // Node's HTTP/2 server takes a TLS socket without ALPN for HTTP/1 and drops it; a
        // client that negotiated nothing but speaks gRPC anyway speaks h2 with prior knowledge.
        if (socket.alpnProtocol === false) socket.alpnProtocol = "h2";
        front(socket);
      });
      if (o.logger) {
        logRefusedHandshakes(secure, o.logger, "refused a gRPC client during the TLS handshake");
      }
      tcp = secure;
      secureServer = secure;
    }
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
      reloadTls: (t) => {
        if (!secureServer) throw new Error("this gRPC port was started without TLS");
        secureServer.setSecureContext(serverTlsOptions(t, ["h2"]));
      },
      close: async () => {
        clearInterval(progress);
        injector.destroy();
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        server.forceShutdown();
      },
    };
  };
  return { link, listen };
}
