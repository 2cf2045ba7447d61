// Linearizability of the etcd v3 gRPC API under process faults: a 3-member `kv serve --grpc`
// cluster, concurrent grpc-js clients doing Put, linearizable Range, DeleteRange and
// compare-and-swap Txns on a few keys through random members, while a nemesis kill -9s and
// restarts members and SIGSTOPs the leader. The history goes to src/sim/linearizability.ts.
//
// Outcomes: an answer is ok; a call that never reached a server (no connection) had no effect
// and is left out; any other error or a deadline is unknown (plain etcd semantics: a write that
// timed out may still be applied), recorded with an infinite return time. Serializable ranges
// may be stale by contract, so they are not part of the checked history: they only have to
// return a value some client wrote.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadEtcdProto } from "../../src/kv/etcd/proto.js";
import { checkHistory, formatResult, type KvOperation } from "../../src/sim/linearizability.js";
import { Rng } from "../../src/sim/rng.js";
import { freePorts, killAll, sleep, TestCluster, tempDir } from "./harness.js";

const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
const KEYS = ["x", "y", "z"];
const CLIENTS = 5;
const LOAD_MS = 9000;
/** Per call: generous, since a loaded CI machine stalls members for hundreds of ms. */
const DEADLINE_MS = 2500;

/** Answers that say the store refused a request, which only a malformed one deserves. */
const REFUSALS = new Set<number>([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.OUT_OF_RANGE,
  grpc.status.UNIMPLEMENTED,
]);

type Wire = Record<string, unknown>;
type Unary = (
  req: Wire,
  opts: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, r: Wire) => void,
) => void;

const pb = grpc.loadPackageDefinition(loadEtcdProto()).etcdserverpb as Record<
  string,
  grpc.ServiceClientConstructor
>;

/** A cluster whose members also serve the etcd API, on ports of their own. */
class GrpcCluster extends TestCluster {
  constructor(
    dir: string,
    ports: number[],
    readonly grpcPorts: number[],
  ) {
    super(dir, ports, ["--election-timeout", "300ms", "--heartbeat", "50ms"]);
  }

  static async make(n: number): Promise<GrpcCluster> {
    const ports = await freePorts(3 * n);
    return new GrpcCluster(tempDir("etcdlin"), ports.slice(0, 2 * n), ports.slice(2 * n));
  }

  grpcAddress(id: number): string {
    return `127.0.0.1:${this.grpcPorts[id - 1]}`;
  }

  override serveArgs(id: number): string[] {
    return [...super.serveArgs(id), "--grpc", this.grpcAddress(id)];
  }
}

/** A promisified KV client of one member, every call with a deadline. */
class KvClient {
  private readonly raw: grpc.Client & Record<string, Unary>;

  constructor(address: string) {
    const Ctor = pb.KV as grpc.ServiceClientConstructor;
    // No retries of its own: each call is one attempt, so its outcome is what we record.
    this.raw = new Ctor(address, grpc.credentials.createInsecure(), {
      "grpc.enable_retries": 0,
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 300,
    }) as unknown as grpc.Client & Record<string, Unary>;
  }

  call(method: string, req: Wire): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const fn = this.raw[method] as Unary;
      fn.call(this.raw, req, { deadline: Date.now() + DEADLINE_MS }, (err, resp) =>
        err ? reject(err) : resolve(resp),
      );
    });
  }

  close(): void {
    this.raw.close();
  }
}

/** Whether a failed call certainly never reached a server (so it had no effect). */
function neverSent(err: unknown): boolean {
  const e = err as Partial<grpc.ServiceError>;
  return (
    e.code === grpc.status.UNAVAILABLE &&
    /No connection established|ECONNREFUSED|connect failed/i.test(e.details ?? "")
  );
}

const text = (b: unknown): string => Buffer.from(b as Uint8Array).toString();

let cluster: GrpcCluster | undefined;
const clients: KvClient[] = [];
after(() => {
  for (const c of clients) c.close();
  killAll();
  cluster?.cleanup();
});

describe("etcd gRPC API linearizability", () => {
  it(`Put/Range/DeleteRange/CAS Txn under kill -9 and SIGSTOP of the leader (SEED=${SEED})`, async () => {
    console.log(`etcd linearizability: SEED=${SEED}`);
    const rng = new Rng(SEED);
    const c = await GrpcCluster.make(3);
    cluster = c;
    await c.startAll();
    await c.leader();

    const history: KvOperation[] = [];
    const written = new Set<string>();
    const stale: { key: string; value: string | null }[] = [];
    let neverSentCount = 0;
    const stopAt = performance.now() + LOAD_MS;

    const worker = async (k: number) => {
      const crng = new Rng(`${SEED}-${k}`);
      const members = [1, 2, 3].map((id) => new KvClient(c.grpcAddress(id)));
      clients.push(...members);
      /** The value this client last saw per key: the expected value of its next CAS. */
      const seen = new Map<string, string | null>();
      for (let i = 0; performance.now() < stopAt; i++) {
        const key = KEYS[crng.u32() % KEYS.length] as string;
        const kv = members[crng.u32() % members.length] as KvClient;
        const value = `${k}.${i}`;
        const dice = crng.float();
        const bkey = Buffer.from(key);
        let op: KvOperation["input"];
        let send: () => Promise<KvOperation["output"]>;
        if (dice < 0.35) {
          op = { op: "get" };
          send = async () => {
            const r = await kv.call("Range", { key: bkey });
            const kvs = r.kvs as Wire[];
            const v = kvs.length === 0 ? null : text(kvs[0]?.value);
            seen.set(key, v);
            return { value: v };
          };
        } else if (dice < 0.45) {
          // Serializable: may be stale, so it is only checked against what was ever written.
          const r = await kv.call("Range", { key: bkey, serializable: true }).catch(() => null);
          if (r !== null) {
            const kvs = r.kvs as Wire[];
            stale.push({ key, value: kvs.length === 0 ? null : text(kvs[0]?.value) });
          }
          continue;
        } else if (dice < 0.65) {
          op = { op: "put", value };
          written.add(value);
          send = async () => {
            await kv.call("Put", { key: bkey, value: Buffer.from(value) });
            seen.set(key, value);
            return {};
          };
        } else if (dice < 0.7) {
          op = { op: "del" };
          send = async () => {
            await kv.call("DeleteRange", { key: bkey });
            seen.set(key, null);
            return {};
          };
        } else {
          const expect = seen.get(key) ?? null;
          op = { op: "cas", expect, value };
          written.add(value);
          // Absent is create_revision 0 (etcd compares a missing key that way).
          const compare =
            expect === null
              ? { key: bkey, target: 1, result: 0, create_revision: "0" }
              : { key: bkey, target: 3, result: 0, value: Buffer.from(expect) };
          send = async () => {
            const r = await kv.call("Txn", {
              compare: [compare],
              success: [{ request_put: { key: bkey, value: Buffer.from(value) } }],
              failure: [],
            });
            if (r.succeeded === true) seen.set(key, value);
            return { ok: r.succeeded === true };
          };
        }
        const call = performance.now();
        try {
          const output = await send();
          history.push({ key, client: k, input: op, output, call, return: performance.now() });
        } catch (err) {
          if (neverSent(err)) {
            neverSentCount++;
            await sleep(20);
            continue;
          }
          // A refusal of the request itself is a bug here (these requests are well formed);
          // anything else (unavailable, deadline, a reset stream) leaves the outcome unknown.
          const e = err as Partial<grpc.ServiceError>;
          assert.ok(
            !REFUSALS.has(e.code ?? -1),
            `${op.op} ${key}: unexpected error ${e.code} ${e.details}`,
          );
          // Unknown: a get is dropped by the checker, a write may or may not have happened.
          seen.delete(key);
          history.push({ key, client: k, input: op, call, return: Number.POSITIVE_INFINITY });
          await sleep(20);
        }
      }
    };

    const nemesis = async () => {
      const events: string[] = [];
      while (performance.now() < stopAt - 1500) {
        await sleep(500 + (rng.u32() % 500));
        if (rng.float() < 0.5) {
          const victim = 1 + (rng.u32() % 3);
          events.push(`kill -9 ${victim}`);
          await c.kill9(victim);
          await sleep(200 + (rng.u32() % 500));
          await c.start(victim);
        } else {
          // The leader, when the members agree on one; else any member.
          const leader = await c.leader(1500).catch(() => 1 + (rng.u32() % 3));
          events.push(`SIGSTOP ${leader}`);
          c.pause(leader);
          await sleep(400 + (rng.u32() % 600));
          c.resume(leader);
        }
      }
      return events;
    };

    const [events] = await Promise.all([
      nemesis(),
      ...Array.from({ length: CLIENTS }, (_, k) => worker(k)),
    ]);
    const result = checkHistory(history);
    const unknown = history.filter((h) => h.return === Number.POSITIVE_INFINITY).length;
    const summary = `${history.length} operations (${unknown} unknown, ${neverSentCount} never sent), nemesis: ${events.join(", ")}`;
    console.log(`etcd linearizability: ${summary}`);
    assert.equal(result.result, "ok", `${formatResult(result)}\n${summary}`);

    for (const s of stale) {
      assert.ok(
        s.value === null || written.has(s.value),
        `serializable read of ${s.key} returned ${s.value}, which no client wrote`,
      );
    }
    // The check had something to chew on: answered operations of every kind.
    const answered = (kind: string) =>
      history.filter((h) => h.input.op === kind && h.output !== undefined).length;
    for (const kind of ["get", "put", "cas"]) assert.ok(answered(kind) > 10, `${kind}: ${summary}`);
    assert.ok(
      history.some((h) => h.input.op === "cas" && h.output?.ok === true),
      "some CAS succeeded",
    );
  });
});
