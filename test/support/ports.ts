// Ports for processes a test starts and that must bind them itself. Asking the OS for a free
// port (bind to 0, read it, close) hands out ports from the ephemeral range, the same range the
// OS draws from for every outgoing connection: between the release and the child's bind, any
// connection on the machine (another test's client, a fetch) may take it as its local port, and
// the child fails with EADDRINUSE. So these come from below that range, picked at random and
// checked free; two test files drawing the same port at the same moment is the only race left,
// and it is a chance of about n/20,000 per pair.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOOPBACK = "127.0.0.1";

/** Lowest port of the OS's ephemeral range (Linux: /proc; elsewhere IANA's 49152). */
function ephemeralLow(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/);
    const n = Number(low);
    if (Number.isInteger(n) && n > 12_000) return n;
  } catch {}
  return 49_152;
}

const LOW = 10_000;
const HIGH = ephemeralLow() - 1;

export function canListen(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** `n` distinct ports, free on 127.0.0.1 right now, outside the ephemeral range. */
export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  for (let attempt = 0; out.size < n; attempt++) {
    if (attempt > 1000) throw new Error(`no ${n} free ports found in ${LOW}..${HIGH}`);
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (!out.has(port) && (await canListen(port))) out.add(port);
  }
  return [...out];
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0] as number;
}

/**
 * A base B such that ports B+1..B+n are free right now, outside the ephemeral range, and not
 * within n of any base in `avoid`.
 */
export async function freeRange(n: number, avoid: number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - n));
    if (avoid.some((a) => Math.abs(a - base) <= n)) continue;
    const ok = await Promise.all(Array.from({ length: n }, (_, i) => canListen(base + 1 + i)));
    if (ok.every(Boolean)) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}
