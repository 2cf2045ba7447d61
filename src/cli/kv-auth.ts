// `raftwork kv auth|user|role ...` and the credentials of every client command (README,
// "Security"): `--user NAME[:PASSWORD]` takes the password from the flag, else from a prompt
// that does not echo when stdin is a terminal, else from stdin's next line (scripts pipe it).
// The calls are the HTTP API's POST /v1/auth/VERB (src/kv/auth/http-manage.ts), which has
// etcd's rules and messages: `kv auth enable` needs a root user, and once auth is on every
// management command needs --user root (or another user with the root role).
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { type KvClient, KvRequestError } from "../kv/client.js";
import { CliExit, EXIT_USAGE } from "./exit.js";
import type { CliIo } from "./io.js";

/** --user's value before its password is known. */
export interface UserSpec {
  name: string;
  password?: string;
}

export function parseUserSpec(text: string): UserSpec {
  const i = text.indexOf(":");
  const name = i < 0 ? text : text.slice(0, i);
  if (name === "") throw new InvalidArgumentError("NAME must not be empty (NAME[:PASSWORD])");
  return i < 0 ? { name } : { name, password: text.slice(i + 1) };
}

export function userOption(): Option {
  return new Option(
    "--user <name[:password]>",
    "log in as NAME when the cluster has auth on; without :PASSWORD it is asked for (or read from stdin's next line)",
  ).argParser(parseUserSpec);
}

/** Lines of stdin, read once and handed out in order (a script pipes each password). */
let stdinLines: Promise<string[]> | null = null;

async function nextStdinLine(what: string): Promise<string> {
  stdinLines ??= (async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8").split(/\r?\n/);
  })();
  const lines = await stdinLines;
  const line = lines.shift();
  if (line === undefined || (line === "" && lines.length === 0)) {
    throw new CliExit(
      EXIT_USAGE,
      `${what}: no password given (add :PASSWORD, or pipe it on stdin)`,
    );
  }
  return line;
}

async function promptHidden(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await new Promise<string>((resolve) => {
      rl.question(question, resolve);
      // The prompt is out: from here on echo nothing of what is typed (readline's one hook).
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
    });
  } finally {
    rl.close();
    process.stderr.write("\n");
  }
}

/** A password: from a prompt on a terminal, else stdin's next line. */
export function readPassword(prompt: string, what: string): Promise<string> {
  return process.stdin.isTTY ? promptHidden(prompt) : nextStdinLine(what);
}

/** --user's name and password, asking for the password if the flag had none. */
export async function resolveUser(
  spec: UserSpec | undefined,
): Promise<{ name: string; password: string } | undefined> {
  if (spec === undefined) return undefined;
  if (spec.password !== undefined) return { name: spec.name, password: spec.password };
  return { name: spec.name, password: await readPassword(`Password for ${spec.name}: `, "--user") };
}

type Run = (opts: never, fn: (c: KvClient) => Promise<void>) => Promise<void>;
type Common = (cmd: Command, exits?: Record<number, string>) => Command;

const AUTH_EXITS = {
  1: "refused (a wrong password, not permitted, no such user or role, already exists, ...)",
  3: "no endpoint answered, or the outcome stayed unknown after every retry",
};

const PERM_TYPES = ["read", "write", "readwrite"];

/**
 * Registers `kv auth`, `kv user` and `kv role` on `kv`; `common` adds the client flags,
 * `withClient` runs a call with a client (kv-client.ts).
 */
export function registerKvAuthCommands(
  kv: Command,
  commonFlags: Common,
  withClient: Run,
  io: CliIo,
): void {
  const out = io.out;
  const common = (cmd: Command) => commonFlags(cmd, AUTH_EXITS);
  const call = (
    opts: unknown,
    verb: string,
    body: Record<string, unknown>,
    done: string | ((r: unknown) => string),
  ) =>
    (withClient as (o: unknown, fn: (c: KvClient) => Promise<void>) => Promise<void>)(
      opts,
      async (c) => {
        const r = await c.authCall(verb, body);
        out(typeof done === "string" ? `${done}\n` : done(r));
      },
    );

  const auth = kv.command("auth").description("turn authentication on or off (etcd's model)");
  common(auth.command("enable").description("turn auth on (needs a user named root)")).action(
    (opts) =>
      (withClient as (o: unknown, fn: (c: KvClient) => Promise<void>) => Promise<void>)(
        opts,
        async (c) => {
          // As etcdctl does: a root user without the root role gets it (made if need be).
          try {
            await c.authCall("enable");
          } catch (e) {
            if (!(e instanceof KvRequestError) || !e.message.includes("does not have root role"))
              throw e;
            await c.authCall("role-add", { name: "root" }).catch((x: unknown) => {
              if (!(x instanceof KvRequestError) || !x.message.includes("role name already exists"))
                throw x;
            });
            await c.authCall("user-grant-role", { name: "root", role: "root" });
            await c.authCall("enable");
          }
          out("Authentication Enabled\n");
        },
      ),
  );
  common(
    auth.command("disable").description("turn auth off (needs --user with the root role)"),
  ).action((opts) => call(opts, "disable", {}, "Authentication Disabled"));

  const user = kv.command("user").description("manage users");
  common(user.command("add").description("add a user"))
    .argument("<name[:password]>", "the new user; without :PASSWORD it is asked for")
    .option("--no-password", "a user that cannot log in with a password")
    .action(async (spec: string, opts: { password: boolean; user?: UserSpec }) => {
      // --user's password comes first (its prompt, or stdin's first line), then the new one.
      opts.user = await resolveUser(opts.user);
      const u = parseUserSpec(spec);
      const noPassword = opts.password === false;
      const password = noPassword
        ? ""
        : (u.password ?? (await readPassword(`Password of ${u.name}: `, "user add")));
      await call(
        opts,
        "user-add",
        { name: u.name, password, noPassword },
        `User ${u.name} created`,
      );
    });
  common(user.command("delete").description("delete a user"))
    .argument("<name>", "the user")
    .action((name: string, opts) => call(opts, "user-delete", { name }, `User ${name} deleted`));
  common(user.command("passwd").description("change a user's password"))
    .argument("<name>", "the user")
    .action(async (name: string, opts: { user?: UserSpec }) => {
      opts.user = await resolveUser(opts.user);
      const password = await readPassword(`New password of ${name}: `, "user passwd");
      await call(opts, "user-passwd", { name, password }, "Password updated");
    });
  common(user.command("grant-role").description("grant a role to a user"))
    .argument("<name>", "the user")
    .argument("<role>", "the role")
    .action((name: string, role: string, opts) =>
      call(opts, "user-grant-role", { name, role }, `Role ${role} is granted to user ${name}`),
    );
  common(user.command("revoke-role").description("revoke a role from a user"))
    .argument("<name>", "the user")
    .argument("<role>", "the role")
    .action((name: string, role: string, opts) =>
      call(opts, "user-revoke-role", { name, role }, `Role ${role} is revoked from user ${name}`),
    );
  common(user.command("get").description("show a user's roles"))
    .argument("<name>", "the user")
    .action((name: string, opts) =>
      call(
        opts,
        "user-get",
        { name },
        (r) => `User: ${name}\nRoles: ${(r as { roles: string[] }).roles.join(" ")}\n`,
      ),
    );
  common(user.command("list").description("list the users")).action((opts) =>
    call(opts, "user-list", {}, (r) =>
      (r as { users: string[] }).users.map((u) => `${u}\n`).join(""),
    ),
  );

  const role = kv.command("role").description("manage roles and their permissions");
  common(role.command("add").description("add a role"))
    .argument("<name>", "the role")
    .action((name: string, opts) => call(opts, "role-add", { name }, `Role ${name} created`));
  common(role.command("delete").description("delete a role (users lose it)"))
    .argument("<name>", "the role")
    .action((name: string, opts) => call(opts, "role-delete", { name }, `Role ${name} deleted`));
  const rangeFlags = (cmd: Command) =>
    cmd
      .argument("<key>", "the key (UTF-8)")
      .argument("[range-end]", "the range's end: the permission covers [key, range-end)")
      .option("--prefix", "the permission covers every key starting with KEY")
      .option("--from-key", "the permission covers every key >= KEY");
  const rangeBody = (
    key: string,
    end: string | undefined,
    o: { prefix?: boolean; fromKey?: boolean },
  ) => {
    if ([end !== undefined, o.prefix === true, o.fromKey === true].filter(Boolean).length > 1)
      throw new CliExit(EXIT_USAGE, "give at most one of RANGE-END, --prefix and --from-key");
    return {
      key,
      ...(end !== undefined ? { rangeEnd: end } : {}),
      ...(o.prefix ? { prefix: true } : {}),
      ...(o.fromKey ? { fromKey: true } : {}),
    };
  };
  rangeFlags(
    common(
      role
        .command("grant-permission")
        .description("grant read, write or readwrite on a key, range or prefix"),
    )
      .argument("<name>", "the role")
      .argument("<type>", "read, write or readwrite"),
  ).action((name: string, type: string, key: string, end: string | undefined, opts) => {
    if (!PERM_TYPES.includes(type))
      throw new CliExit(EXIT_USAGE, `TYPE must be read, write or readwrite (got "${type}")`);
    return call(
      opts,
      "role-grant-permission",
      { name, type, ...rangeBody(key, end, opts) },
      `Role ${name} updated`,
    );
  });
  rangeFlags(
    common(
      role
        .command("revoke-permission")
        .description("revoke the permission on a key, range or prefix"),
    ).argument("<name>", "the role"),
  ).action((name: string, key: string, end: string | undefined, opts) =>
    call(
      opts,
      "role-revoke-permission",
      { name, ...rangeBody(key, end, opts) },
      `Permission of key ${key} is revoked from role ${name}`,
    ),
  );
  common(role.command("get").description("show a role's permissions"))
    .argument("<name>", "the role")
    .action((name: string, opts) =>
      call(opts, "role-get", { name }, (r) => {
        const perms = (r as { perms: { type: string; key: string; rangeEnd: string }[] }).perms;
        const lines = perms.map(
          (p) =>
            `\t${p.type}\t${JSON.stringify(p.key)}${p.rangeEnd === "" ? "" : ` .. ${JSON.stringify(p.rangeEnd)}`}\n`,
        );
        return `Role ${name}\nKV permissions:\n${lines.join("")}`;
      }),
    );
  common(role.command("list").description("list the roles")).action((opts) =>
    call(opts, "role-list", {}, (r) =>
      (r as { roles: string[] }).roles.map((x) => `${x}\n`).join(""),
    ),
  );
}
