// What anyone who reaches a MapReduce job's ports can send: random methods, paths, queries and
// bodies (random bytes, random JSON, JSON shaped like the protocol's messages with fields of the
// wrong type or range) to every route of the coordinator's control server and of a worker's
// map-output server, and bytes that are not HTTP on the bare socket. Every request must get an
// answer below 500 (a 4xx with a JSON error when refused), and the coordinator must still
// register a valid worker afterwards.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { type Coordinator, startCoordinator } from "../../src/mapreduce/coordinator/coordinator.js";
import { listen } from "../../src/mapreduce/protocol/http-server.js";
import { serveOutput } from "../../src/mapreduce/worker/worker.js";
import { formatHostPort } from "../../src/util/host-port.js";
import { silentLogger } from "../../src/util/logger.js";
import { damaged, FUZZ_RUNS, FUZZ_SEED } from "./fuzz.js";

const APP_HASH = "a".repeat(64);

interface Answer {
  status: number;
  body: string;
}

function request(
  address: string,
  method: string,
  path: string,
  body: Uint8Array | undefined,
): Promise<Answer> {
  const [host, port] = [address.split(":")[0] as string, Number(address.split(":")[1])];
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        method,
        path,
        agent: false,
        timeout: 5_000,
        // Framed even for GET, which node would otherwise send unframed: the bytes after the
        // head would be a second, broken request that node's parser refuses before any route.
        headers: {
          connection: "close",
          ...(body === undefined ? {} : { "content-length": body.length }),
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 5 s`)));
    req.on("error", reject);
    req.end(body === undefined ? undefined : Buffer.from(body));
  });
}

/** A refusal must say why: a JSON body with an error string. */
function assertClear(a: Answer, what: string): void {
  assert.ok(a.status >= 200 && a.status < 500, `${what}: status ${a.status} ${a.body}`);
  // An answer to HEAD has no body to say it in.
  if (a.status >= 400 && !what.startsWith("HEAD ")) {
    const parsed = JSON.parse(a.body) as { error?: unknown };
    assert.equal(typeof parsed.error, "string", `${what}: ${a.body}`);
  }
}

// Values of every type and edge: what a schema must tell from the number or string it wants.
const scalar = fc.oneof(
  fc.integer({ min: -3, max: 5 }),
  fc.constantFrom(2 ** 53, -0, 1.5, 1e308, Number.MAX_SAFE_INTEGER + 2, null, true, APP_HASH),
  fc.constantFrom("http://127.0.0.1:1", "map", "reduce", "", "x".repeat(70_000)),
  fc.string({ maxLength: 20 }),
);
const value = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 5 }), scalar, { maxKeys: 3 }) },
);
const FIELDS = [
  "workerId",
  "attempt",
  "appHash",
  "appName",
  "advertise",
  "appError",
  "maxRssKiB",
  "running",
  "counters",
  "kind",
  "error",
  "mapTask",
  "records",
];
const shaped = fc
  .dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 })
  .map((o) => Uint8Array.from(Buffer.from(JSON.stringify(o))));
const body = fc.option(
  fc.oneof(
    shaped,
    fc.jsonValue().map((j) => Uint8Array.from(Buffer.from(JSON.stringify(j) ?? "null"))),
    damaged(shaped),
    fc.uint8Array({ maxLength: 200 }),
  ),
);

const segment = fc.oneof(
  fc.constantFrom("0", "1", "7", "-1", "99999999999999999999", "1e3", "%00", "..", ""),
  fc.constantFrom("../../../../etc/passwd", "..%2f..%2fpackage.json", "%2e%2e/package.json"),
  fc.string({ maxLength: 8 }).map(encodeURIComponent),
);
const query = fc.option(
  fc
    .dictionary(fc.constantFrom("workerId", "attempt", "records", "bytes", "x"), segment, {
      maxKeys: 4,
    })
    .map((q) => `?${new URLSearchParams(q).toString()}`),
  { nil: "" },
);
const method = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS");

/**
 * A method and path: mostly a route ("METHOD /path") with its own method, sometimes with an
 * argument segment or two; now and then any method, or a random path.
 */
function target(routes: readonly string[]): fc.Arbitrary<[string, string]> {
  const route = fc.constantFrom(...routes).map((r) => r.split(" ") as [string, string]);
  return fc
    .tuple(
      fc.oneof(
        { weight: 6, arbitrary: route },
        {
          weight: 1,
          arbitrary: fc.tuple(
            method,
            route.map(([, p]) => p),
          ),
        },
        {
          weight: 1,
          arbitrary: fc.tuple(
            method,
            fc.string({ maxLength: 12 }).map((s) => `/${encodeURI(s)}`),
          ),
        },
      ),
      fc.oneof(
        { weight: 3, arbitrary: fc.constant([]) },
        { weight: 2, arbitrary: fc.array(segment, { minLength: 1, maxLength: 2 }) },
      ),
      query,
    )
    .map(([[m, p], segs, q]) => [m, [p, ...segs].join("/") + q]);
}

async function rawBytes(address: string, junk: Uint8Array): Promise<void> {
  const [host, port] = [address.split(":")[0] as string, Number(address.split(":")[1])];
  const sock = net.connect(port, host);
  sock.on("error", () => {}); // a rejected request line may reset the connection
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => sock.destroy(), 1_000);
    sock.on("close", () => {
      clearTimeout(t);
      resolve();
    });
    sock.resume();
    sock.end(Buffer.from(junk));
  });
}

describe("fuzz: the MapReduce protocol", () => {
  const dir = mkdtempSync(join(tmpdir(), "mr-fuzz-"));
  let coordinator: Coordinator;
  let worker: http.Server;
  let workerAddress = "";
  before(async () => {
    const input = join(dir, "in.txt");
    writeFileSync(input, "a b c\n".repeat(100));
    coordinator = await startCoordinator({
      listen: { host: "127.0.0.1", port: 0 },
      inputs: [{ path: input, size: 600, mtimeMs: 0 }],
      nReduce: 2,
      outDir: join(dir, "out"),
      overwrite: true,
      // Long enough that no task of a registered junk worker times out and fails the job.
      taskTimeoutMs: 600_000,
      splitSize: 200,
      memoryBytes: 64 << 20,
      status: { host: "127.0.0.1", port: 0 },
      log: silentLogger,
    });
    const out = join(dir, "map.out");
    writeFileSync(out, "aaabbbbcc");
    worker = http.createServer((req, res) =>
      serveOutput(new Map([[1, { file: out, offsets: [0, 3, 7, 9] }]]), req, res),
    );
    workerAddress = formatHostPort(
      await listen(worker, { host: "127.0.0.1", port: 0 }, "map-output"),
    );
  });
  after(async () => {
    await coordinator.close();
    worker.closeAllConnections();
    await new Promise((r) => worker.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const runs = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS };

  it("the coordinator answers junk on every route with a clear status below 500 (property)", {
    timeout: 600_000,
  }, async () => {
    const routes = [
      "POST /v1/register",
      "POST /v1/task",
      "POST /v1/heartbeat",
      "POST /v1/complete",
      "POST /v1/fail",
      "GET /v1/input",
      "PUT /v1/output",
    ];
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(target(routes), body, async ([m, p], b) => {
        const a = await request(coordinator.address, m, p, b ?? undefined);
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        assertClear(a, `${m} ${p}`);
      }),
      runs,
    );
    console.log(`# mapreduce fuzz: coordinator statuses ${JSON.stringify([...statuses])}`);
    assert.ok(statuses.has(400), "malformed requests must be refused");
    // Still serving: a valid worker registers.
    const reg = await request(
      coordinator.address,
      "POST",
      "/v1/register",
      Buffer.from(
        JSON.stringify({ appHash: APP_HASH, appName: "wc", advertise: "http://127.0.0.1:9" }),
      ),
    );
    assert.equal(reg.status, 200, reg.body);
    assert.equal(typeof (JSON.parse(reg.body) as { workerId: unknown }).workerId, "number");
  });

  it("the status server answers junk with a clear status below 500 and serves nothing outside its UI (property)", {
    timeout: 600_000,
  }, async () => {
    const address = coordinator.statusAddress as string;
    // GET /ui/events is a stream that stays open by design; it is left out.
    const routes = ["GET /status", "GET /metrics", "GET /ui", "GET /ui/", "GET /ui/job"];
    await fc.assert(
      fc.asyncProperty(target(routes), body, async ([m, p], b) => {
        if (p.split("?")[0] === "/ui/events") return;
        const a = await request(address, m, p, b ?? undefined);
        assert.ok(a.status >= 200 && a.status < 500, `${m} ${p}: status ${a.status} ${a.body}`);
        // Files outside ui/: /etc/passwd, the package's own package.json one level up.
        assert.doesNotMatch(a.body, /root:x?:0:|"name": *"raftwork"/, `${m} ${p}`);
      }),
      runs,
    );
    const s = await request(address, "GET", "/status", undefined);
    assert.equal(s.status, 200, s.body);
  });

  it("a worker's map-output server answers junk with 404 or the section asked for (property)", {
    timeout: 600_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(
        target(["GET /v1/map-output", "GET /v1/map-output/1"]),
        body,
        async ([m, p], b) => {
          const a = await request(workerAddress, m, p, b ?? undefined);
          assertClear(a, `${m} ${p}`);
        },
      ),
      runs,
    );
    const ok = await request(workerAddress, "GET", "/v1/map-output/1/1", undefined);
    assert.deepEqual([ok.status, ok.body], [200, "bbbb"]);
  });

  it("bytes that are not HTTP leave both servers serving (property)", {
    timeout: 600_000,
  }, async () => {
    const valid = Uint8Array.from(
      Buffer.from('POST /v1/task HTTP/1.1\r\nhost: x\r\ncontent-length: 14\r\n\r\n{"workerId":0}'),
    );
    await fc.assert(
      fc.asyncProperty(damaged(fc.constant(valid)), async (junk) => {
        await rawBytes(coordinator.address, junk);
        await rawBytes(workerAddress, junk);
      }),
      { seed: FUZZ_SEED, numRuns: Math.max(1, Math.ceil(FUZZ_RUNS / 3)) },
    );
    const a = await request(coordinator.address, "POST", "/v1/task", Buffer.from("{"));
    assert.equal(a.status, 400);
    const w = await request(workerAddress, "GET", "/v1/map-output/1/2", undefined);
    assert.deepEqual([w.status, w.body], [200, "cc"]);
  });
});
