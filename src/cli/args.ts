// Parsers for the flag value conventions every command shares (README, "Conventions"). Each
// throws InvalidArgumentError, which commander turns into a usage error (exit 2) naming the
// flag.

import { InvalidArgumentError } from "commander";
import { type HostPort, parseHostPort as parseHostPortResult } from "../util/host-port.js";

const DURATION_UNITS: Record<string, number> = {
  "": 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** "300ms", "10s", "2m", "1h", or a bare number of milliseconds. Returns milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) {
    throw new InvalidArgumentError(`"${text}" is not a duration (examples: 300ms, 10s, 2m, 1h)`);
  }
  const ms = Number(m[1]) * (DURATION_UNITS[m[2] ?? ""] ?? 1);
  if (!Number.isFinite(ms) || ms <= 0)
    throw new InvalidArgumentError(`duration "${text}" must be positive`);
  return Math.round(ms);
}

/** "64MiB", "512KiB", "1GiB", "100B". Returns bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(B|KiB|MiB|GiB)$/.exec(text.trim());
  if (!m)
    throw new InvalidArgumentError(`"${text}" is not a size (examples: 100B, 512KiB, 64MiB, 1GiB)`);
  const bytes = Math.floor(Number(m[1]) * (SIZE_UNITS[m[2] as string] ?? 1));
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw new InvalidArgumentError(`size "${text}" must be positive`);
  return bytes;
}

export type { HostPort };

/** "HOST:PORT" (an IPv6 host in brackets: "[::1]:7001"). Port 0 is allowed only if allowZero. */
export function parseHostPort(text: string, allowZero = false): HostPort {
  const r = parseHostPortResult(text, allowZero);
  if (!r.ok) throw new InvalidArgumentError(r.error);
  return r.value;
}

/** Comma-separated http://HOST:PORT URLs; returns them without trailing slashes. */
export function parseEndpoints(text: string): string[] {
  const list = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0)
    throw new InvalidArgumentError("expected at least one http://HOST:PORT URL");
  return list.map((s) => {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      throw new InvalidArgumentError(`"${s}" is not a URL (example: http://127.0.0.1:8001)`);
    }
    const scheme = url.protocol === "https:" ? "https" : url.protocol === "http:" ? "http" : null;
    if (scheme === null || !url.port || (url.pathname !== "/" && url.pathname !== "")) {
      throw new InvalidArgumentError(`"${s}" must look like http://HOST:PORT or https://HOST:PORT`);
    }
    return `${scheme}://${url.host}`;
  });
}

/** A positive integer within [min, max]. */
export function parseIntIn(min: number, max: number): (text: string) => number {
  return (text: string) => {
    if (!/^\d+$/.test(text.trim()))
      throw new InvalidArgumentError(`"${text}" is not a whole number`);
    const n = Number(text);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is out of range ${min}..${max}`);
    return n;
  };
}
