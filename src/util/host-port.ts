// The one parser and formatter for "HOST:PORT" addresses (README, "Conventions": --http,
// --grpc, --listen, --advertise*, --coordinator, peer lists). IPv6 hosts are written in
// brackets ("[::1]:7001") and stored without them ({host: "::1"}), as node:net wants them.

import { err, ok, type Result } from "./result.js";

export interface HostPort {
  host: string;
  port: number;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+):(\d{1,5})$/;

/** Parses "HOST:PORT"; port 0 ("any free port") only when allowZero. Never throws. */
export function parseHostPort(text: string, allowZero = false): Result<HostPort> {
  const m = HOST_PORT.exec(text.trim());
  if (!m) return err(`"${text}" is not HOST:PORT (example: 127.0.0.1:7001)`);
  const port = Number(m[2]);
  if (port > 65535 || (port === 0 && !allowZero)) return err(`port in "${text}" is out of range`);
  return ok({ host: unbracket(m[1] as string), port });
}

/** "::1" -> "[::1]"; any other host unchanged. For URLs and HOST:PORT text. */
export function hostForUrl(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** "[::1]" -> "::1" (URL.hostname keeps the brackets; sockets want them off). */
export function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** {host: "::1", port: 7001} -> "[::1]:7001". */
export function formatHostPort(hp: HostPort): string {
  return `${hostForUrl(hp.host)}:${hp.port}`;
}
