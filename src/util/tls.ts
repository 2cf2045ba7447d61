// TLS pieces every server and client of raftwork shares (README, "Security"): the options of a
// client-facing TLS port (etcd 3.4's --cert-file/--key-file/--trusted-ca-file), the options of
// a client that checks such a port, and the log line of a refused handshake. The Raft port's
// mutual TLS (src/transport/tls.ts) builds on the same description of errors. Everything here
// is configuration of node:tls; no cryptography is written here.

import type { Socket } from "node:net";
import { isIP } from "node:net";
import type { ConnectionOptions, TLSSocket, TlsOptions, Server as TlsServer } from "node:tls";
import type { Logger } from "./logger.js";
import { RepeatFilter } from "./repeat-filter.js";

/** A client-facing TLS port: HTTPS for the HTTP API, TLS for gRPC, the MapReduce servers. */
export interface ServerTls {
  /** The server's certificate chain, PEM. */
  cert: string | Buffer;
  /** Its private key, PEM. */
  key: string | Buffer;
  /**
   * The CA(s) that sign client certificates, PEM. Given, every client must present a
   * certificate one of them signed (etcd 3.4: --trusted-ca-file alone turns this on); absent,
   * no client certificate is requested.
   */
  ca?: string | Buffer;
}

/** What a client trusts and presents (the CLI's --cacert, --cert, --key). */
export interface ClientTls {
  /** CA(s) that sign the servers' certificates; absent: the system's CAs. */
  ca?: string | Buffer;
  /** A client certificate, for servers that require one (with `key`). */
  cert?: string | Buffer;
  key?: string | Buffer;
}

export function serverTlsOptions(t: ServerTls, alpn?: string[]): TlsOptions {
  const verify = t.ca !== undefined;
  return {
    cert: t.cert,
    key: t.key,
    minVersion: "TLSv1.2",
    ...(verify ? { ca: t.ca, requestCert: true, rejectUnauthorized: true } : {}),
    ...(alpn ? { ALPNProtocols: alpn } : {}),
  };
}

/** Options for dialing `host` (an agent's or tls.connect's): the server is always checked. */
export function clientTlsOptions(t: ClientTls, host?: string): ConnectionOptions {
  return {
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    ...(t.cert !== undefined ? { cert: t.cert } : {}),
    ...(t.key !== undefined ? { key: t.key } : {}),
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
    // SNI takes a host name only; for an IP address Node checks the certificate's IP entries.
    ...(host !== undefined && isIP(host) === 0 ? { servername: host } : {}),
  };
}

/**
 * Logs every connection a client-facing `server` refuses during the TLS handshake: `what`, the
 * client's address and one sentence saying why, at warn (a client retrying with the same
 * mistake is logged again at warn once a minute, at debug in between).
 */
export function logRefusedHandshakes(server: TlsServer, logger: Logger, what: string): void {
  const repeats = new RepeatFilter();
  onRefusedHandshake(server, (remote, error) => {
    const host = remote.slice(0, remote.lastIndexOf(":"));
    logger[repeats.level(`${host} ${error}`, "warn")]({ remote, error }, what);
  });
}

/**
 * Calls `log` for every connection `server` refuses during the TLS handshake, with the
 * client's address and one sentence saying why.
 *
 * The address is taken when the TCP connection arrives: by the time a handshake error is
 * reported the socket may be closed (a client that hangs up after its certificate was
 * refused), and a closed socket no longer knows its peer ("undefined:undefined"). Node hands
 * the error the TLS socket, whose only link to its TCP socket is `_parent`; the map keyed by
 * the TCP socket is looked up through it.
 */
export function onRefusedHandshake(
  server: TlsServer,
  log: (remote: string, why: string, err: Error) => void,
): void {
  const remotes = new WeakMap<Socket, string>();
  server.prependListener("connection", (raw: Socket) => {
    remotes.set(raw, socketAddress(raw));
  });
  server.on("tlsClientError", (err: Error, socket: TLSSocket) => {
    const parent = (socket as TLSSocket & { _parent?: Socket })._parent;
    const remote =
      (parent ? remotes.get(parent) : undefined) ??
      (socket.remoteAddress !== undefined ? socketAddress(socket) : "an unknown address");
    log(remote, describeTlsError(err, socket.authorizationError), err);
  });
}

function socketAddress(s: Socket): string {
  const host = s.remoteAddress ?? "?";
  return `${host.includes(":") ? `[${host}]` : host}:${s.remotePort ?? "?"}`;
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

/**
 * One sentence for the log: what a TLS error means, and its code. `authorizationError` is the
 * server's verdict on the client's certificate when that refused it (with TLS 1.3 the client
 * may hang up first, so the error itself then only says "socket hang up").
 */
export function describeTlsError(err: unknown, authorizationError?: Error | string | null): string {
  const e = err as NodeJS.ErrnoException;
  const verdict =
    authorizationError === undefined || authorizationError === null
      ? ""
      : typeof authorizationError === "string"
        ? authorizationError
        : ((authorizationError as NodeJS.ErrnoException).code ?? authorizationError.message);
  const code = verdict || e.code || "";
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
    /wrong version number|packet length too long|unknown protocol|http request/i.test(e.message)
  ) {
    meaning = "the other side does not speak TLS (is TLS configured on both sides?)";
  } else if (/NO_APPLICATION_PROTOCOL/.test(code)) {
    meaning = "the other side offers no protocol this port speaks (ALPN)";
  } else {
    meaning = "TLS handshake failed";
  }
  return `${meaning} (${code || "no code"}: ${e.message.trim()})`;
}
