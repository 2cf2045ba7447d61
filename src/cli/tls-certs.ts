// Throwaway certificates for `kv cluster --tls` (and the tests): a private CA made for one local
// cluster and certificates it signs, so TLS can be tried without a PKI. Not for production: the
// CA key sits next to the certificates, unencrypted. Production clusters bring their own files
// (README, "Security").
//
// Keys come from node:crypto (RSA 2048, what every TLS stack and etcd's clients accept);
// node-forge builds and signs the X.509 structures, which node:crypto cannot. No cryptography is
// written here.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import type * as Forge from "node-forge";
import { requireOptional } from "../util/optional.js";

export interface Pem {
  cert: string;
  key: string;
}

export interface IssueOptions {
  commonName: string;
  /** DNS names and IP addresses the certificate is valid for (subjectAltName). */
  hosts: readonly string[];
  /** Days of validity. Default 365. */
  days?: number;
}

export interface ThrowawayCa {
  pem: Pem;
  /** A certificate for a server and client both (members talk both ways). */
  issue(opts: IssueOptions): Pem;
}

/** The password of the client's PKCS #12 file (for importing it into a browser). */
export const P12_PASSWORD = "raftwork";

function forge(): typeof Forge {
  return requireOptional<typeof Forge>("node-forge", "raftwork kv cluster --tls");
}

function rsaKeys(f: typeof Forge): {
  privateKey: Forge.pki.rsa.PrivateKey;
  publicKey: Forge.pki.PublicKey;
  pem: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return {
    privateKey: f.pki.privateKeyFromPem(privateKey) as Forge.pki.rsa.PrivateKey,
    publicKey: f.pki.publicKeyFromPem(publicKey),
    pem: privateKey,
  };
}

function newCertificate(f: typeof Forge, publicKey: Forge.pki.PublicKey, days: number) {
  const c = f.pki.createCertificate();
  c.publicKey = publicKey;
  // Positive 128-bit serial: the leading 0 nibble keeps the DER integer positive.
  c.serialNumber = `0${randomBytes(16).toString("hex").slice(1)}`;
  // A minute of slack: a peer whose clock is a little behind must not see "not yet valid".
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + days * 86_400_000);
  return c;
}

/** A fresh CA, valid for `days` (default 365). */
export function createThrowawayCa(name = "raftwork throwaway CA", days = 365): ThrowawayCa {
  const f = forge();
  const keys = rsaKeys(f);
  const ca = newCertificate(f, keys.publicKey, days);
  const subject = [{ name: "commonName", value: name }];
  ca.setSubject(subject);
  ca.setIssuer(subject);
  ca.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
  ]);
  ca.sign(keys.privateKey, f.md.sha256.create());
  return {
    pem: { cert: f.pki.certificateToPem(ca), key: keys.pem },
    issue(opts) {
      const leafKeys = rsaKeys(f);
      const c = newCertificate(f, leafKeys.publicKey, opts.days ?? days);
      c.setSubject([{ name: "commonName", value: opts.commonName }]);
      c.setIssuer(ca.subject.attributes);
      c.setExtensions([
        { name: "basicConstraints", cA: false },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
        { name: "extKeyUsage", serverAuth: true, clientAuth: true },
        {
          name: "subjectAltName",
          // Type 7 is an IP address, 2 a DNS name (RFC 5280 GeneralName).
          altNames: opts.hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })),
        },
      ]);
      c.sign(keys.privateKey, f.md.sha256.create());
      return { cert: f.pki.certificateToPem(c), key: leafKeys.pem };
    },
  };
}

export interface CertPaths {
  certFile: string;
  keyFile: string;
}

export interface ThrowawayPki {
  caFile: string;
  /** One per member name, valid for every loopback name. */
  members: Map<string, CertPaths>;
  /** For clients (the CLI, etcdctl). */
  client: CertPaths;
  /** The client's certificate and key as PKCS #12 (password P12_PASSWORD), for browsers. */
  clientP12: string;
}

const LOCAL_HOSTS = ["127.0.0.1", "::1", "localhost"];

/**
 * Writes a CA and certificates for `members` and one client under `dir` (created; keys are
 * readable by their owner only): ca.crt, <name>.crt, <name>.key, client.crt, client.key.
 */
export function writeThrowawayPki(dir: string, members: readonly string[]): ThrowawayPki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = createThrowawayCa();
  const caFile = join(dir, "ca.crt");
  writeFileSync(caFile, ca.pem.cert);
  const write = (name: string, pem: Pem): CertPaths => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(certFile, pem.cert);
    writeFileSync(keyFile, pem.key, { mode: 0o600 });
    return { certFile, keyFile };
  };
  const out = new Map<string, CertPaths>();
  for (const name of members) {
    out.set(name, write(name, ca.issue({ commonName: name, hosts: LOCAL_HOSTS })));
  }
  const clientPem = ca.issue({ commonName: "client", hosts: LOCAL_HOSTS });
  const client = write("client", clientPem);
  const clientP12 = join(dir, "client.p12");
  writeFileSync(clientP12, toP12(clientPem, ca.pem.cert), { mode: 0o600 });
  return { caFile, members: out, client, clientP12 };
}

function toP12(pem: Pem, caCert: string): Buffer {
  const f = forge();
  // Triple DES: the PKCS #12 encryption every browser and OS keychain imports.
  const asn1 = f.pkcs12.toPkcs12Asn1(
    f.pki.privateKeyFromPem(pem.key),
    [f.pki.certificateFromPem(pem.cert), f.pki.certificateFromPem(caCert)],
    P12_PASSWORD,
    { algorithm: "3des", friendlyName: "raftwork client" },
  );
  return Buffer.from(f.asn1.toDer(asn1).getBytes(), "binary");
}

/** The paths writeThrowawayPki(dir, members) writes. */
export function pkiPaths(dir: string, members: readonly string[]): ThrowawayPki {
  const paths = (name: string): CertPaths => ({
    certFile: join(dir, `${name}.crt`),
    keyFile: join(dir, `${name}.key`),
  });
  return {
    caFile: join(dir, "ca.crt"),
    members: new Map(members.map((m) => [m, paths(m)])),
    client: paths("client"),
    clientP12: join(dir, "client.p12"),
  };
}

/**
 * The PKI under `dir` for `members`: the one already there when every file is (a restarted
 * cluster keeps its certificates), else a new one. Returns whether it was created.
 */
export function ensureThrowawayPki(
  dir: string,
  members: readonly string[],
): { pki: ThrowawayPki; created: boolean } {
  const want = pkiPaths(dir, members);
  const files = [
    want.caFile,
    want.client.certFile,
    want.client.keyFile,
    want.clientP12,
    ...[...want.members.values()].flatMap((p) => [p.certFile, p.keyFile]),
  ];
  if (files.every((f) => existsSync(f))) return { pki: want, created: false };
  return { pki: writeThrowawayPki(dir, members), created: true };
}
