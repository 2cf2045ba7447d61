// `raftwork kv member list|add|update|promote|remove|change`: membership changes through
// /v1/members (README, "Membership and operations"). Exit status: 0 done, 1 refused (the
// server's 400/409: an id or address taken, an unknown id, another change in progress, the
// strict reconfiguration check, a learner not caught up), 2 usage, 3 unavailable or timed out
// (a change that timed out may still be made: `kv member list` tells).

import { type Command, InvalidArgumentError } from "commander";
import { KvRequestError, type MemberEntry } from "../kv/client.js";
import { formatHostPort } from "../util/host-port.js";
import { parseHostPort, parseIntIn } from "./args.js";
import { CliExit, EXIT_UNAVAILABLE, EXIT_USAGE, type ExitMeanings } from "./exit.js";
import { type CliIo, PROCESS_IO } from "./io.js";
import { type CommonOpts, common, withClient } from "./kv-client.js";

const MAX_ID = 2 ** 31 - 1;
const parseId = parseIntIn(1, MAX_ID);

const CHANGE_EXITS: ExitMeanings = {
  1: "refused: bad input, an id or address taken, an unknown id, another change in progress, or a voter that would stall the cluster",
  3: "no endpoint answered, or the change timed out (it may still be made: see `kv member list`)",
};

interface Added {
  id: number;
  raft: string;
  learner: boolean;
}

/** ID=HOST:PORT or ID=HOST:PORT,learner (kv member change --add). */
export function parseAdded(text: string): Added {
  const m = /^(\d+)=([^,]+)(,learner)?$/.exec(text);
  if (!m) throw new InvalidArgumentError(`"${text}" is not ID=HOST:PORT or ID=HOST:PORT,learner`);
  return {
    id: parseId(m[1] as string),
    raft: formatHostPort(parseHostPort(m[2] as string)),
    learner: m[3] !== undefined,
  };
}

function collect<T>(parse: (t: string) => T) {
  return (text: string, previous: T[] = []) => [...previous, parse(text)];
}

export function memberTable(members: readonly MemberEntry[]): string {
  const rows = [["ID", "ROLE", "RAFT", "HTTP", "GRPC"]];
  for (const m of members)
    rows.push([String(m.id), m.role, m.raft ?? "-", m.http ?? "-", m.grpc ?? "-"]);
  const widths =
    rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The `kv serve` line that starts member `id` (added already), with placeholders to fill. */
export function joinCommand(id: number, members: readonly MemberEntry[]): string {
  const peers = members
    .filter((m) => m.raft !== null)
    .map((m) => `${m.id}=${m.raft}`)
    .join(",");
  return `raftwork kv serve --id ${id} --join --peers ${peers} --http HOST:PORT --data DIR`;
}

export function registerKvMemberCommands(kv: Command, io: CliIo = PROCESS_IO): void {
  const out = (text: string) => io.out(`${text}\n`);
  const member = kv
    .command("member")
    .description("list and change the cluster's members (joint consensus, learners)");

  /** Runs one membership request and prints the member list it answers. */
  const run = async (
    opts: CommonOpts & { json?: boolean },
    method: string,
    path: string,
    body?: unknown,
    after?: (list: MemberEntry[]) => void,
  ) =>
    withClient(opts, async (c) => {
      let list: MemberEntry[];
      try {
        list = await c.members(method, path, body);
      } catch (e) {
        if (e instanceof KvRequestError && e.status === 504)
          throw new CliExit(EXIT_UNAVAILABLE, `timed out: ${e.message}`);
        throw e;
      }
      out(opts.json ? JSON.stringify(list) : memberTable(list));
      after?.(list);
    });

  common(member.command("list").description("every member, its role and addresses"), {
    1: "the request was refused",
    3: "no endpoint answered",
  })
    .option("--json", 'print a JSON array of {"id", "raft", "http", "grpc", "role"}')
    .action((opts: CommonOpts & { json?: boolean }) => run(opts, "GET", ""));

  common(
    member
      .command("add")
      .description("add a member (then start it with the printed `kv serve --join` line)")
      .addHelpText(
        "after",
        "\nAdding a voter that is not running yet is refused when the cluster could lose its quorum\n(the strict reconfiguration check): add it with --learner, start it, then `kv member promote` it.",
      ),
    CHANGE_EXITS,
  )
    .argument("<id>", "the new member's id", parseId)
    .argument("<raft-addr>", "its Raft address HOST:PORT", (t) => formatHostPort(parseHostPort(t)))
    .option("--learner", "add it as a learner: it receives the log but does not vote")
    .action((id: number, raft: string, opts: CommonOpts & { learner?: boolean }) =>
      run(opts, "POST", "", { id, raft, learner: opts.learner === true }, (list) =>
        out(`\nstart the new member with:\n  ${joinCommand(id, list)}`),
      ),
    );

  common(
    member
      .command("update")
      .description("change a member's Raft address (then restart it with `kv serve --listen`)"),
    CHANGE_EXITS,
  )
    .argument("<id>", "the member's id", parseId)
    .argument("<raft-addr>", "its new Raft address HOST:PORT", (t) =>
      formatHostPort(parseHostPort(t)),
    )
    .action((id: number, raft: string, opts: CommonOpts) => run(opts, "PATCH", `/${id}`, { raft }));

  common(
    member
      .command("promote")
      .description("make a learner a voter (refused until it has caught up)"),
    CHANGE_EXITS,
  )
    .argument("<id>", "the learner's id", parseId)
    .action((id: number, opts: CommonOpts) => run(opts, "POST", `/${id}?op=promote`));

  common(
    member.command("remove").description("remove a member (it stops and exits once it learns)"),
    CHANGE_EXITS,
  )
    .argument("<id>", "the member's id", parseId)
    .action((id: number, opts: CommonOpts) => run(opts, "DELETE", `/${id}`));

  common(
    member
      .command("change")
      .description("several changes at once, through a joint configuration (thesis §4.3)"),
    CHANGE_EXITS,
  )
    .option("--add <id=addr[,learner]>", "add a member (repeatable)", collect(parseAdded))
    .option("--remove <id>", "remove a member (repeatable)", collect(parseId))
    .option("--promote <id>", "promote a learner (repeatable)", collect(parseId))
    .action((opts: CommonOpts & { add?: Added[]; remove?: number[]; promote?: number[] }) => {
      const body = { add: opts.add ?? [], remove: opts.remove ?? [], promote: opts.promote ?? [] };
      if (body.add.length + body.remove.length + body.promote.length === 0) {
        throw new CliExit(EXIT_USAGE, "give at least one --add, --remove or --promote");
      }
      return run(opts, "POST", "?op=change", body, (list) => {
        for (const a of body.add) out(`\nstart member ${a.id} with:\n  ${joinCommand(a.id, list)}`);
      });
    });
}
