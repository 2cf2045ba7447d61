// TLS everywhere (README, "Security"), with real processes: `kv cluster --tls` (mutual TLS
// between members, client TLS that requires a client certificate, every certificate from its
// throwaway CA), driven by the raftwork CLI, etcdctl 3.4 and plain HTTPS requests; and one
// `kv serve` with only --cert-file/--key-file, which asks no client certificate (etcd 3.4).
// Refusals are checked on both sides: the client fails, the node logs why and from where.
import assert from "node:assert/strict";
import { type ChildProcess, execFile } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { createThrowawayCa, writeThrowawayPki } from "../../src/cli/tls-certs.js";
import { FORWARD_PATH } from "../../src/kv/forward-batch.js";
import {
  CLI,
  freePorts,
  freeRange,
  killAll,
  launchCluster,
  removeTempDirs,
  request,
  sleep,
  spawnCli,
  TestCluster,
  tempDir,
} from "./harness.js";

const ETCDCTL = process.env.ETCDCTL ?? "/usr/bin/etcdctl";
const haveEtcdctl = existsSync(ETCDCTL);
if (!haveEtcdctl && process.env.CI === "true") throw new Error(`CI=true but ${ETCDCTL} is missing`);
const run = promisify(execFile);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(file: string, args: string[], timeoutMs = 60_000): Promise<Ran> {
  try {
    const r = await run(file, args, {
      timeout: timeoutMs,
      env: { ...process.env, ETCDCTL_API: "3" },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof x.code === "number" ? x.code : -1,
      stdout: x.stdout ?? "",
      stderr: x.stderr ?? "",
    };
  }
}

const kvCli = (args: string[]) => exec(process.execPath, [CLI, "kv", ...args]);
const etcdctl = (args: string[]) =>
  exec(ETCDCTL, ["--dial-timeout=5s", "--command-timeout=20s", ...args]);

interface Creds {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** One HTTPS request: its status and body, or the error that kept it from an answer. */
function httpsRequest(
  url: string,
  creds: Creds,
  init: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = https.request(url, {
      method: init.method ?? "GET",
      headers: init.headers,
      agent: false,
      timeout: 5000,
      ...creds,
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (e) =>
      resolve({ error: `${(e as NodeJS.ErrnoException).code}: ${e.message}` }),
    );
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.end(init.body);
  });
}

/** Waits until `file` has a line matching `pattern`; returns that line. */
async function logLine(file: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    const line = text.split("\n").find((l) => pattern.test(l));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no line matching ${pattern} in ${file}:\n${text}`);
    await sleep(50);
  }
}

after(() => {
  killAll();
  removeTempDirs();
});

describe("kv cluster --tls", () => {
  let child: ChildProcess;
  let out: string;
  let data: string;
  let urls: string[];
  let grpc: string[];
  let flags: string[];
  let pki: { ca: Buffer; cert: Buffer; key: Buffer };
  let launchArgs: string[];

  before(async () => {
    data = tempDir("tls");
    const raft = await freeRange(3);
    const http = await freeRange(3, [raft]);
    const g = await freeRange(3, [raft, http]);
    launchArgs = [
      ...["--nodes", "3", "--data", data, "--tls"],
      ...["--raft-port-base", String(raft), "--http-port-base", String(http)],
      ...["--grpc-port-base", String(g), "--election-timeout", "300ms", "--heartbeat", "50ms"],
    ];
    ({ child, out } = await launchCluster([...launchArgs, "--walkthrough"]));
    assert.match(out, /cluster ready/, out);
    urls = [...out.matchAll(/node \d+ {2}(https:\/\/\S+)/g)].map((m) => m[1] as string);
    grpc = [...out.matchAll(/grpc (\S+)/g)].map((m) => m[1] as string);
    assert.equal(urls.length, 3, out);
    const printed = /Clients need:\n {2}(.*)\n/.exec(out)?.[1];
    assert.ok(printed, out);
    flags = printed.split(" ");
    const tls = join(data, "tls");
    assert.deepEqual(flags, [
      ...["--cacert", join(tls, "ca.crt"), "--cert", join(tls, "client.crt")],
      ...["--key", join(tls, "client.key")],
    ]);
    pki = {
      ca: readFileSync(join(tls, "ca.crt")),
      cert: readFileSync(join(tls, "client.crt")),
      key: readFileSync(join(tls, "client.key")),
    };
  });
  after(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGINT");
    await exited;
  });

  it("the walkthrough's commands work as printed: the CLI with https:// and the printed flags", async () => {
    const cliLine = /or with the client: node dist\/cli\/main\.js (kv get greeting .*)\n/.exec(out);
    assert.ok(cliLine, out);
    const args = (cliLine[1] as string).split(" ").slice(1);
    // Every node, followers included (they forward to the leader over HTTPS).
    for (const [i, url] of urls.entries()) {
      const put = await kvCli(["put", `k${i}`, `v${i}`, "--endpoints", url, ...flags]);
      assert.equal(put.code, 0, put.stderr);
    }
    assert.equal((await kvCli(["put", "greeting", "hello", ...args.slice(2)])).code, 0);
    const get = await kvCli(args);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, "hello");
    for (const url of urls) {
      const g = await kvCli(["get", "k2", "--endpoints", url, ...flags]);
      assert.equal(g.stdout.trim(), "v2", g.stderr);
    }
    const status = await kvCli(["status", "--endpoints", urls.join(","), ...flags]);
    assert.equal(status.code, 0, status.stderr);
    const curl = /^ {2}curl (.*) -X PUT --data 'hello' (\S+)$/m.exec(out);
    assert.ok(curl, out);
    assert.deepEqual((curl[1] as string).split(" "), flags);
  });

  it("etcdctl 3.4 with --cacert/--cert/--key, on every member and with a scheme", {
    skip: !haveEtcdctl && `${ETCDCTL} not found`,
  }, async () => {
    const all = ["--endpoints", grpc.join(","), ...flags];
    const put = await etcdctl([...all, "put", "greeting", "hi"]);
    assert.equal(put.code, 0, put.stderr);
    for (const ep of [...grpc, `https://${grpc[1]}`]) {
      const get = await etcdctl([
        "--endpoints",
        ep,
        ...flags,
        "get",
        "greeting",
        "--print-value-only",
      ]);
      assert.equal(get.stdout.trim(), "hi", `${ep}: ${get.stderr}`);
    }
    const status = await etcdctl([...all, "endpoint", "status"]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(status.stdout.trim().split("\n").length, 3, status.stdout);
    // A write through a follower's etcd API goes through the leader link over HTTPS.
    const viaFollower = await etcdctl([
      "--endpoints",
      grpc[2] as string,
      ...flags,
      "put",
      "f",
      "1",
    ]);
    assert.equal(viaFollower.code, 0, viaFollower.stderr);
  });

  it("the etcd3 npm client with credentials, through every member", async () => {
    const client = new Etcd3({
      hosts: grpc.map((e) => `https://${e}`),
      credentials: { rootCertificate: pki.ca, privateKey: pki.key, certChain: pki.cert },
    });
    try {
      await client.put("etcd3-tls").value("yes");
      assert.equal(await client.get("etcd3-tls").string(), "yes");
    } finally {
      client.close();
    }
  });

  it("etcdctl without a client certificate, or without TLS, is refused and the node says why", {
    skip: !haveEtcdctl && `${ETCDCTL} not found`,
  }, async () => {
    const noCert = await etcdctl([
      ...["--endpoints", grpc[0] as string, "--cacert", flags[1] as string],
      ...["--dial-timeout=2s", "--command-timeout=3s", "get", "greeting"],
    ]);
    assert.notEqual(noCert.code, 0);
    const plain = await etcdctl([
      "--endpoints",
      grpc[0] as string,
      "--dial-timeout=2s",
      "--command-timeout=3s",
      "get",
      "x",
    ]);
    assert.notEqual(plain.code, 0);
    const log = join(data, "node-1.log");
    const line = await logLine(log, /(?=.*refused a gRPC client)(?=.*presented no certificate)/);
    assert.match(line, /"remote":"127\.0\.0\.1:\d+"/);
    await logLine(log, /(?=.*refused a gRPC client)(?=.*does not speak TLS)/);
  });

  it("an HTTPS client without a certificate, with one from another CA, or trusting another CA, is refused", async () => {
    const url = `${urls[0]}/v1/status`;
    const ok = await httpsRequest(url, pki);
    assert.ok("status" in ok && ok.status === 200, JSON.stringify(ok));

    const noCert = await httpsRequest(url, { ca: pki.ca });
    assert.ok("error" in noCert, JSON.stringify(noCert));
    const other = createThrowawayCa("another CA");
    const stranger = other.issue({ commonName: "stranger", hosts: ["127.0.0.1"] });
    const wrongCa = await httpsRequest(url, { ca: pki.ca, ...stranger });
    // TLS 1.3: the client may finish its side before the server refuses; the request fails.
    assert.ok("error" in wrongCa, JSON.stringify(wrongCa));
    const distrust = await httpsRequest(url, { ca: other.pem.cert, cert: pki.cert, key: pki.key });
    assert.ok("error" in distrust && /certificate/i.test(distrust.error), JSON.stringify(distrust));

    const log = join(data, "node-1.log");
    const none = await logLine(log, /(?=.*refused a client during)(?=.*presented no certificate)/);
    assert.match(none, /"remote":"127\.0\.0\.1:\d+"/);
    const foreign = await logLine(
      log,
      /(?=.*refused a client during)(?=.*not signed by the trusted CA)/,
    );
    assert.doesNotMatch(foreign, /undefined/);
    assert.match(foreign, /"remote":"127\.0\.0\.1:\d+"/);

    // The CLI: no certificate, no CA, plain http: exit 3 (no endpoint answered).
    for (const bad of [
      ["--endpoints", urls[0] as string, "--cacert", flags[1] as string],
      ["--endpoints", urls[0] as string, ...flags.slice(2)],
      ["--endpoints", (urls[0] as string).replace("https:", "http:"), ...flags],
    ]) {
      const r = await kvCli(["get", "k0", "--retries", "0", "--timeout", "2s", ...bad]);
      assert.equal(r.code, 3, `${bad.join(" ")}: ${r.stdout}${r.stderr}`);
    }
  });

  it("the forward path refuses a client, even one with a valid certificate and a forged forwarded-by header", async () => {
    const batch = Buffer.from([0x91, 0x96, 0x01, 0xa1, 0x6b, 0xc4, 0x01, 0x76, 0xc0, 0xc0, 0xc0]);
    for (const url of urls) {
      for (const path of [FORWARD_PATH, "/v1/internal/etcd/propose", "/v1/internal/etcd/call"]) {
        const r = await httpsRequest(`${url}${path}`, pki, {
          method: "POST",
          body: batch,
          headers: { "x-raftwork-forwarded-by": "1", "x-raftwork-member": "A".repeat(43) },
        });
        assert.ok("status" in r && r.status === 403, `${url}${path}: ${JSON.stringify(r)}`);
      }
    }
    const get = await kvCli(["get", "k", "--endpoints", urls.join(","), ...flags]);
    assert.equal(get.code, 1, "the forged batch put nothing");
  });

  it("the dashboard over HTTPS reaches every member over the member link", async () => {
    // Each event lists the members as this node sees them: reachable once it fetched their
    // state over HTTPS with its own certificate.
    const reachable = await new Promise<number>((resolve, reject) => {
      const req = https.get(`${urls[0]}/ui/events`, { ...pki, agent: false }, (res) => {
        let buf = "";
        const timer = setTimeout(() => {
          req.destroy();
          reject(new Error(`no event with every member reachable: ${buf.slice(-2000)}`));
        }, 20_000);
        res.on("data", (d: Buffer) => {
          buf += d.toString();
          for (const m of buf.matchAll(/^data: (.*)$/gm)) {
            const view = JSON.parse(m[1] as string) as { members?: { reachable: boolean }[] };
            const up = (view.members ?? []).filter((x) => x.reachable).length;
            if (up === 3) {
              clearTimeout(timer);
              req.destroy();
              resolve(up);
            }
          }
        });
      });
      req.on("error", () => {});
    });
    assert.equal(reachable, 3);
  });

  it("restarts with the same certificates", async () => {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGINT");
    await exited;
    const again = await launchCluster(launchArgs);
    child = again.child;
    assert.match(again.out, /certificates \(kept\)/, again.out);
    const get = await kvCli(["get", "k1", "--endpoints", urls.join(","), ...flags]);
    assert.equal(get.stdout.trim(), "v1", get.stderr);
  });
});

describe("kv serve with only --cert-file and --key-file", () => {
  it("serves HTTPS and gRPC over TLS to clients without a certificate, refuses plaintext, reloads on SIGHUP", async () => {
    const dir = tempDir("tls-one");
    const pki = writeThrowawayPki(join(dir, "pki"), ["node-1"]);
    const own = pki.members.get("node-1");
    assert.ok(own);
    const [raft, http, g] = await freePorts(3);
    const node = spawnCli([
      ...["kv", "serve", "--id", "1", "--peers", `1=127.0.0.1:${raft}`],
      ...["--http", `127.0.0.1:${http}`, "--grpc", `127.0.0.1:${g}`, "--data", join(dir, "d")],
      ...["--cert-file", own.certFile, "--key-file", own.keyFile],
      ...["--election-timeout", "300ms", "--heartbeat", "50ms"],
    ]);
    let stdout = "";
    node.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    const deadline = Date.now() + 60_000;
    while (!stdout.includes("ready") && Date.now() < deadline) await sleep(50);
    assert.match(stdout, new RegExp(`http https://127\\.0\\.0\\.1:${http}`));
    const url = `https://127.0.0.1:${http}`;
    const flags = ["--endpoints", url, "--cacert", pki.caFile];
    let put: Ran | undefined;
    for (let i = 0; i < 100 && put?.code !== 0; i++) {
      put = await kvCli(["put", "a", "1", ...flags]);
      if (put.code !== 0) await sleep(100);
    }
    assert.equal(put?.code, 0, put?.stderr);
    assert.equal((await kvCli(["get", "a", ...flags])).stdout.trim(), "1");
    const plain = await kvCli([
      "get",
      "a",
      "--endpoints",
      `http://127.0.0.1:${http}`,
      "--retries",
      "0",
    ]);
    assert.equal(plain.code, 3);
    if (haveEtcdctl) {
      const get = await etcdctl([
        "--endpoints",
        `127.0.0.1:${g}`,
        "--cacert",
        pki.caFile,
        "get",
        "a",
      ]);
      assert.equal(get.code, 0, get.stderr);
      assert.match(get.stdout, /^a\n1\n$/);
    }

    // SIGHUP: certificates from another CA replace the files; the node serves with them
    // without a restart. A broken file then leaves it on the ones it has.
    let stderr = "";
    node.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const next = writeThrowawayPki(join(dir, "next"), ["node-1"]);
    const nextOwn = next.members.get("node-1");
    assert.ok(nextOwn);
    copyFileSync(nextOwn.certFile, own.certFile);
    copyFileSync(nextOwn.keyFile, own.keyFile);
    node.kill("SIGHUP");
    const withNext = ["--endpoints", url, "--cacert", next.caFile, "--retries", "0"];
    let got: Ran | undefined;
    for (let i = 0; i < 100 && got?.code !== 0; i++) {
      got = await kvCli(["get", "a", ...withNext]);
      if (got.code !== 0) await sleep(100);
    }
    assert.equal(got?.stdout.trim(), "1", got?.stderr);
    assert.match(stderr, /reloaded the TLS certificates/);
    const old = await kvCli(["get", "a", ...flags, "--retries", "0"]);
    assert.equal(old.code, 3, "the old CA no longer vouches for the node");
    writeFileSync(own.keyFile, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    node.kill("SIGHUP");
    const deadline2 = Date.now() + 10_000;
    while (!/cannot reload the TLS certificates/.test(stderr) && Date.now() < deadline2) {
      await sleep(50);
    }
    assert.match(stderr, /cannot reload the TLS certificates/);
    assert.equal((await kvCli(["get", "a", ...withNext])).stdout.trim(), "1");
    assert.equal(node.exitCode, null, "a SIGHUP does not stop a TLS node");
    node.kill("SIGTERM");
  });
});

describe("without TLS: the secret from the Raft handshake", () => {
  it("followers forward to the leader; a client's forged headers reach no internal route", async () => {
    const cluster = await TestCluster.create(3);
    try {
      await cluster.startAll();
      const leader = await cluster.leader();
      const followers = cluster.nodes.filter((n) => n.id !== leader).map((n) => n.id);
      for (const id of followers) {
        let put = null;
        const deadline = Date.now() + 15_000;
        while (put?.status !== 200 && Date.now() < deadline) {
          put = await request(`${cluster.url(id)}/v1/kv/via-${id}`, { method: "PUT", body: "v" });
          if (put?.status !== 200) await sleep(100);
        }
        assert.equal(put?.status, 200, `through follower ${id}: ${put?.body}`);
      }
      const headers = { "x-raftwork-forwarded-by": String(followers[0]) };
      const r = await request(`${cluster.url(leader)}${FORWARD_PATH}`, {
        method: "POST",
        body: "\u0091",
        headers: { ...headers, "x-raftwork-member": "x".repeat(43) },
      });
      assert.equal(r?.status, 403, r?.body);
    } finally {
      await cluster.stopAll();
      cluster.cleanup();
    }
  });
});
