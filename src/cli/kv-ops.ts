// `raftwork kv health|move-leader|snapshot save|snapshot restore`: the operations commands
// (README, "Operations"). They speak the HTTP API's operations routes (src/kv/ops-routes.ts);
// `snapshot restore` works offline on files.
import { type Command, Option } from "commander";
import { BackupVerifier } from "../kv/backup-format.js";
import type { Member } from "../kv/server/data-dir.js";
import { createDurableFile } from "../util/durable-file.js";
import { parseDuration, parseEndpoints, parseIntIn } from "./args.js";
import { CliExit, describeExitStatus, EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE } from "./exit.js";
import { type CliIo, PROCESS_IO } from "./io.js";
import { parsePeers } from "./kv-server.js";

const DEFAULT_ENDPOINTS = "http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003";
const MAX_NODE_ID = 2 ** 31 - 1;
const PROGRESS_EVERY_MS = 1000;

interface EndpointOpts {
  endpoints: string[];
  timeout: number;
}

function endpointOptions(cmd: Command, timeout: string): Command {
  return cmd
    .addOption(
      new Option("--endpoints <urls>", "comma-separated http://HOST:PORT URLs")
        .default(parseEndpoints(DEFAULT_ENDPOINTS), DEFAULT_ENDPOINTS)
        .argParser(parseEndpoints),
    )
    .addOption(
      new Option("--timeout <duration>", "per-endpoint timeout")
        .default(parseDuration(timeout), timeout)
        .argParser(parseDuration),
    );
}

interface HealthRow {
  endpoint: string;
  health: boolean;
  leader?: number;
  reason?: string;
  tookMs: number;
}

export function registerKvOpsCommands(kv: Command, io: CliIo = PROCESS_IO): void {
  const note = (text: string) => io.err(`raftwork: ${text}\n`);

  const health = endpointOptions(
    kv
      .command("health")
      .description(
        "check every endpoint: healthy when a linearizable read through it succeeds within 1 s",
      ),
    "5s",
  ).option("--json", "print a JSON array of {endpoint, health, leader, reason, tookMs}");
  describeExitStatus(health, {
    0: "every endpoint is healthy",
    1: "some endpoints are healthy, some not",
    3: "no endpoint is healthy",
  });
  health.action(async (opts: EndpointOpts & { json?: boolean }) => {
    const rows = await Promise.all(opts.endpoints.map((e) => checkHealth(e, opts.timeout)));
    if (opts.json) io.out(`${JSON.stringify(rows)}\n`);
    else {
      for (const r of rows) {
        io.out(
          r.health
            ? `${r.endpoint} is healthy: leader ${r.leader}, took ${r.tookMs} ms\n`
            : `${r.endpoint} is unhealthy: ${r.reason}\n`,
        );
      }
    }
    const good = rows.filter((r) => r.health).length;
    if (good === 0) throw new CliExit(EXIT_UNAVAILABLE, "no endpoint is healthy");
    if (good < rows.length) {
      throw new CliExit(
        EXIT_FAILED,
        `${rows.length - good} of ${rows.length} endpoints are unhealthy`,
      );
    }
  });

  const move = endpointOptions(
    kv
      .command("move-leader")
      .description("hand leadership to voter ID (a Raft leader transfer) and wait until it leads")
      .argument("<id>", "the voter to lead", parseIntIn(1, MAX_NODE_ID)),
    "10s",
  );
  describeExitStatus(move, {
    0: "node ID leads",
    1: "refused: ID is not a voter, or a bad request",
    3: "no endpoint answered, no leader known, or the transfer did not finish in an election timeout",
  });
  move.action(async (id: number, opts: EndpointOpts) => {
    let last = "no endpoint given";
    for (const endpoint of opts.endpoints) {
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${endpoint}/v1/leader`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ id }),
          signal: AbortSignal.timeout(opts.timeout),
        });
        text = await res.text();
      } catch (e) {
        last = `${endpoint}: ${errorText(e)}`;
        continue;
      }
      const message = errorOf(text) ?? `status ${res.status}`;
      if (res.status === 200) {
        io.out(`node ${id} is the leader\n`);
        return;
      }
      if (res.status === 504) throw new CliExit(EXIT_UNAVAILABLE, `${endpoint}: ${message}`);
      if (res.status === 503) {
        last = `${endpoint}: ${message}`;
        continue;
      }
      throw new CliExit(EXIT_FAILED, `${endpoint}: ${message}`);
    }
    throw new CliExit(EXIT_UNAVAILABLE, `leadership not moved: ${last}`);
  });

  const snapshot = kv
    .command("snapshot")
    .description("back up a running cluster or restore a backup");

  const save = endpointOptions(
    snapshot
      .command("save")
      .description(
        "write a backup of an endpoint's state to FILE (atomically: a temp file, fsync, rename; checksum verified)",
      )
      .argument("<file>", "where to write the backup"),
    "10s",
  ).addHelpText(
    "after",
    "\nThe first endpoint that answers serves the backup; --timeout is how long it may stay silent.",
  );
  describeExitStatus(save, {
    0: "saved and verified",
    1: "FILE could not be written, or every backup received was damaged",
    3: "no endpoint answered",
  });
  save.action(async (file: string, opts: EndpointOpts) => {
    let status = EXIT_UNAVAILABLE;
    const failures: string[] = [];
    for (const endpoint of opts.endpoints) {
      const r = await saveFrom(endpoint, file, opts.timeout, note);
      if (r.ok) {
        io.out(
          `saved ${file}: ${r.bytes} bytes from ${endpoint}, index ${r.index}, term ${r.term}, sha256 verified\n`,
        );
        return;
      }
      failures.push(`${endpoint}: ${r.error}`);
      if (r.kind === "local") throw new CliExit(EXIT_FAILED, r.error);
      if (r.kind === "damaged") status = EXIT_FAILED;
    }
    throw new CliExit(status, `no backup saved:\n  ${failures.join("\n  ")}`);
  });

  const restore = snapshot
    .command("restore")
    .description("create the data directory of a member of a NEW cluster from a backup FILE")
    .argument("<file>", "a backup (kv snapshot save, GET /v1/snapshot, etcdctl snapshot save)")
    .requiredOption("--data <dir>", "the new member's data directory (must be new or empty)")
    .requiredOption(
      "--id <n>",
      "the new member's id (listed in --peers)",
      parseIntIn(1, MAX_NODE_ID),
    )
    .requiredOption(
      "--peers <list>",
      "every member of the new cluster: 1=HOST:PORT,2=HOST:PORT,... (the same on each)",
      parsePeers,
    )
    .addHelpText(
      "after",
      "\nRestore the same FILE with the same --peers for every member, then start each with `kv serve`.",
    );
  describeExitStatus(restore, {
    0: "restored",
    1: "FILE is damaged or not a backup, or --data is not empty or cannot be written",
  });
  restore.action(async (file: string, opts: { data: string; id: number; peers: Member[] }) => {
    if (!opts.peers.some((p) => p.id === opts.id)) {
      throw new CliExit(EXIT_USAGE, `--id: node ${opts.id} is not listed in --peers`);
    }
    const { restoreBackup } = await import("../kv/server/restore.js");
    const r = await restoreBackup({ file, data: opts.data, id: opts.id, members: opts.peers });
    if (!r.ok) throw new CliExit(EXIT_FAILED, r.error);
    const m = r.value;
    const peers = opts.peers.map((p) => `${p.id}=${p.address}`).join(",");
    io.out(
      `restored ${file} (index ${m.index}, term ${m.term}, taken by node ${m.node} at ${new Date(m.createdAt).toISOString()}, old voters ${m.conf.voters.join(",")}) into ${opts.data} as node ${opts.id} of a new cluster\n` +
        `start it with: raftwork kv serve --id ${opts.id} --peers ${peers} --data ${opts.data} --http HOST:PORT\n`,
    );
  });
}

async function checkHealth(endpoint: string, timeoutMs: number): Promise<HealthRow> {
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => ({}))) as {
      health?: unknown;
      leader?: unknown;
      reason?: unknown;
    };
    if (res.status === 200 && body.health === true && typeof body.leader === "number") {
      return { endpoint, health: true, leader: body.leader, tookMs: took() };
    }
    const reason = typeof body.reason === "string" ? body.reason : `status ${res.status}`;
    return { endpoint, health: false, reason, tookMs: took() };
  } catch (e) {
    return { endpoint, health: false, reason: `unreachable: ${errorText(e)}`, tookMs: took() };
  }
}

type SaveResult =
  | { ok: true; bytes: number; index: number; term: number }
  /** remote: the endpoint did not serve; damaged: what it served failed the check; local: FILE. */
  | { ok: false; kind: "remote" | "damaged" | "local"; error: string };

async function saveFrom(
  endpoint: string,
  file: string,
  idleMs: number,
  note: (text: string) => void,
): Promise<SaveResult> {
  const abort = new AbortController();
  let idle = setTimeout(() => abort.abort(new Error(`silent for ${idleMs} ms`)), idleMs);
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => abort.abort(new Error(`silent for ${idleMs} ms`)), idleMs);
  };
  let res: Response;
  try {
    res = await fetch(`${endpoint}/v1/snapshot`, { signal: abort.signal });
  } catch (e) {
    clearTimeout(idle);
    return { ok: false, kind: "remote", error: errorText(e) };
  }
  if (res.status !== 200 || res.body === null) {
    clearTimeout(idle);
    const text = await res.text().catch(() => "");
    return { ok: false, kind: "remote", error: errorOf(text) ?? `status ${res.status}` };
  }
  let out: Awaited<ReturnType<typeof createDurableFile>>;
  try {
    out = await createDurableFile(file);
  } catch (e) {
    clearTimeout(idle);
    abort.abort();
    return { ok: false, kind: "local", error: `cannot write ${file}: ${errorText(e)}` };
  }
  const verifier = new BackupVerifier();
  const started = Date.now();
  let reported = started;
  try {
    try {
      for await (const chunk of res.body) {
        touch();
        verifier.update(chunk);
        await out.write(chunk);
        if (Date.now() - reported >= PROGRESS_EVERY_MS) {
          reported = Date.now();
          note(
            `received ${mib(verifier.size)} from ${endpoint} (${Math.round((reported - started) / 1000)} s)`,
          );
        }
      }
    } catch (e) {
      await out.abort();
      return { ok: false, kind: "damaged", error: `the transfer broke off: ${errorText(e)}` };
    } finally {
      clearTimeout(idle);
    }
    const check = verifier.finish();
    if (!check.ok) {
      await out.abort();
      return { ok: false, kind: "damaged", error: check.error };
    }
    await out.commit();
  } catch (e) {
    await out.abort();
    return { ok: false, kind: "local", error: `cannot write ${file}: ${errorText(e)}` };
  }
  return {
    ok: true,
    bytes: verifier.size,
    index: Number(res.headers.get("x-raftwork-backup-index")),
    term: Number(res.headers.get("x-raftwork-backup-term")),
  };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function errorOf(text: string): string | null {
  try {
    const v = JSON.parse(text) as { error?: unknown };
    return typeof v.error === "string" ? v.error : null;
  } catch {
    return null;
  }
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}
