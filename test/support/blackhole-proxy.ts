// A small TCP proxy that can cut traffic silently, for partition tests (test/transport) and the
// partition-heal benchmark (bench/partition-heal.mjs). It forwards every connection it accepts
// to one target; blackhole() makes it stop carrying bytes, as a network that drops packets
// does: no FIN, no RST, sockets stay open, and nothing tells either end. heal() resumes.
//
// Two ways to cut:
//   "hold"  bytes wait and cross at heal, as TCP delivers a stream once a partition heals (the
//           proxy stops reading, so the sender's socket buffers fill as they would). Default.
//   "drop"  bytes are read and discarded: the stream resumes at heal with a hole in it, which a
//           real network never does, but which a checksumming receiver must catch.
// A cut applies to one direction or both ("up" = client to target) and to the connections a
// predicate selects by tag (tag() names each connection as it is accepted, e.g. by which
// process dialed). A connection accepted while it would be cut is not connected to the target
// until the cut lifts: a real partition drops the SYN too. One fidelity gap: the proxy's kernel
// acknowledges what it receives, so a cut stalls the sender's TCP without the exponentially
// backed-off retransmissions of real packet loss; what is tested is the silence.

import { connect, createServer, type Server, type Socket } from "node:net";

export interface Endpoint {
  host: string;
  port: number;
}

export type Direction = "up" | "down" | "both";

export interface Cut {
  mode?: "hold" | "drop";
  direction?: Direction;
  /** Which connections are cut, by tag. Default: all. */
  which?: (tag: string | undefined) => boolean;
}

export interface ProxyOptions {
  target: Endpoint;
  listen?: Endpoint;
  /** Names an accepted connection; the client's bytes wait until it resolves. */
  tag?: (client: Socket) => string | undefined | Promise<string | undefined>;
}

export interface ProxyStats {
  accepted: number;
  forwarded: { up: number; down: number };
  dropped: { up: number; down: number };
}

/** One direction of one proxied connection. */
class Pipe {
  private endPending = false;
  private destroyPending = false;
  private cut: "hold" | "drop" | null = null;

  constructor(
    private readonly src: Socket,
    private readonly dst: () => Socket | null,
    private readonly proxy: BlackholeProxy,
    private readonly dir: "up" | "down",
  ) {
    // The source is paused until setCut() (pauseOnConnect, or not yet connected): adding a
    // "data" listener does not start the flow.
    src.pause();
    src.on("data", (chunk: Buffer) => this.onData(chunk));
    src.on("end", () => {
      this.endPending = true;
      this.flow();
    });
    // A reset (or a close without FIN) is passed on as a reset; after a FIN, end() alone lets
    // the bytes still being written reach the other side first.
    src.on("close", (hadError: boolean) => {
      if (hadError || !this.endPending) this.destroyPending = true;
      this.flow();
    });
    src.on("error", () => {});
  }

  setCut(cut: "hold" | "drop" | null): void {
    this.cut = cut;
    if (cut === "hold") this.src.pause();
    else if (cut === "drop") this.src.resume();
    this.flow();
  }

  /** Lets bytes (and a held end or close) cross, once neither the cut nor the target stop it. */
  private flow(): void {
    const dst = this.dst();
    if (this.cut !== null || dst === null) return;
    this.src.resume();
    if (this.endPending) dst.end();
    if (this.destroyPending) dst.destroy();
  }

  private onData(chunk: Buffer): void {
    const stats = this.proxy.statsRef;
    const dst = this.dst();
    if (this.cut === "drop" || dst === null) {
      stats.dropped[this.dir] += chunk.byteLength;
      return;
    }
    let bytes = chunk;
    const bit = this.dir === "up" ? this.proxy.takeCorruption() : null;
    if (bit !== null) {
      bytes = Buffer.from(chunk);
      const at = bit % (bytes.byteLength * 8);
      bytes[at >> 3] = (bytes[at >> 3] as number) ^ (0x80 >> (at & 7));
    }
    stats.forwarded[this.dir] += bytes.byteLength;
    if (!dst.write(bytes)) {
      this.src.pause();
      dst.once("drain", () => this.flow());
    }
  }
}

/** One accepted connection and, once connected, its connection to the target. */
class Proxied {
  upstream: Socket | null = null;
  down: Pipe | null = null;
  readonly up: Pipe;
  tag: string | undefined = undefined;
  tagged = false;

  constructor(
    readonly client: Socket,
    proxy: BlackholeProxy,
  ) {
    this.up = new Pipe(client, () => this.upstream, proxy, "up");
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }
}

export class BlackholeProxy {
  private readonly server: Server;
  private readonly conns = new Set<Proxied>();
  private rule: Cut | null = null;
  private corruptBits: number[] = [];
  /** Shared with the pipes. */
  readonly statsRef: ProxyStats = {
    accepted: 0,
    forwarded: { up: 0, down: 0 },
    dropped: { up: 0, down: 0 },
  };

  static async start(opts: ProxyOptions): Promise<BlackholeProxy> {
    const p = new BlackholeProxy(opts);
    const listen = opts.listen ?? { host: "127.0.0.1", port: 0 };
    await new Promise<void>((resolve, reject) => {
      p.server.once("error", reject);
      p.server.listen(listen.port, listen.host, () => {
        p.server.off("error", reject);
        resolve();
      });
    });
    return p;
  }

  private constructor(private readonly opts: ProxyOptions) {
    this.server = createServer({ noDelay: true, pauseOnConnect: true }, (client) =>
      this.accept(client),
    );
  }

  get address(): Endpoint {
    const a = this.server.address();
    if (a === null || typeof a === "string") throw new Error("proxy is not listening");
    return { host: a.address, port: a.port };
  }

  get stats(): ProxyStats {
    const s = this.statsRef;
    return { accepted: s.accepted, forwarded: { ...s.forwarded }, dropped: { ...s.dropped } };
  }

  /** Live proxied connections. */
  get connections(): number {
    return this.conns.size;
  }

  /** Cuts the selected connections, existing and future, until heal(). */
  blackhole(cut: Cut = {}): void {
    this.rule = cut;
    for (const c of this.conns) this.apply(c);
  }

  heal(): void {
    this.rule = null;
    for (const c of this.conns) this.apply(c);
  }

  /** Flips one bit (its index taken modulo the chunk's bits) of the next chunk sent upstream. */
  corruptNext(bit: number): void {
    this.corruptBits.push(bit);
  }

  /** The bit to flip in the chunk being forwarded upstream, if one is due. */
  takeCorruption(): number | null {
    return this.corruptBits.shift() ?? null;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private cutFor(c: Proxied, dir: "up" | "down"): "hold" | "drop" | null {
    const r = this.rule;
    if (r === null) return null;
    const direction = r.direction ?? "both";
    if (direction !== "both" && direction !== dir) return null;
    if (r.which !== undefined && !r.which(c.tag)) return null;
    return r.mode ?? "hold";
  }

  private apply(c: Proxied): void {
    if (!c.tagged) return;
    const up = this.cutFor(c, "up");
    const down = this.cutFor(c, "down");
    // A connection is established only once neither direction is cut (SYN, then SYN-ACK).
    if (c.upstream === null && up === null && down === null) this.connectUpstream(c);
    c.up.setCut(up);
    c.down?.setCut(down);
  }

  private accept(client: Socket): void {
    this.statsRef.accepted++;
    const c = new Proxied(client, this);
    this.conns.add(c);
    client.once("close", () => {
      if (c.upstream === null || c.upstream.closed) this.conns.delete(c);
    });
    const tagged = (tag: string | undefined) => {
      c.tag = tag;
      c.tagged = true;
      this.apply(c);
    };
    if (this.opts.tag === undefined) tagged(undefined);
    else Promise.resolve(this.opts.tag(client)).then(tagged, () => tagged(undefined));
  }

  private connectUpstream(c: Proxied): void {
    if (c.client.destroyed) return;
    const upstream = connect({ ...this.opts.target, noDelay: true });
    c.upstream = upstream;
    c.down = new Pipe(upstream, () => c.client, this, "down");
    upstream.once("close", () => {
      if (c.client.closed) this.conns.delete(c);
    });
  }
}
