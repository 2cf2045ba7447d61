// Server-Sent Events for raftwork's live pages (the cluster dashboard, the job page): one
// producer shared by every open page. While at least one page listens, the stream calls
// `produce` every `intervalMs` and sends its result, as JSON, to every listener as one event;
// with nobody listening it does nothing (a dashboard nobody watches costs nothing). The page
// side is ui/kit/live.js.
//
//   const events = new EventStream({ event: "status", intervalMs: 1000, produce: () => s() });
//   // in the request handler, for GET /ui/events:  events.handle(req, res, loopback);
//   // on shutdown:                                 events.close();
//
// Same origin only, like the pages' assets (static-assets.ts): refuseForeign, no CORS headers.
// Import it as util/event-stream.js, not through util/index.ts (the Raft core's surface).

import type { IncomingMessage, ServerResponse } from "node:http";
import { refuseForeign, securityHeaders, sendText } from "./static-assets.js";

export interface EventStreamOptions {
  /** The SSE event name every message carries. */
  event: string;
  intervalMs: number;
  /** The next message's data. A rejection skips one round (the next round tries again). */
  produce: () => unknown | Promise<unknown>;
  /** Told why a round failed; default: ignored. */
  onError?: (err: unknown) => void;
}

export class EventStream {
  private readonly listeners = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private producing = false;
  private closed = false;

  constructor(private readonly opts: EventStreamOptions) {}

  /** How many pages listen right now. */
  get size(): number {
    return this.listeners.size;
  }

  /**
   * Answers a request for the stream: 403 from another origin (or a foreign Host on a loopback
   * server), 405 for anything but GET, otherwise an event stream that gets the current data at
   * once and then every round until the page or the server goes away.
   */
  handle(req: IncomingMessage, res: ServerResponse, loopback: boolean): void {
    if (refuseForeign(req, res, loopback)) return;
    if (req.method !== "GET") {
      res.setHeader("Allow", "GET");
      sendText(res, 405, "method not allowed\n");
      return;
    }
    if (this.closed) {
      sendText(res, 503, "shutting down\n");
      return;
    }
    res.writeHead(200, {
      ...securityHeaders("text/event-stream; charset=utf-8"),
      "Cache-Control": "no-store",
      // A proxy must not buffer the stream.
      "X-Accel-Buffering": "no",
    });
    // The page reconnects on its own schedule (live.js); this is only EventSource's fallback.
    res.write("retry: 1000\n\n");
    this.listeners.add(res);
    res.on("close", () => {
      this.listeners.delete(res);
      if (this.listeners.size === 0) this.stop();
    });
    this.round();
    this.timer ??= setInterval(() => this.round(), this.opts.intervalMs);
  }

  /**
   * Sends one last message (the final state: a job that just ended) to every listener, then
   * ends every stream; resolves once the data is handed to the network (at most 1 s).
   */
  async end(): Promise<void> {
    if (this.closed) return;
    this.stop();
    const open = [...this.listeners];
    if (open.length > 0) {
      try {
        const message = this.message(await this.opts.produce());
        for (const res of open) if (!res.writableEnded) res.write(message);
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
    const finished = open.map(
      (res) =>
        new Promise<void>((resolve) =>
          res.writableFinished ? resolve() : res.once("close", resolve).once("finish", resolve),
        ),
    );
    this.close();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1000);
    });
    await Promise.race([Promise.all(finished), limit]);
    clearTimeout(timer);
  }

  /** Ends every stream and stops producing. */
  close(): void {
    this.closed = true;
    this.stop();
    for (const res of this.listeners) res.end();
    this.listeners.clear();
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private round(): void {
    // A slow producer (peers that do not answer) must not pile rounds up behind it. A page that
    // starts listening meanwhile gets the round in flight: results go to whoever listens when
    // they are ready.
    if (this.producing) return;
    this.producing = true;
    Promise.resolve()
      .then(() => this.opts.produce())
      .then(
        (data) => {
          const message = this.message(data);
          for (const res of this.listeners) if (!res.writableEnded) res.write(message);
        },
        (err: unknown) => this.opts.onError?.(err),
      )
      .finally(() => {
        this.producing = false;
      });
  }

  private message(data: unknown): string {
    return `event: ${this.opts.event}\ndata: ${JSON.stringify(data)}\n\n`;
  }
}
