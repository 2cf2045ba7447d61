// The TLS flags (etcd's names) of `kv serve` (peer and client side) and of the client commands:
// read and checked at start so a wrong path is a usage error naming the flag, not a handshake
// failure minutes later.

import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { PeerTls } from "../transport/tls.js";
import type { ClientTls, ServerTls } from "../util/tls.js";
import { CliExit, EXIT_USAGE } from "./exit.js";

export interface PeerTlsFlags {
  peerCertFile?: string;
  peerKeyFile?: string;
  peerTrustedCaFile?: string;
}

/** Reads one PEM file; the error names the flag and says what is wrong. */
export function readPemFlag(flag: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new CliExit(EXIT_USAGE, `${flag}: cannot read ${path} (${reason})`);
  }
  if (!/-----BEGIN [A-Z0-9 ]+-----/.test(text)) {
    throw new CliExit(EXIT_USAGE, `${flag}: ${path} is not a PEM file`);
  }
  return text;
}

/** All three peer flags or none: a member with half a TLS setup would be refused by every peer. */
export function readPeerTls(o: PeerTlsFlags): PeerTls | undefined {
  const given = [o.peerCertFile, o.peerKeyFile, o.peerTrustedCaFile].filter((v) => v !== undefined);
  if (given.length === 0) return undefined;
  if (given.length !== 3 || !o.peerCertFile || !o.peerKeyFile || !o.peerTrustedCaFile) {
    throw new CliExit(
      EXIT_USAGE,
      "--peer-cert-file, --peer-key-file and --peer-trusted-ca-file go together (all three or none)",
    );
  }
  return usable(["--peer-cert-file", "--peer-key-file", "--peer-trusted-ca-file"], {
    cert: readPemFlag("--peer-cert-file", o.peerCertFile),
    key: readPemFlag("--peer-key-file", o.peerKeyFile),
    ca: readPemFlag("--peer-trusted-ca-file", o.peerTrustedCaFile),
  });
}

/**
 * `t` if OpenSSL takes it (the key matches the certificate, every PEM parses), else a usage
 * error naming `flags` (cert, key, ca) with OpenSSL's reason: said at start, not at the first
 * connection.
 */
export function usable<T extends { cert?: string; key?: string; ca?: string }>(
  flags: readonly string[],
  t: T,
): T {
  try {
    createSecureContext({ cert: t.cert, key: t.key, ca: t.ca });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CliExit(EXIT_USAGE, `${flags.join(", ")}: not usable together (${reason})`);
  }
  return t;
}

export interface ClientTlsFlags {
  certFile?: string;
  keyFile?: string;
  trustedCaFile?: string;
  clientCertAuth?: boolean;
}

/**
 * The client-facing TLS of `kv serve` (etcd 3.4's flags and meaning): --cert-file with
 * --key-file serve HTTPS and gRPC over TLS; --trusted-ca-file, with or without
 * --client-cert-auth, makes every client present a certificate that CA signed.
 * --client-cert-auth alone would leave nothing to check the certificates against, so it is a
 * usage error here (etcd would fall back to the system's CAs, which any public certificate
 * passes).
 */
export function readClientTls(o: ClientTlsFlags): ServerTls | undefined {
  if (o.certFile === undefined && o.keyFile === undefined) {
    for (const [flag, v] of [
      ["--trusted-ca-file", o.trustedCaFile],
      ["--client-cert-auth", o.clientCertAuth || undefined],
    ] as const) {
      if (v !== undefined) {
        throw new CliExit(EXIT_USAGE, `${flag} needs --cert-file and --key-file (TLS for clients)`);
      }
    }
    return undefined;
  }
  if (o.certFile === undefined || o.keyFile === undefined) {
    throw new CliExit(EXIT_USAGE, "--cert-file and --key-file go together");
  }
  if (o.clientCertAuth && o.trustedCaFile === undefined) {
    throw new CliExit(
      EXIT_USAGE,
      "--client-cert-auth needs --trusted-ca-file (the CA that signs client certificates)",
    );
  }
  return usable(["--cert-file", "--key-file", "--trusted-ca-file"], {
    cert: readPemFlag("--cert-file", o.certFile),
    key: readPemFlag("--key-file", o.keyFile),
    ...(o.trustedCaFile !== undefined
      ? { ca: readPemFlag("--trusted-ca-file", o.trustedCaFile) }
      : {}),
  });
}

export interface CliTlsFlags {
  cacert?: string;
  cert?: string;
  key?: string;
}

/** A client command's --cacert, --cert and --key (etcdctl's names). */
export function readCliTls(o: CliTlsFlags): ClientTls | undefined {
  if (o.cacert === undefined && o.cert === undefined && o.key === undefined) return undefined;
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw new CliExit(EXIT_USAGE, "--cert and --key go together");
  }
  return usable(["--cert", "--key", "--cacert"], {
    ...(o.cacert !== undefined ? { ca: readPemFlag("--cacert", o.cacert) } : {}),
    ...(o.cert !== undefined ? { cert: readPemFlag("--cert", o.cert) } : {}),
    ...(o.key !== undefined ? { key: readPemFlag("--key", o.key) } : {}),
  });
}
