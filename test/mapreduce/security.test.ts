// A job's traffic with mutual TLS and a shared token (README, "Security"): a coordinator and two
// workers started by hand, every control request, input, output upload and map-output fetch
// over HTTPS with client certificates and the token, give the output `mr seq` gives. The
// gated app holds both workers in the job (each holds map output the other's reducers fetch)
// while a worker with the wrong token is refused, one without TLS cannot connect, and direct
// requests without a certificate or without the token get nothing.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { describe, it } from "node:test";
import { writeThrowawayPki } from "../../src/cli/tls-certs.js";
import {
  APPS,
  cleanUpAfterAll,
  makeInputs,
  outputLines,
  seqLines,
  startCoordinator,
  startWorker,
  status,
  tempDir,
  waitFor,
} from "./helpers.js";

cleanUpAfterAll();

function get(
  url: string,
  opts: https.RequestOptions,
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = https.get(url, { ...opts, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (e) => resolve({ error: e.message }));
  });
}

describe("mr with --cert-file/--key-file/--trusted-ca-file and --token-file", () => {
  it("half a TLS setup, a mismatched key or a short token is a usage error naming the flag", async () => {
    const dir = tempDir();
    const pki = writeThrowawayPki(join(dir, "pki"), ["a", "b"]);
    const a = pki.members.get("a");
    const b = pki.members.get("b");
    assert.ok(a && b);
    const short = join(dir, "short");
    writeFileSync(short, "tiny");
    const cases: [string[], RegExp][] = [
      [["--cert-file", a.certFile], /all three or none/],
      [
        ["--cert-file", a.certFile, "--key-file", b.keyFile, "--trusted-ca-file", pki.caFile],
        /not usable together/,
      ],
      [["--token-file", short], /--token-file: .* 16\.\.4096 printable/],
      [["--token-file", join(dir, "none")], /--token-file: cannot read/],
    ];
    for (const [flags, message] of cases) {
      const w = startWorker("127.0.0.1:1", join(APPS, "gated.mjs"), flags);
      assert.equal(await w.exited, 2, w.stderr());
      assert.match(w.stderr(), message);
    }
  });

  it("runs a job over mutual TLS with the token; refuses the wrong token, plaintext and strangers", async () => {
    const dir = tempDir();
    const pki = writeThrowawayPki(join(dir, "pki"), ["coordinator", "w1", "w2"]);
    const token = join(dir, "token");
    writeFileSync(token, "s3cret-token-for-the-job\n");
    const wrongToken = join(dir, "wrong");
    writeFileSync(wrongToken, "another-token-entirely");
    const tls = (name: string) => {
      const own = pki.members.get(name);
      assert.ok(own);
      return [
        ...["--cert-file", own.certFile, "--key-file", own.keyFile],
        ...["--trusted-ca-file", pki.caFile],
      ];
    };
    const app = join(APPS, "gated.mjs");
    const env = { MR_TEST_DIR: dir, MR_WAIT_PEERS: "1" };
    const inputs = makeInputs(dir, 4, 200);
    const out = join(dir, "out");
    const c = await startCoordinator([
      ...["--reduce", "3", "--out", out, ...tls("coordinator"), "--token-file", token],
      ...inputs,
    ]);
    const workers = ["w1", "w2"].map((w) =>
      startWorker(c.addr, app, [...tls(w), "--token-file", token], env),
    );

    // The wrong token is refused (exit 1 with the reason), a worker without TLS never gets
    // through (exit 3 once its connect timeout passes).
    const wrong = startWorker(c.addr, app, [...tls("w1"), "--token-file", wrongToken]);
    assert.equal(await wrong.exited, 1, wrong.stderr());
    assert.match(wrong.stderr(), /token/);
    const plain = startWorker(c.addr, app, ["--token-file", token, "--connect-timeout", "2s"]);
    assert.equal(await plain.exited, 3, plain.stderr());

    // Straight to the control port: no certificate, no token, and the right way.
    const url = `https://${c.addr}/v1/input/0`;
    const creds = {
      ca: readFileSync(pki.caFile),
      cert: readFileSync(pki.client.certFile),
      key: readFileSync(pki.client.keyFile),
    };
    const noCert = await get(url, { ca: creds.ca });
    assert.ok("error" in noCert, JSON.stringify(noCert));
    const noToken = await get(url, creds);
    assert.ok("status" in noToken && noToken.status === 401, JSON.stringify(noToken));

    await waitFor(
      async () => (await status(c.statusUrl))?.phase === "reduce",
      60_000,
      "the reduce phase",
    );
    writeFileSync(join(dir, "release"), "");
    assert.equal(await c.proc.exited, 0, c.proc.stderr());
    for (const w of workers) assert.equal(await w.exited, 0, w.stderr());
    assert.deepEqual(outputLines(out), await seqLines(app, inputs, { MR_TEST_DIR: dir }));
  });
});
