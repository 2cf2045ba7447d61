// A 3-node `raftwork kv cluster` with the etcd gRPC API on free ports, for the tests that drive
// it with etcd's own clients (etcdctl.test.ts, etcd3-client.test.ts). Started through the CLI,
// as a user does; killed with everything else by harness.killAll().
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { freeRange, launchCluster, tempDir } from "./harness.js";

export interface EtcdTestCluster {
  child: ChildProcess;
  raftBase: number;
  grpcBase: number;
  /** HOST:PORT of each node's gRPC API, node 1 first. */
  endpoints: string[];
  pids: number[];
  /** Sends SIGINT and waits for the launcher to stop its nodes. */
  stop(): Promise<void>;
}

export async function startEtcdCluster(): Promise<EtcdTestCluster> {
  const raftBase = await freeRange(3);
  const httpBase = await freeRange(3, [raftBase]);
  const grpcBase = await freeRange(3, [raftBase, httpBase]);
  const { child, out } = await launchCluster([
    "--nodes",
    "3",
    "--data",
    tempDir("etcd"),
    "--raft-port-base",
    String(raftBase),
    "--http-port-base",
    String(httpBase),
    "--grpc-port-base",
    String(grpcBase),
    "--election-timeout",
    "300ms",
    "--heartbeat",
    "50ms",
    "--log-level",
    "warn",
  ]);
  assert.match(out, /cluster ready/, out);
  const endpoints = [...out.matchAll(/grpc (\S+)/g)].map((m) => m[1] as string);
  const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  assert.equal(endpoints.length, 3, out);
  return {
    child,
    raftBase,
    grpcBase,
    endpoints,
    pids,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      await exited;
    },
  };
}
