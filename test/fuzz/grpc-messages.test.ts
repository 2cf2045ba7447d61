// What any client that reaches the gRPC port can send: random bytes and protobuf-shaped junk
// (fields of the wrong wire type, length prefixes far past the end, truncated varints, unknown
// field numbers) as the request of every method of every etcd service, and bytes that are not
// HTTP/2 at all on the bare TCP socket. Every call must end with a status within its deadline
// (a hang is a DEADLINE_EXCEEDED, a failure here), and the server must still answer a valid
// Put and Range afterwards.
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { loadEtcdProto } from "../../src/kv/etcd/proto.js";
import { LeaseKeeper } from "../../src/kv/lease-keeper.js";
import { b, startNodes, stopNodes, str, type TestNode } from "../kv/etcd/harness.js";
import { damaged, FUZZ_RUNS, FUZZ_SEED } from "./fuzz.js";

const SERVICES = ["KV", "Lease", "Cluster", "Maintenance", "Auth", "Watch"] as const;

interface Method {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

const pb = grpc.loadPackageDefinition(loadEtcdProto()).etcdserverpb as Record<
  string,
  grpc.ServiceClientConstructor
>;
const METHODS: Method[] = SERVICES.flatMap((s) =>
  Object.values((pb[s] as grpc.ServiceClientConstructor).service).map((d) => ({
    path: d.path,
    requestStream: d.requestStream,
    responseStream: d.responseStream,
  })),
);

const identity = (x: Buffer) => x;

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? byte : byte | 0x80);
  } while (v !== 0n);
  return out;
}

/** One protobuf field, well-formed or damaged in the ways a careless decoder trips over. */
const field: fc.Arbitrary<number[]> = fc
  .record({
    // Small numbers hit the real fields (with whatever wire type); large ones are unknown.
    num: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 2 ** 29 - 1 })),
    wire: fc.integer({ min: 0, max: 7 }),
    value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    bytes: fc.uint8Array({ maxLength: 40 }),
    // A length prefix that claims more than is there: up to 2^64-1.
    lie: fc.option(fc.constantFrom(0x7fffffffn, 0xffffffffn, 2n ** 63n, 2n ** 64n - 1n, 1000n)),
    truncate: fc.boolean(),
  })
  .map(({ num, wire, value, bytes, lie, truncate }) => {
    const tag = varint(BigInt((num << 3) | wire));
    let body: number[];
    if (wire === 0) body = varint(value);
    else if (wire === 1) body = [...Buffer.alloc(8, Number(value & 0xffn))];
    else if (wire === 5) body = [...Buffer.alloc(4, Number(value & 0xffn))];
    else if (wire === 2) body = [...varint(lie ?? BigInt(bytes.length)), ...bytes];
    else body = [...bytes.subarray(0, 3)]; // groups (3, 4) and invalid types (6, 7)
    const all = [...tag, ...body];
    // A truncated field ends mid-varint: the last byte keeps its continuation bit.
    return truncate && all.length > 1 ? [...all.slice(0, -1), 0x80] : all;
  });

// A valid PutRequest {key: "key", value: "value", lease: 7}, for damage by the shared edits.
const validPut = Uint8Array.from([
  0x0a,
  3,
  ...Buffer.from("key"),
  0x12,
  5,
  ...Buffer.from("value"),
  0x18,
  7,
]);

const message: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 1, arbitrary: damaged(fc.constant(validPut)).map((u) => Buffer.from(u)) },
  { weight: 3, arbitrary: fc.array(field, { maxLength: 8 }).map((fs) => Buffer.from(fs.flat())) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)) },
);

/** How a call ended: its status code, or "hang" when the deadline passed first. */
function send(client: grpc.Client, m: Method, msgs: Buffer[]): Promise<grpc.status> {
  const deadline = Date.now() + 5_000;
  return new Promise((resolve) => {
    if (!m.requestStream && !m.responseStream) {
      client.makeUnaryRequest(
        m.path,
        identity,
        identity,
        msgs[0] ?? Buffer.alloc(0),
        { deadline },
        (err) => resolve(err ? (err.code as grpc.status) : grpc.status.OK),
      );
      return;
    }
    let call: grpc.ClientDuplexStream<Buffer, Buffer> | grpc.ClientReadableStream<Buffer>;
    if (m.requestStream) {
      const duplex = client.makeBidiStreamRequest(m.path, identity, identity, { deadline });
      for (const msg of msgs) duplex.write(msg);
      duplex.end();
      call = duplex;
    } else {
      call = client.makeServerStreamRequest(
        m.path,
        identity,
        identity,
        msgs[0] ?? Buffer.alloc(0),
        {
          deadline,
        },
      );
    }
    call.on("data", () => {});
    call.on("error", () => {}); // the status below says how it ended
    call.on("status", (s: grpc.StatusObject) => resolve(s.code));
  });
}

describe("fuzz: etcd gRPC messages", () => {
  let nodes: TestNode[] = [];
  let client: grpc.Client;
  let address = "";
  let keeper: LeaseKeeper;
  before(async () => {
    nodes = await startNodes(1);
    const leader = nodes[0] as TestNode;
    // Keep-alives are answered only by a leader whose lease table is primary; without the
    // keeper they would wait out their deadline, which this test would call a hang.
    keeper = new LeaseKeeper({
      service: leader.service,
      sm: leader.service.sm,
      electionTimeoutMs: 300,
      autoCompactRevisions: 0,
      checkMs: 60_000,
    });
    keeper.check();
    address = leader.etcd.address;
    client = new grpc.Client(address, grpc.credentials.createInsecure());
  });
  after(async () => {
    keeper.stop();
    client.close();
    await stopNodes(nodes);
  });

  const stillServes = async (tag: string) => {
    const kv = (nodes[0] as TestNode).client.KV;
    await kv.Put({ key: b(`after-${tag}`), value: b(tag) });
    const r = (await kv.Range({ key: b(`after-${tag}`) })) as { kvs: { value: Uint8Array }[] };
    assert.equal(r.kvs.length, 1);
    assert.equal(str(r.kvs[0]?.value), tag);
  };

  it("every method answers junk requests with a status, never a hang (property)", {
    timeout: 600_000,
  }, async () => {
    // Every method gets the runs; the per-call budget keeps the default run in seconds.
    const runs = Math.max(1, Math.ceil(FUZZ_RUNS / 10));
    const codes = new Map<grpc.status, number>();
    let moved = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...METHODS),
        fc.array(message, { minLength: 1, maxLength: 4 }),
        async (m, msgs) => {
          const code = await send(client, m, msgs);
          // Junk can be a valid request: protobufjs reads a field whatever its wire type, so
          // "0a 03" is MoveLeader{targetID: 3}, and the fake cluster (members 1, 2, 3, only 1
          // serving) obeys. The leader is put back so later calls are not all "no leader".
          const service = (nodes[0] as TestNode).service;
          if (service.leader !== 1) {
            moved++;
            service.leader = 1;
          }
          codes.set(code, (codes.get(code) ?? 0) + 1);
          assert.notEqual(code, grpc.status.DEADLINE_EXCEEDED, `${m.path} hung`);
          assert.notEqual(code, grpc.status.UNAVAILABLE, `${m.path}: the server went away`);
        },
      ),
      { seed: FUZZ_SEED, numRuns: runs * METHODS.length },
    );
    console.log(
      `# grpc fuzz: status codes ${JSON.stringify(Object.fromEntries(codes))}, leader moved ${moved}x`,
    );
    assert.ok(codes.size > 1, "junk must be rejected now and then, not always accepted");
    await stillServes("messages");
  });

  it("gRPC frames with lying length prefixes end with a status (property)", {
    timeout: 600_000,
  }, async () => {
    // The grpc-js client always frames honestly; node's HTTP/2 client sends what it is given.
    const session = http2.connect(`http://${address}`);
    session.on("error", () => {});
    const codes = new Set<string>();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...METHODS),
          fc.constantFrom(0, 1, 2), // compressed flag: 2 is not a valid one
          fc.oneof(
            fc.constantFrom(0xffffffff, 0x7fffffff, 5 << 20, 1 << 20),
            fc.integer({ min: 0, max: 64 }),
          ),
          fc.uint8Array({ maxLength: 64 }),
          async (m, flag, length, payload) => {
            const head = Buffer.alloc(5);
            head.writeUInt8(flag, 0);
            head.writeUInt32BE(length, 1);
            const st = session.request({
              ":method": "POST",
              ":path": m.path,
              "content-type": "application/grpc",
              te: "trailers",
            });
            const code = await new Promise<string>((resolve) => {
              const timer = setTimeout(() => {
                st.close();
                resolve("hang");
              }, 5_000);
              const done = (c: string) => {
                clearTimeout(timer);
                resolve(c);
              };
              // A status in the headers (trailers-only) or in the trailers.
              st.on(
                "response",
                (h) => h["grpc-status"] !== undefined && done(String(h["grpc-status"])),
              );
              st.on("trailers", (h) => done(String(h["grpc-status"])));
              st.on("close", () => done("closed"));
              st.on("error", () => {});
              st.resume();
              st.end(Buffer.concat([head, payload]));
            });
            codes.add(code);
            assert.notEqual(code, "hang", `${m.path}: no status in 5 s`);
            assert.notEqual(code, "closed", `${m.path}: stream closed without a status`);
          },
        ),
        { seed: FUZZ_SEED, numRuns: Math.max(1, Math.ceil(FUZZ_RUNS / 3)) },
      );
    } finally {
      session.close();
    }
    console.log(`# grpc fuzz: framing status codes ${[...codes].join(",")}`);
    await stillServes("frames");
  });

  it("bytes that are not HTTP/2 on the gRPC port leave it serving (property)", {
    timeout: 600_000,
  }, async () => {
    const [host, port] = [address.split(":")[0] as string, Number(address.split(":")[1])];
    const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.uint8Array({ maxLength: 512 }),
        async (withPreface, junk) => {
          const sock = net.connect(port, host);
          await new Promise<void>((resolve, reject) => {
            sock.once("connect", resolve).once("error", reject);
          });
          sock.on("error", () => {}); // the server may reset a connection it rejects
          sock.end(withPreface ? Buffer.concat([preface, junk]) : Buffer.from(junk));
          await new Promise<void>((resolve) => {
            // The server either closes on us or waits for more; both are fine, but the socket
            // must not pin the test.
            const t = setTimeout(() => sock.destroy(), 1_000);
            sock.on("close", () => {
              clearTimeout(t);
              resolve();
            });
            sock.resume();
          });
        },
      ),
      { seed: FUZZ_SEED, numRuns: Math.max(1, Math.ceil(FUZZ_RUNS / 3)) },
    );
    await stillServes("tcp");
  });
});
