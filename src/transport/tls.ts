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

/** Whether a socket error came from TLS (a handshake or certificate problem). */
export function isTlsError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string") return false;
  return (
    code.startsWith("ERR_SSL_") ||
    code.startsWith("ERR_TLS_") ||
    code.includes("CERT") ||
    code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE" ||
    code === "UNABLE_TO_GET_ISSUER_CERT_LOCALLY" ||
    code === "EPROTO"
  );
}

/** One sentence for the log: what the TLS error means for a member, and its code. */
export function describeTlsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? "";
  let meaning: string;
  if (/UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNKNOWN_CA/.test(code)) {
    meaning = "the other side's certificate is not signed by the trusted CA";
  } else if (/ALTNAME/.test(code)) {
    meaning = "the certificate is not valid for the address dialed";
  } else if (/EXPIRED|NOT_YET_VALID/.test(code)) {
    meaning = "the certificate is outside its validity period";
  } else if (
    /CERTIFICATE_REQUIRED|PEER_DID_NOT_RETURN/.test(code) ||
    /certificate required/i.test(e.message)
  ) {
    meaning = "the other side presented no certificate";
  } else if (
    /WRONG_VERSION_NUMBER|HTTP_REQUEST|PACKET_LENGTH_TOO_LONG|UNKNOWN_PROTOCOL/.test(code) ||
    /wrong version number|packet length too long|unknown protocol/.test(e.message)
  ) {
    meaning = "the other side does not speak TLS (is TLS configured on every member?)";
  } else {
    meaning = "TLS handshake failed";
  }
  return `${meaning} (${code || "no code"}: ${e.message})`;
}
