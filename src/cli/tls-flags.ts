// `kv serve`'s peer TLS flags (etcd's names): read and checked at start so a wrong path is a
// usage error naming the flag, not a handshake failure minutes later.

import { readFileSync } from "node:fs";
import type { PeerTls } from "../transport/tls.js";
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
  return {
    cert: readPemFlag("--peer-cert-file", o.peerCertFile),
    key: readPemFlag("--peer-key-file", o.peerKeyFile),
    ca: readPemFlag("--peer-trusted-ca-file", o.peerTrustedCaFile),
  };
}
