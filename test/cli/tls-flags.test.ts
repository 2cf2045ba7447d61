import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { EXIT_USAGE } from "../../src/cli/exit.js";
import { readPeerTls } from "../../src/cli/tls-flags.js";

const dir = mkdtempSync(join(tmpdir(), "raftwork-tls-flags-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const pem = (name: string, label: string) => {
  const path = join(dir, name);
  writeFileSync(path, `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`);
  return path;
};
const cert = pem("m.crt", "CERTIFICATE");
const key = pem("m.key", "PRIVATE KEY");
const ca = pem("ca.crt", "CERTIFICATE");

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
