// `raftwork kv get|put|del|append|cas|list|status`: the KV client command line.
// Exit status (README, "Conventions"): 0 ok, 1 key not found, CAS mismatch or request refused,
// 2 usage error, 3 cluster unavailable, timed out, or (status) no leader known.
import { isUtf8 } from "node:buffer";
import { type Command, InvalidArgumentError, Option } from "commander";
import { KvClient, KvRequestError, KvUnavailableError, type ListEntry } from "../kv/client.js";
import { LIST_MAX_LIMIT, MAX_KEY_BYTES, MAX_VALUE_BYTES } from "../kv/contract.js";
import { parseDuration, parseEndpoints, parseIntIn } from "./args.js";
import {
  CliExit,
  describeExitStatus,
  EXIT_FAILED,
  EXIT_UNAVAILABLE,
  EXIT_USAGE,
  type ExitMeanings,
} from "./exit.js";
import { type CliIo, PROCESS_IO } from "./io.js";
import { registerKvAuthCommands, resolveUser, type UserSpec, userOption } from "./kv-auth.js";
import { type CliTlsFlags, readCliTls } from "./tls-flags.js";

const DEFAULT_ENDPOINTS = "http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003";

export interface CommonOpts extends CliTlsFlags {
  endpoints: string[];
  timeout: number;
  retries: number;
  user?: UserSpec;
}

function parseKey(text: string): string {
  const n = Buffer.byteLength(text);
  if (n < 1 || n > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(`KEY must be 1..${MAX_KEY_BYTES} bytes (got ${n})`);
  }
  return text;
}

const WRITE_EXITS: ExitMeanings = {
  1: "the request was refused (bad key or value, too large)",
  3: "no endpoint answered, or the outcome stayed unknown after every retry",
};

/** Add the options every client subcommand shares, and what its exit statuses mean. */
export function common(cmd: Command, exits: ExitMeanings = WRITE_EXITS): Command {
  describeExitStatus(cmd, exits);
  return cmd
    .addOption(
      new Option(
        "--endpoints <urls>",
        "comma-separated http://HOST:PORT or https://HOST:PORT URLs, tried in turn",
      )
        .default(parseEndpoints(DEFAULT_ENDPOINTS), DEFAULT_ENDPOINTS)
        .argParser(parseEndpoints),
    )
    .addOption(
      new Option("--timeout <duration>", "per-attempt timeout")
        .default(5000, "5s")
        .argParser(parseDuration),
    )
    .addOption(
      new Option("--retries <n>", "extra rounds over all endpoints")
        .default(3)
        .argParser(parseIntIn(0, 100)),
    )
    .option(
      "--cacert <file>",
      "for https:// endpoints: the CA that signs the servers' certificates",
    )
    .option("--cert <file>", "a client certificate, for servers that require one (PEM)")
    .option("--key <file>", "the private key of --cert (PEM)")
    .addOption(userOption());
}

/** Run `fn` with a client and turn its failures into exit statuses. */
export async function withClient(
  opts: CommonOpts,
  fn: (c: KvClient) => Promise<void>,
): Promise<void> {
  const tls = readCliTls(opts);
  const user = await resolveUser(opts.user);
  const client = new KvClient({
    endpoints: opts.endpoints,
    ...(tls ? { tls } : {}),
    timeoutMs: opts.timeout,
    retries: opts.retries,
    ...(user ? { user } : {}),
  });
  try {
    await fn(client);
  } catch (err) {
    if (err instanceof KvUnavailableError) throw new CliExit(EXIT_UNAVAILABLE, err.message);
    if (err instanceof KvRequestError) throw new CliExit(EXIT_FAILED, `rejected: ${err.message}`);
    throw err;
  } finally {
    client.close();
  }
}

/** VALUE, or all of stdin for "-". */
async function valueArg(text: string): Promise<string> {
  let bytes: Buffer;
  if (text === "-") {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    bytes = Buffer.concat(chunks);
    if (!isUtf8(bytes)) throw new CliExit(EXIT_USAGE, "stdin is not valid UTF-8 text");
  } else {
    bytes = Buffer.from(text);
  }
  if (bytes.length > MAX_VALUE_BYTES) {
    throw new CliExit(
      EXIT_USAGE,
      `VALUE is ${bytes.length} bytes; the limit is ${MAX_VALUE_BYTES}`,
    );
  }
  return bytes.toString();
}

/** Escape control characters so one entry stays on one line. */
function oneLine(s: string): string {
  return s.replace(
    /[\\\t\n\r]/g,
    (c) => ({ "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" })[c] ?? c,
  );
}

/**
 * Register the client subcommands on `kv`. Results go to io.out and notes to io.err (tests
 * capture them); errors travel as CliExit to the entry point, which prints them.
 */
export function registerKvClientCommands(kv: Command, io: CliIo = PROCESS_IO): void {
  registerKvAuthCommands(kv, common, withClient, io);
  const out = io.out;
  const note = (text: string) => io.err(`raftwork: ${text}\n`);
  common(kv.command("get").description("print KEY's value (exit 1 if absent)"), {
    1: "KEY is absent, or the request was refused",
    3: "no endpoint answered, or every answer was 'retry later'",
  })
    .argument("<key>", "the key (UTF-8, 1..1024 bytes)", parseKey)
    .action((key: string, opts: CommonOpts) =>
      withClient(opts, async (c) => {
        const r = await c.get(key);
        if (!r.found) throw new CliExit(EXIT_FAILED, `key not found: ${key}`);
        out(process.stdout.isTTY ? `${r.value}\n` : r.value);
      }),
    );

  common(kv.command("put").description("set KEY to VALUE"))
    .argument("<key>", "the key", parseKey)
    .argument("<value>", 'the value, or "-" to read it from stdin')
    .action(async (key: string, value: string, opts: CommonOpts) => {
      const v = await valueArg(value);
      await withClient(opts, (c) => c.put(key, v));
    });

  common(kv.command("del").description("delete KEY (succeeds if it is absent)"))
    .argument("<key>", "the key", parseKey)
    .action((key: string, opts: CommonOpts) => withClient(opts, (c) => c.del(key)));

  common(kv.command("append").description("append SUFFIX to KEY's value (absent = empty)"))
    .argument("<key>", "the key", parseKey)
    .argument("<suffix>", 'the suffix, or "-" to read it from stdin')
    .action(async (key: string, suffix: string, opts: CommonOpts) => {
      const v = await valueArg(suffix);
      await withClient(opts, (c) => c.append(key, v));
    });

  common(
    kv
      .command("cas")
      .description("set KEY to --value only if its value is --expect (or it is absent)"),
    {
      ...WRITE_EXITS,
      1: "mismatch (the current value goes to stderr), or the request was refused",
    },
  )
    .argument("<key>", "the key", parseKey)
    .option("--expect <value>", "the value KEY must have now")
    .option("--expect-absent", "KEY must be absent now")
    .requiredOption("--value <value>", 'the new value, or "-" to read it from stdin')
    .action(
      async (
        key: string,
        opts: CommonOpts & { expect?: string; expectAbsent?: boolean; value: string },
      ) => {
        if ((opts.expect === undefined) === (opts.expectAbsent !== true)) {
          throw new CliExit(EXIT_USAGE, "give exactly one of --expect VALUE or --expect-absent");
        }
        const value = await valueArg(opts.value);
        await withClient(opts, async (c) => {
          const r = await c.cas(key, opts.expect ?? null, value);
          if (!r.ok) {
            const now = r.current === null ? "absent" : JSON.stringify(r.current);
            throw new CliExit(EXIT_FAILED, `cas mismatch: ${key} is ${now}`);
          }
        });
      },
    );

  common(
    kv
      .command("list")
      .description("list keys starting with --prefix, sorted (one page unless --all)")
      .addHelpText(
        "after",
        "\nWhen --limit cut the listing, stderr says which --from continues it.",
      ),
    { ...WRITE_EXITS, 1: "the request was refused (a bad prefix, key or limit)" },
  )
    .option("--prefix <prefix>", "key prefix", "")
    .option("--from <key>", "start at KEY (keys >= KEY): where a cut listing said to continue")
    .addOption(
      new Option("--limit <n>", `at most N entries (max ${LIST_MAX_LIMIT})`)
        .default(1000)
        .argParser(parseIntIn(1, LIST_MAX_LIMIT)),
    )
    .addOption(new Option("--all", "every matching key, fetched page by page").conflicts("limit"))
    .option("--json", "print a JSON array of {key, value}")
    .action(
      (
        opts: CommonOpts & {
          prefix: string;
          from?: string;
          limit: number;
          all?: boolean;
          json?: boolean;
        },
      ) =>
        withClient(opts, async (c) => {
          const print = (items: ListEntry[]) =>
            out(items.map((e) => `${oneLine(e.key)}\t${oneLine(e.value)}\n`).join(""));
          const from = opts.from === undefined ? {} : { from: opts.from };
          if (opts.all) {
            const all: ListEntry[] = [];
            for await (const e of c.listAll(opts.prefix, { pageSize: LIST_MAX_LIMIT, ...from })) {
              if (opts.json) all.push(e);
              else print([e]);
            }
            if (opts.json) out(`${JSON.stringify(all)}\n`);
            return;
          }
          const page = await c.list(opts.prefix, { limit: opts.limit, ...from });
          if (opts.json) out(`${JSON.stringify(page.entries)}\n`);
          else print(page.entries);
          if (page.next !== null) {
            note(
              `more keys follow; continue with --from ${JSON.stringify(page.next)}, or use --all`,
            );
          }
        }),
    );

  common(kv.command("status").description("show every node's role, term, leader and indexes"), {
    0: "some node knows a leader",
    3: "no node answered, or none knows a leader",
  })
    .option("--json", "print JSON")
    .action((opts: CommonOpts & { json?: boolean }) =>
      withClient(opts, async (c) => {
        const rows = await c.status();
        if (opts.json) out(`${JSON.stringify(rows)}\n`);
        else out(statusTable(rows));
        if (rows.every((r) => !r.ok)) throw new CliExit(EXIT_UNAVAILABLE, "no node answered");
        if (!rows.some((r) => r.ok && r.status.leader !== null)) {
          throw new CliExit(EXIT_UNAVAILABLE, "no node knows a leader (no quorum?)");
        }
      }),
    );
}

function statusTable(rows: Awaited<ReturnType<KvClient["status"]>>): string {
  const header = ["ENDPOINT", "ID", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "MEMBERS"];
  // A node's alarms (NOSPACE: its disk is full) get a column only when some node has one.
  const alarmed = rows.some((r) => r.ok && (r.status.alarms?.length ?? 0) > 0);
  if (alarmed) header.push("ALARMS");
  const cells = rows.map((r) =>
    r.ok
      ? [
          r.endpoint,
          String(r.status.id),
          r.status.role,
          String(r.status.term),
          r.status.leader === null ? "-" : String(r.status.leader),
          String(r.status.commitIndex),
          String(r.status.appliedIndex),
          r.status.members.join(","),
          ...(alarmed ? [r.status.alarms?.join(",") || "-"] : []),
        ]
      : [r.endpoint, "-", `unreachable: ${r.error}`],
  );
  const widths = header.map((h, i) =>
    Math.max(
      h.length,
      ...cells.filter((c) => c.length > 1 + i).map((c) => (c[i] as string).length),
    ),
  );
  const line = (c: string[]) =>
    c
      .map((v, i) => (i < c.length - 1 ? v.padEnd(widths[i] ?? 0) : v))
      .join("  ")
      .trimEnd();
  return `${[header, ...cells].map(line).join("\n")}\n`;
}
