// etcd's own Go load generator (tools/benchmark of etcd 3.4, built offline and cached by
// bench/build-etcd-benchmark.sh) and raftwork's gRPC client side, shared by the bench scripts
// that measure raftwork's etcd API against etcd 3.4.
import { spawn, spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Path of the cached benchmark binary, building it first if needed (exits on failure). */
export function benchmarkBinary() {
  const build = spawnSync("bash", [join(ROOT, "bench/build-etcd-benchmark.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
  return build.stdout.trim();
}

/** The tool's arguments for a point: 256-byte PUTs over a key space, or a linearizable get. */
export function opArgs(op, keySpace = 100_000) {
  if (op === "put")
    return ["put", "--key-size=8", `--key-space-size=${keySpace}`, "--val-size=256"];
  if (op === "range") return ["range", "bench-key", "--consistency=l"];
  throw new Error(`unknown op ${op}`);
}

/**
 * One run of the tool, asynchronous so the caller's event loop keeps serving (watch streams
 * in watch-grpc.mjs). Clients share connections as etcd's docs run it (conns = clients / 8,
 * at least 1). Resolves to ops/s, p50/p99 in ms and the number of failed requests.
 */
export function runBenchmark(bin, endpoints, clients, args, total) {
  const conns = Math.max(1, Math.floor(clients / 8));
  const child = spawn(
    bin,
    [
      `--endpoints=${endpoints.join(",")}`,
      `--conns=${conns}`,
      `--clients=${clients}`,
      ...args,
      `--total=${total}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.on("data", (b) => {
    out += b;
  });
  child.stderr.on("data", (b) => {
    out += b;
  });
  return new Promise((res, rej) => {
    child.once("error", rej);
    child.once("close", (code) => {
      const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
      if (code !== 0 || rate === null) {
        rej(new Error(`benchmark failed (${code}):\n${out.slice(-4000)}`));
        return;
      }
      const pct = (p) => {
        const m = new RegExp(`\\s${p}% in ([\\d.]+) secs`).exec(out);
        return m === null ? null : Math.round(Number(m[1]) * 10_000) / 10;
      };
      // "Error distribution:" lists "  [COUNT]\tMESSAGE" lines when requests failed.
      const errorPart = out.split("Error distribution:")[1] ?? "";
      const errors = [...errorPart.matchAll(/^\s*\[(\d+)\]/gm)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
      res({ opsPerSec: Number(rate[1]), p50: pct("50"), p99: pct("99"), errors });
    });
  });
}

/** grpc-js and etcd's KV service definition as raftwork's server loads it (from dist/). */
export async function etcdGrpc(cli) {
  const grpc = await import("@grpc/grpc-js");
  const { loadEtcdProto } = await import(join(dirname(cli), "../kv/etcd/proto.js"));
  const pkg = grpc.loadPackageDefinition(loadEtcdProto());
  return { grpc, KV: pkg.etcdserverpb.KV };
}

/** V8 flags `kv serve` runs with in production (the same for every benchmark). */
export async function serveV8Flags(cli) {
  const { SERVE_V8_FLAGS } = await import(join(dirname(cli), "../kv/server/v8-flags.js"));
  return [...SERVE_V8_FLAGS];
}
