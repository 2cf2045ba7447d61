// `raftwork sim view TRACE.jsonl [--http HOST:PORT]`, `raftwork sim summary TRACE.jsonl
// [--json]`, and the serving half of `raftwork sim ... --view` (README, "Trace
// viewer"). The viewer is a static page (ui/viewer/) that streams the trace and
// builds the trace model in the browser from the compiled model modules (dist/sim/view/); this
// server only hands out those files and the trace, on 127.0.0.1 and a free port by default.

import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type Command, Option } from "commander";
import { formatSummary, summarizeTrace } from "../sim/summary.js";
import { loadTraceFile } from "../sim/trace-file.js";
import { TraceParseError } from "../sim/view/parse.js";
import { formatHostPort, hostForUrl } from "../util/host-port.js";
import {
  createAssetHandler,
  packageRoot,
  refuseForeign,
  securityHeaders,
  sendText,
  UI_DIR,
} from "../util/static-assets.js";
import { type HostPort, parseHostPort } from "./args.js";
import { CliExit, EXIT_FAILED, EXIT_UNAVAILABLE } from "./exit.js";

const DEFAULT_HTTP: HostPort = { host: "127.0.0.1", port: 0 };

/** The compiled model the page imports, and the two modules it imports in turn. */
const DIST = join(packageRoot(), "dist");

export interface ViewServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts serving the viewer for `traceFile` on `http`. Rejects if it cannot listen. */
export async function startViewServer(
  traceFile: string,
  http: HostPort = DEFAULT_HTTP,
): Promise<ViewServer> {
  const page = join(UI_DIR, "viewer", "index.html");
  if (!existsSync(page) || !existsSync(join(DIST, "sim", "view", "model.js")))
    throw new CliExit(
      EXIT_FAILED,
      `the viewer's files are missing (${page}, ${join(DIST, "sim/view/model.js")}): run npm run build`,
    );
  const loopback = isLoopback(http.host);
  const assets = createAssetHandler({
    loopback,
    files: {
      "/": page,
      "/trace.jsonl": traceFile,
      "/dist/sim/trace-schema.js": join(DIST, "sim", "trace-schema.js"),
      "/dist/util/errors.js": join(DIST, "util", "errors.js"),
    },
    dirs: { "/ui/": UI_DIR, "/dist/sim/view/": join(DIST, "sim", "view") },
  });
  const info = JSON.stringify({ name: basename(traceFile), bytes: statSync(traceFile).size });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (assets(req, res)) return;
    if (refuseForeign(req, res, loopback)) return;
    if (req.url === "/trace-info.json" && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(200, {
        ...securityHeaders("application/json; charset=utf-8"),
        "Content-Length": Buffer.byteLength(info),
        "Cache-Control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : info);
      return;
    }
    sendText(res, 404, "not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(http.port, http.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : http.port;
  return {
    url: `http://${hostForUrl(http.host)}:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * Serves `traceFile` until SIGINT or SIGTERM, printing the URL with `say`. The trace is
 * parsed first, so a malformed one is refused with its line number before anything listens.
 */
export async function serveUntilInterrupted(
  traceFile: string,
  http: HostPort,
  say: (line: string) => void,
): Promise<void> {
  const model = await loadModelOrExit(traceFile);
  let view: ViewServer;
  try {
    view = await startViewServer(traceFile, http);
  } catch (e) {
    if (e instanceof CliExit) throw e;
    throw new CliExit(
      EXIT_UNAVAILABLE,
      `cannot listen on ${formatHostPort(http)}: ${(e as Error).message}`,
    );
  }
  const v = model.violation;
  say(
    `trace viewer for ${traceFile} (${model.nodes.length} nodes, ${model.records.length} records` +
      `${v ? `, violation: ${v.invariant}` : ""}): ${view.url}  (Ctrl-C to stop)`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await view.close();
}

async function loadModelOrExit(file: string) {
  try {
    return await loadTraceFile(file);
  } catch (e) {
    if (e instanceof TraceParseError) throw new CliExit(EXIT_FAILED, `${file}: ${e.message}`);
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") throw new CliExit(EXIT_FAILED, `${file}: no such file`);
    if (err.code === "EISDIR") throw new CliExit(EXIT_FAILED, `${file}: is a directory`);
    throw new CliExit(EXIT_FAILED, `${file}: ${err.message}`);
  }
}

/** A temporary trace file for `--view` without `--trace`, removed when the process exits. */
export function temporaryTraceFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "raftwork-trace-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "trace.jsonl");
}

const httpOption = () =>
  new Option(
    "--http <host:port>",
    "where to serve the viewer (default 127.0.0.1 on a free port)",
  ).argParser((t: string) => parseHostPort(t, true));

/** `sim view` and `sim summary`, under the `sim` command. */
export function registerTraceCommands(sim: Command): void {
  sim
    .command("view")
    .description("serve a trace in the viewer (a space-time diagram in the browser) until Ctrl-C")
    .argument("<trace>", "a JSON Lines trace written by raftwork sim --trace")
    .addOption(httpOption())
    .action(async (trace: string, flags: { http?: HostPort }) => {
      // `sim` has --http and --json of its own, and commander gives a flag after the
      // subcommand's name to whichever command defines it first: look at both.
      const http = flags.http ?? (sim.opts() as ViewFlags).http ?? DEFAULT_HTTP;
      await serveUntilInterrupted(trace, http, (l) => process.stdout.write(`${l}\n`));
    });
  sim
    .command("summary")
    .description(
      "what happened in a trace: elections, leader tenure, messages, faults, the violation",
    )
    .argument("<trace>", "a JSON Lines trace written by raftwork sim --trace")
    .option("--json", "print the summary as one JSON object")
    .action(async (trace: string, flags: { json?: boolean }) => {
      const json = flags.json ?? (sim.opts() as ViewFlags).json;
      const summary = summarizeTrace(await loadModelOrExit(trace));
      process.stdout.write(json ? `${JSON.stringify(summary)}\n` : formatSummary(summary, trace));
    });
}

/** The `--view` and `--http` options of `sim` itself. */
export function addViewOptions(sim: Command): Command {
  return sim
    .option(
      "--view",
      "then serve the run's trace in the viewer until Ctrl-C (single seed, or --demo)",
    )
    .addOption(httpOption());
}

export interface ViewFlags {
  view?: boolean;
  trace?: string;
  http?: HostPort;
  json?: boolean;
}

/**
 * Runs `run` with the trace file it should write (the `--trace` file, or with `--view` a
 * temporary one), then, with `--view`, serves that trace until Ctrl-C. A run that found a
 * violation (CliExit 1) is still served, and its status kept.
 */
export async function runWithView(
  flags: ViewFlags,
  run: (traceFile: string | undefined) => Promise<void>,
): Promise<void> {
  if (!flags.view) return run(flags.trace);
  const file = flags.trace ?? temporaryTraceFile();
  let failed: CliExit | null = null;
  try {
    await run(file);
  } catch (e) {
    if (!(e instanceof CliExit) || e.status !== EXIT_FAILED) throw e;
    failed = e;
  }
  // With --json, stdout is JSON Lines only.
  const out = flags.json ? process.stderr : process.stdout;
  await serveUntilInterrupted(file, flags.http ?? DEFAULT_HTTP, (l) => out.write(`${l}\n`));
  if (failed) throw failed;
}
