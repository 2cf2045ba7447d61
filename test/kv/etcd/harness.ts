// In-process etcd API nodes for the service tests: FakeService (test/kv/fake-service.ts)
// stands in for Raft (a proposal is applied at once), with the real KvStateMachine, HTTP API
// (for the leader link) and gRPC server, and a grpc-js client built from the same .proto
// files. A follower shares its leader's state machine (as if replication were instant), so
// forwarding is tested without a Raft cluster.
import * as grpc from "@grpc/grpc-js";
import { loadEtcdProto } from "../../../src/kv/etcd/proto.js";
import { createEtcdApi, type EtcdServer } from "../../../src/kv/etcd/server.js";
import { createKvHttpServer, type KvHttpServer } from "../../../src/kv/http-api.js";
import { KvStateMachine } from "../../../src/kv/state-machine.js";
import { FakeService, PeerAddresses } from "../fake-service.js";

/** A FakeService over a given state machine (a follower shares its leader's). */
export class SharedService extends FakeService {
  override readonly sm: KvStateMachine;
  transfers: number[] = [];

  constructor(id: number, leader: number | null, sm: KvStateMachine) {
    super(id, leader);
    this.sm = sm;
  }

  transferLeader(to: number): boolean {
    if (this.leader !== this.id) return false;
    this.transfers.push(to);
    this.leader = to;
    return true;
  }
}

export const CLUSTER_ID = 2n ** 62n + 12345n;

export interface TestNode {
  id: number;
  service: SharedService;
  http: KvHttpServer;
  etcd: EtcdServer;
  client: EtcdClient;
}

export type Wire = Record<string, unknown>;
type Unary = (req: Wire, md?: grpc.Metadata) => Promise<Wire>;

/** A promisified client of each service: client.KV.Put({...}), client.raw.Watch.Watch() etc. */
type Methods<M extends string> = { [K in M]: Unary };

export interface EtcdClient {
  KV: Methods<"Range" | "Put" | "DeleteRange" | "Txn" | "Compact">;
  Lease: Methods<"LeaseGrant" | "LeaseRevoke" | "LeaseTimeToLive" | "LeaseLeases">;
  Cluster: Methods<"MemberList" | "MemberAdd" | "MemberRemove" | "MemberUpdate" | "MemberPromote">;
  Maintenance: Methods<"Status" | "Alarm" | "Defragment" | "Hash" | "HashKV" | "MoveLeader">;
  raw: Record<string, grpc.Client & Record<string, (...a: unknown[]) => unknown>>;
  close(): void;
}

const pb = grpc.loadPackageDefinition(loadEtcdProto()).etcdserverpb as Record<
  string,
  grpc.ServiceClientConstructor
>;

export function etcdClient(address: string): EtcdClient {
  const raw: EtcdClient["raw"] = {};
  // biome-ignore lint/suspicious/noExplicitAny: each service's methods, typed by EtcdClient
  const wrap = (name: string): any => {
    const Ctor = pb[name] as grpc.ServiceClientConstructor;
    const c = new Ctor(address, grpc.credentials.createInsecure()) as unknown as grpc.Client &
      Record<string, (...a: unknown[]) => unknown>;
    raw[name] = c;
    const out: Record<string, Unary> = {};
    for (const method of Object.keys(Ctor.service)) {
      out[method] = (req, md) =>
        new Promise((resolve, reject) => {
          const cb = (err: Error | null, resp: Wire) => (err ? reject(err) : resolve(resp));
          if (md) c[method]?.(req, md, cb);
          else c[method]?.(req, cb);
        });
    }
    return out;
  };
  const client = {
    KV: wrap("KV"),
    Lease: wrap("Lease"),
    Cluster: wrap("Cluster"),
    Maintenance: wrap("Maintenance"),
    raw,
    close: () => {
      for (const c of Object.values(raw)) c.close();
    },
  };
  wrap("Watch");
  return client;
}

/**
 * Node 1 leads; nodes 2.. follow it and share its state machine. Each serves HTTP (the leader
 * link) and gRPC on free ports.
 */
export async function startNodes(n: number, now?: () => number): Promise<TestNode[]> {
  const sm = new KvStateMachine();
  const peers = new PeerAddresses();
  const grpcAddresses = new Map<number, string>();
  const nodes: TestNode[] = [];
  for (let id = 1; id <= n; id++) {
    const service = new SharedService(id, 1, sm);
    const api = createEtcdApi({
      service,
      sm,
      id,
      name: `member-${id}`,
      clusterId: () => CLUSTER_ID,
      peerHttp: peers.lookup,
      addresses: {
        raft: (m) => `127.0.0.1:${7000 + m}`,
        grpc: (m) => grpcAddresses.get(m) ?? null,
      },
      electionTimeoutMs: 300,
      ...(now ? { now } : {}),
    });
    const http = await createKvHttpServer("127.0.0.1", 0, {
      service,
      sm,
      id,
      peerHttp: peers.lookup,
      internalRoutes: api.link.routes(),
    });
    peers.set(id, http.url);
    const etcd = await api.listen({ host: "127.0.0.1", port: 0 });
    grpcAddresses.set(id, etcd.address);
    nodes.push({ id, service, http, etcd, client: etcdClient(etcd.address) });
  }
  return nodes;
}

export async function stopNodes(nodes: TestNode[]): Promise<void> {
  for (const n of nodes) {
    n.client.close();
    await n.etcd.close();
    await n.http.close();
  }
}

export const b = (s: string) => Buffer.from(s);
export const str = (v: unknown) => Buffer.from(v as Uint8Array).toString();

/** The gRPC error a promise rejects with. */
export async function failure(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: number; details: string };
  }
  throw new Error("expected the call to fail");
}
