// Mutual TLS between members (README, "Security"): with `tls` set, the listener speaks only TLS
// and requires a client certificate signed by the trusted CA, and the dialer presents its own
// and checks the acceptor's against the same CA and the address it dialed. A member without
// such a certificate, or a plaintext peer, is refused during the TLS handshake, before any
// raftwork byte is read; both sides log why (rate-limited, since a refused peer redials).
//
// Authorization is membership: a certificate from the cluster's CA says "a member of this
// cluster", and the raftwork handshake that follows says which one (and checks the cluster id).
// That is etcd's peer model too (--peer-client-cert-auth with a shared CA).

import { isIP } from "node:net";
import type { ConnectionOptions, TlsOptions } from "node:tls";

export interface PeerTls {
  /** This member's certificate chain, PEM. */
  cert: string | Buffer;
  /** Its private key, PEM. */
  key: string | Buffer;
  /** The CA(s) whose certificates identify members, PEM. */
  ca: string | Buffer;
}

export function tlsServerOptions(t: PeerTls, handshakeTimeoutMs: number): TlsOptions {
  return {
    cert: t.cert,
    key: t.key,
    ca: t.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
    handshakeTimeout: handshakeTimeoutMs,
  };
}

export function tlsClientOptions(t: PeerTls, host: string): ConnectionOptions {
  return {
    cert: t.cert,
    key: t.key,
    ca: t.ca,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
    // SNI takes a host name only; for an IP address Node checks the certificate's IP entries.
    ...(isIP(host) === 0 ? { servername: host } : {}),
  };
}

// The meaning of TLS errors is the same for members and clients (src/util/tls.ts).
export { describeTlsError, isTlsError } from "../util/tls.js";
