// What a gRPC call costs a Node server on this machine, before any work: a no-op unary
// etcdserverpb.KV/Put and a no-op bidi stream (etcdserverpb.Watch/Watch, one response per
// request), driven by a @grpc/grpc-js client with 64 calls in flight. The server runs in its
// own process, so its CPU per call is measured apart from the client's. Server variants:
//
//   grpc-js/proto-loader  @grpc/grpc-js with messages (de)serialised by protobufjs through
//                         @grpc/proto-loader, the usual way
//   grpc-js/hand-codec    @grpc/grpc-js with hand-written encoders for the hot messages
//                         (PutRequest in, PutResponse with its header out)
//   http2/hand-codec      no gRPC library: node:http2 with gRPC's framing done by hand (a
//                         5-byte length prefix, grpc-status in the trailers), same encoders
//
// (issue 16: choose the server implementation from these numbers.)
//
//   node --import tsx bench/grpc-cost.ts [seconds=5] [inflight=64]

import { fork } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { loadEtcdProto } from "../src/kv/etcd/proto.js";

const SECONDS = Number(process.argv[2] ?? 5);
const INFLIGHT = Number(process.argv[3] ?? 64);
const PUT_PATH = "/etcdserverpb.KV/Put";
const WATCH_PATH = "/etcdserverpb.Watch/Watch";

// ---- hand-written protobuf for the hot messages ----

function varintLength(n: bigint): number {
  let len = 1;
  while (n >= 0x80n) {
    n >>= 7n;
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, off: number, n: bigint): number {
  while (n >= 0x80n) {
    buf[off++] = Number(n & 0x7fn) | 0x80;
    n >>= 7n;
  }
  buf[off++] = Number(n);
  return off;
}

/** PutRequest{key=1, value=2}: both length-delimited, as a client sends them. */
function encodePut(key: Buffer, value: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + 2 + key.length + 3 + value.length);
  let off = 0;
  out[off++] = 0x0a;
  off = writeVarint(out, off, BigInt(key.length));
  off += key.copy(out, off);
  out[off++] = 0x12;
  off = writeVarint(out, off, BigInt(value.length));
  off += value.copy(out, off);
  return out.subarray(0, off);
}

/** Reads a PutRequest's key and value (other fields skipped). */
function decodePut(buf: Buffer): { key: Buffer; value: Buffer } {
  let off = 0;
  let key: Buffer = Buffer.alloc(0);
  let value: Buffer = key;
  while (off < buf.length) {
    const tag = buf[off++] as number;
    const wire = tag & 7;
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[off++] as number;
      len += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    if (wire !== 2) continue; // a varint field: its value was just skipped
    if (tag >> 3 === 1) key = buf.subarray(off, off + len);
    else if (tag >> 3 === 2) value = buf.subarray(off, off + len);
    off += len;
  }
  return { key, value };
}

/** PutResponse{header=1: ResponseHeader{cluster_id=1, member_id=2, revision=3, raft_term=4}}. */
function encodePutResponse(h: {
  clusterId: bigint;
  memberId: bigint;
  revision: bigint;
  term: bigint;
}): Buffer {
  const fields = [h.clusterId, h.memberId, h.revision, h.term];
  let inner = 0;
  for (const f of fields) if (f !== 0n) inner += 1 + varintLength(f);
  const out = Buffer.allocUnsafe(2 + inner);
  out[0] = 0x0a;
  out[1] = inner;
  let off = 2;
  fields.forEach((f, i) => {
    if (f === 0n) return;
    out[off++] = ((i + 1) << 3) | 0;
    off = writeVarint(out, off, f);
  });
  return out;
}

const HEADER = { clusterId: 0x1234_5678_9abc_def0n, memberId: 1n, revision: 123_456n, term: 7n };

// ---- servers ----

type Variant = "grpc-js/proto-loader" | "grpc-js/hand-codec" | "http2/hand-codec";

const identity = (b: Buffer) => b;

async function startGrpcJs(variant: Variant): Promise<{ port: number; close: () => void }> {
  const server = new grpc.Server();
  if (variant === "grpc-js/proto-loader") {
    const pkg = grpc.loadPackageDefinition(loadEtcdProto()) as unknown as {
      etcdserverpb: {
        KV: { service: grpc.ServiceDefinition };
        Watch: { service: grpc.ServiceDefinition };
      };
    };
    const header = {
      cluster_id: "1311768467463790320",
      member_id: "1",
      revision: "123456",
      raft_term: "7",
    };
    server.addService(pkg.etcdserverpb.KV.service, {
      Put: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { header }),
    });
    server.addService(pkg.etcdserverpb.Watch.service, {
      Watch: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        call.on("data", () => call.write({ header, watch_id: "0", events: [] }));
        call.on("end", () => call.end());
      },
    });
  } else {
    const response = encodePutResponse(HEADER);
    server.addService(
      {
        Put: {
          path: PUT_PATH,
          requestStream: false,
          responseStream: false,
          requestDeserialize: decodePut,
          requestSerialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
        Watch: {
          path: WATCH_PATH,
          requestStream: true,
          responseStream: true,
          requestDeserialize: identity,
          requestSerialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      } as grpc.ServiceDefinition,
      {
        Put: (_call: grpc.ServerUnaryCall<unknown, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
          cb(null, response),
        Watch: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          call.on("data", () => call.write(response));
          call.on("end", () => call.end());
        },
      },
    );
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { port, close: () => server.forceShutdown() };
}

/** gRPC over node:http2 by hand: each message is [0][u32 length][bytes]. */
async function startHttp2(): Promise<{ port: number; close: () => void }> {
  const response = encodePutResponse(HEADER);
  const framed = Buffer.allocUnsafe(5 + response.length);
  framed[0] = 0;
  framed.writeUInt32BE(response.length, 1);
  response.copy(framed, 5);
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const path = headers[":path"];
    let pending: Buffer = Buffer.alloc(0);
    const messages = (chunk: Buffer, each: (msg: Buffer) => void) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const len = pending.readUInt32BE(1);
        if (pending.length < 5 + len) break;
        each(pending.subarray(5, 5 + len));
        pending = pending.subarray(5 + len);
      }
    };
    stream.respond(
      { ":status": 200, "content-type": "application/grpc" },
      { waitForTrailers: true },
    );
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    if (path === PUT_PATH) {
      stream.on("data", (chunk: Buffer) => messages(chunk, (m) => void decodePut(m)));
      stream.on("end", () => stream.end(framed));
    } else if (path === WATCH_PATH) {
      stream.on("data", (chunk: Buffer) => messages(chunk, () => stream.write(framed)));
      stream.on("end", () => stream.end());
    } else {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

// ---- the server process ----

if (process.argv[2] === "--serve") {
  const variant = process.argv[3] as Variant;
  const s = variant === "http2/hand-codec" ? await startHttp2() : await startGrpcJs(variant);
  let mark = process.cpuUsage();
  process.on("message", (m: string) => {
    if (m === "mark") mark = process.cpuUsage();
    else if (m === "cpu") {
      const d = process.cpuUsage(mark);
      process.send?.({ cpuMs: (d.user + d.system) / 1000 });
    } else if (m === "stop") {
      s.close();
      process.exit(0);
    }
  });
  process.send?.({ port: s.port });
} else {
  await main();
}

// ---- the client ----

async function measure(
  variant: Variant,
  shape: "unary" | "stream",
): Promise<{ calls: number; secs: number; serverCpuMs: number; clientCpuMs: number }> {
  const child = fork(new URL(import.meta.url).pathname, ["--serve", variant], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ask = <T>(msg?: string) =>
    new Promise<T>((resolve) => {
      child.once("message", (m) => resolve(m as T));
      if (msg) child.send(msg);
    });
  const { port } = await ask<{ port: number }>();
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())),
  );
  // Unary: a 256-byte Put, as etcd's benchmark sends. Stream: a WatchRequest{progress_request}.
  const request =
    shape === "unary"
      ? encodePut(Buffer.from("bench/key/000001"), Buffer.alloc(256, 1))
      : Buffer.from([0x1a, 0x00]);
  let calls = 0;
  let running = true;
  const warm = 2000;
  let started = 0;
  let t0 = 0;
  let c0 = process.cpuUsage();
  const onCall = () => {
    calls++;
    if (calls === warm) {
      child.send("mark");
      t0 = performance.now();
      c0 = process.cpuUsage();
      started = calls;
    }
  };
  const done = new Promise<void>((resolve) =>
    setTimeout(
      () => {
        running = false;
        resolve();
      },
      SECONDS * 1000 + 1000,
    ),
  );
  if (shape === "unary") {
    const loop = async () => {
      while (running) {
        await new Promise<void>((resolve, reject) =>
          client.makeUnaryRequest(PUT_PATH, identity, identity, request, (e) =>
            e ? reject(e) : resolve(),
          ),
        );
        onCall();
      }
    };
    for (let i = 0; i < INFLIGHT; i++) void loop();
  } else {
    // 64 streams, each with one request in flight: a request, then wait for its response.
    for (let i = 0; i < INFLIGHT; i++) {
      const call = client.makeBidiStreamRequest(WATCH_PATH, identity, identity);
      call.on("data", () => {
        onCall();
        if (running) call.write(request);
        else call.end();
      });
      call.on("error", () => {});
      call.write(request);
    }
  }
  await done;
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const { cpuMs } = await ask<{ cpuMs: number }>("cpu");
  const measured = calls - started;
  child.send("stop");
  client.close();
  return { calls: measured, secs, serverCpuMs: cpuMs, clientCpuMs: (c.user + c.system) / 1000 };
}

async function main(): Promise<void> {
  console.log(
    `no-op calls, ${INFLIGHT} in flight, ${SECONDS} s each, node ${process.version}, grpc-js ${grpcVersion()}`,
  );
  for (const shape of ["unary", "stream"] as const) {
    for (const variant of [
      "grpc-js/proto-loader",
      "grpc-js/hand-codec",
      "http2/hand-codec",
    ] as Variant[]) {
      const r = await measure(variant, shape);
      console.log(
        `${shape.padEnd(6)} ${variant.padEnd(22)} ${String(Math.round(r.calls / r.secs)).padStart(7)} calls/s, ` +
          `server ${((r.serverCpuMs * 1000) / r.calls).toFixed(1).padStart(6)} us CPU/call, ` +
          `client ${((r.clientCpuMs * 1000) / r.calls).toFixed(1).padStart(6)} us CPU/call`,
      );
    }
  }
}

function grpcVersion(): string {
  try {
    return (grpc as unknown as { version?: string }).version ?? "1.14";
  } catch {
    return "?";
  }
}
