import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { EXIT_USAGE } from "../../src/cli/exit.js";
import { createThrowawayCa } from "../../src/cli/tls-certs.js";
import { readClientTls, readCliTls, readPeerTls } from "../../src/cli/tls-flags.js";

const dir = mkdtempSync(join(tmpdir(), "raftwork-tls-flags-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const throwaway = createThrowawayCa("flags test CA");
const issued = throwaway.issue({ commonName: "m", hosts: ["127.0.0.1"] });
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const cert = write("m.crt", issued.cert);
const key = write("m.key", issued.key);
const ca = write("ca.crt", throwaway.pem.cert);
/** Another certificate's key: PEM, but not this certificate's. */
const otherKey = write("other.key", throwaway.issue({ commonName: "o", hosts: [] }).key);

function usageError(pattern: RegExp) {
  return (err: unknown) => {
    const e = err as { status?: number; message?: string };
    assert.equal(e.status, EXIT_USAGE);
    assert.match(e.message ?? "", pattern);
    return true;
  };
}

describe("kv serve --peer-* TLS flags", () => {
  it("none given: plaintext Raft port", () => {
    assert.equal(readPeerTls({}), undefined);
  });

  it("all three given: the PEM texts are read", () => {
    const t = readPeerTls({ peerCertFile: cert, peerKeyFile: key, peerTrustedCaFile: ca });
    assert.ok(t);
    assert.match(String(t.cert), /BEGIN CERTIFICATE/);
    assert.match(String(t.key), /BEGIN PRIVATE KEY/);
    assert.match(String(t.ca), /BEGIN CERTIFICATE/);
  });

  it("one or two of three is a usage error", () => {
    assert.throws(() => readPeerTls({ peerCertFile: cert }), usageError(/all three or none/));
    assert.throws(
      () => readPeerTls({ peerCertFile: cert, peerKeyFile: key }),
      usageError(/all three or none/),
    );
  });

  it("a missing or non-PEM file is a usage error naming the flag", () => {
    const missing = join(dir, "nope.crt");
    assert.throws(
      () => readPeerTls({ peerCertFile: missing, peerKeyFile: key, peerTrustedCaFile: ca }),
      usageError(/^--peer-cert-file: cannot read .*ENOENT/),
    );
    const junk = join(dir, "junk.key");
    writeFileSync(junk, "not a key\n");
    assert.throws(
      () => readPeerTls({ peerCertFile: cert, peerKeyFile: junk, peerTrustedCaFile: ca }),
      usageError(/^--peer-key-file: .* is not a PEM file/),
    );
  });
});

describe("kv serve's client TLS flags (etcd 3.4's meaning)", () => {
  it("none: plaintext; cert and key only: no client certificate asked for", () => {
    assert.equal(readClientTls({}), undefined);
    const t = readClientTls({ certFile: cert, keyFile: key });
    assert.ok(t);
    assert.equal(t.ca, undefined);
  });

  it("--trusted-ca-file, with or without --client-cert-auth, gives the CA to check clients with", () => {
    for (const clientCertAuth of [false, true]) {
      const t = readClientTls({ certFile: cert, keyFile: key, trustedCaFile: ca, clientCertAuth });
      assert.match(String(t?.ca), /BEGIN CERTIFICATE/);
    }
  });

  it("half a setup is a usage error naming the flags", () => {
    assert.throws(
      () => readClientTls({ certFile: cert }),
      usageError(/--cert-file and --key-file/),
    );
    assert.throws(() => readClientTls({ keyFile: key }), usageError(/--cert-file and --key-file/));
    assert.throws(
      () => readClientTls({ trustedCaFile: ca }),
      usageError(/--trusted-ca-file needs --cert-file/),
    );
    assert.throws(
      () => readClientTls({ clientCertAuth: true }),
      usageError(/--client-cert-auth needs --cert-file/),
    );
    assert.throws(
      () => readClientTls({ certFile: cert, keyFile: key, clientCertAuth: true }),
      usageError(/--client-cert-auth needs --trusted-ca-file/),
    );
    assert.throws(
      () => readClientTls({ certFile: cert, keyFile: join(dir, "nope") }),
      usageError(/--key-file: cannot read/),
    );
    assert.throws(
      () => readClientTls({ certFile: cert, keyFile: otherKey }),
      usageError(/--cert-file, --key-file, --trusted-ca-file: not usable together/),
    );
    assert.throws(
      () => readPeerTls({ peerCertFile: cert, peerKeyFile: otherKey, peerTrustedCaFile: ca }),
      usageError(/--peer-cert-file, --peer-key-file, --peer-trusted-ca-file: not usable/),
    );
  });
});

describe("the client commands' --cacert, --cert, --key", () => {
  it("any subset with --cert and --key together", () => {
    assert.equal(readCliTls({}), undefined);
    assert.deepEqual(Object.keys(readCliTls({ cacert: ca }) ?? {}), ["ca"]);
    assert.deepEqual(Object.keys(readCliTls({ cert, key }) ?? {}).sort(), ["cert", "key"]);
    assert.throws(() => readCliTls({ cert }), usageError(/--cert and --key go together/));
    assert.throws(() => readCliTls({ cacert: key.replace("m.key", "x") }), usageError(/--cacert/));
  });
});
