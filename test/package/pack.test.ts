// The package as a consumer gets it: `npm pack`, then installed into fresh projects offline
// from the npm cache that `npm ci` filled, exactly as `npm install raftwork` would place it.
//
//   - the tarball ships what the entry points need and nothing of the tests; every source map
//     points at a shipped file;
//   - with only raftwork installed (no optional peer dependency), the core, the simulator,
//     storage, transport, the node runtime and the KV client import and run; the KV server and
//     the CLI say which package is missing;
//   - with the peers, every entry point imports, a RawNode loop commits an entry, the CLI runs,
//     and a consumer file type-checks with `strict` against the shipped declarations.
//
// The consumers get a package-lock.json copied from this repository's (plus the tarball), so
// npm installs exactly the locked versions without asking the registry for anything.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";

const ROOT = new URL("../..", import.meta.url).pathname;
const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  exports: Record<string, string | { types: string; default: string }>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional: boolean }>;
  bin: Record<string, string>;
  engines: Record<string, string>;
  license: string;
};
const LOCK = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, Record<string, unknown>>;
};
/** The peers a full consumer installs: all but the TypeScript loaders for MapReduce apps. */
const PEERS = ["cli-progress", "commander", "pino", "prom-client", "zod"];

interface Packed {
  filename: string;
  integrity: string;
  files: { path: string }[];
}

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** `name` and every package it depends on, as locked here (entries under node_modules/). */
function closure(names: string[]): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  const queue = [...names];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    const key = `node_modules/${name}`;
    if (out.has(key)) continue;
    const entry = LOCK.packages[key];
    assert.ok(entry, `${name} is not in package-lock.json`);
    // Installed for the consumer as a dependency: not dev-only there.
    const { dev: _dev, devOptional: _devOptional, ...rest } = entry;
    out.set(key, rest);
    for (const field of ["dependencies", "optionalDependencies"]) {
      queue.push(...Object.keys((entry[field] as Record<string, string> | undefined) ?? {}));
    }
  }
  return out;
}

/** A project depending on the tarball and on `peers`, installed offline; returns its dir. */
function consumer(base: string, name: string, packed: Packed, peers: string[]): string {
  const dir = join(base, name);
  mkdirSync(dir);
  const tarball = join(base, packed.filename);
  const dependencies: Record<string, string> = { raftwork: `file:${tarball}` };
  for (const p of peers) dependencies[p] = PKG.peerDependencies[p] as string;
  const manifest = { name, version: "1.0.0", type: "module", private: true, dependencies };
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const packages: Record<string, unknown> = {
    "": { name, version: "1.0.0", dependencies },
    "node_modules/raftwork": {
      version: PKG.version,
      resolved: `file:${tarball}`,
      integrity: packed.integrity,
      license: PKG.license,
      dependencies: PKG.dependencies,
      bin: PKG.bin,
      engines: PKG.engines,
      peerDependencies: PKG.peerDependencies,
      peerDependenciesMeta: PKG.peerDependenciesMeta,
    },
  };
  for (const [key, entry] of closure([...Object.keys(PKG.dependencies), ...peers])) {
    packages[key] = entry;
  }
  const lock = { name, version: "1.0.0", lockfileVersion: 3, requires: true, packages };
  writeFileSync(join(dir, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`);
  const r = run(
    "npm",
    ["install", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
    dir,
  );
  assert.equal(r.code, 0, `npm install --offline failed:\n${r.stdout}${r.stderr}`);
  return dir;
}

/** Kilobytes on disk under dir (du -sk), for the report. */
function diskKiB(dir: string): number {
  return Number(run("du", ["-sk", dir], ROOT).stdout.split("\t")[0]);
}

/** A script run with node in the consumer's directory; returns its exit and output. */
function node(dir: string, file: string, source: string) {
  writeFileSync(join(dir, file), source);
  return run(process.execPath, [file], dir);
}

const ENTRY_POINTS = Object.keys(PKG.exports)
  .filter((k) => k !== "./package.json")
  .map((k) => (k === "." ? "raftwork" : `raftwork/${k.slice(2)}`));

/** A single-node RawNode loop over MemoryStorage: campaign, propose, persist, apply. */
const RAW_NODE_LOOP = `
import { RawNode } from "raftwork";
import { Rng } from "raftwork/sim";
import { MemoryStorage } from "raftwork/storage";
const rng = new Rng(42);
const storage = new MemoryStorage();
const node = new RawNode({ id: 1, peers: [1], electionTick: 10, heartbeatTick: 1, random: () => rng.float() });
const applied = [];
let proposed = false;
for (let i = 0; i < 100 && applied.length === 0; i++) {
  node.tick();
  while (node.hasReady()) {
    const rd = node.ready();
    storage.write({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}) });
    if (rd.mustSync) storage.sync();
    for (const e of rd.committed) if (e.data.length > 0) applied.push(new TextDecoder().decode(e.data));
    node.advance(rd);
  }
  if (!proposed && node.status().role === "leader") {
    proposed = node.propose(new TextEncoder().encode("hello")).ok;
  }
}
if (applied.join() !== "hello") throw new Error("not applied: " + JSON.stringify(applied));
console.log("loop ok");
`;

describe("the packed package in a fresh project", () => {
  let base: string;
  let packed: Packed;

  before(() => {
    base = mkdtempSync(join(tmpdir(), "raftwork-pack-"));
    // npm test built dist/ already; building again here would race the tests that run it.
    const r = run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", base], ROOT);
    assert.equal(r.code, 0, r.stderr);
    packed = (JSON.parse(r.stdout) as Packed[])[0] as Packed;
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it("ships every entry point and its source, no tests, and source maps that resolve", () => {
    const files = new Set(packed.files.map((f) => f.path));
    for (const target of Object.values(PKG.exports)) {
      for (const path of typeof target === "string" ? [target] : Object.values(target)) {
        assert.ok(files.has(path.replace(/^\.\//, "")), `${path} is not in the tarball`);
      }
    }
    for (const bin of Object.values(PKG.bin)) assert.ok(files.has(bin), bin);
    for (const f of ["LICENSE", "README.md", "package.json"]) assert.ok(files.has(f), f);
    assert.deepEqual(
      [...files].filter((f) => f.startsWith("test/") || f.startsWith("bench/")),
      [],
    );
    let maps = 0;
    for (const f of files) {
      if (!f.endsWith(".map")) continue;
      maps++;
      const map = JSON.parse(readFileSync(join(ROOT, f), "utf8")) as { sources: string[] };
      for (const source of map.sources) {
        const shipped = resolve("/", dirname(f), source).slice(1);
        assert.ok(files.has(shipped), `${f} points at ${source}, which is not shipped`);
      }
    }
    assert.ok(maps > 0, "source maps are shipped");
  });

  it("without optional peers: the core and the lower layers work; the server and CLI say what is missing", () => {
    const dir = consumer(base, "core-only", packed, []);
    const installed = readFileSync(join(dir, "package-lock.json"), "utf8");
    for (const p of [...PEERS, "esbuild", "tsx"]) {
      assert.ok(!existsSync(join(dir, "node_modules", p)), `${p} was installed`);
    }
    console.log(`# install size, raftwork alone: ${diskKiB(join(dir, "node_modules"))} KiB`);
    assert.ok(installed.includes("node_modules/raftwork"));
    const lower = ["raftwork", "raftwork/sim", "raftwork/storage", "raftwork/transport"];
    const imports = [...lower, "raftwork/node", "raftwork/kv"]
      .map((e, i) => `import * as m${i} from "${e}";`)
      .join("\n");
    const r = node(dir, "core.mjs", `${imports}\n${RAW_NODE_LOOP}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /loop ok/);
    const server = node(
      dir,
      "server.mjs",
      'try { await import("raftwork/kv/server"); } catch (e) { console.log(e.code, e.message); }',
    );
    assert.match(server.stdout, /^missing-dependency .*needs the package "zod".*npm install zod/);
    const cli = run(
      process.execPath,
      [join(dir, "node_modules/raftwork", PKG.bin.raftwork as string), "--version"],
      dir,
    );
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^raftwork: the raftwork command needs the package "commander"/);
  });

  it("with the peers: every entry point imports, the CLI runs, a strict consumer type-checks", () => {
    const dir = consumer(base, "full", packed, PEERS);
    console.log(
      `# install size, raftwork with the CLI's peers: ${diskKiB(join(dir, "node_modules"))} KiB`,
    );
    const imports = ENTRY_POINTS.map((e, i) => `import * as m${i} from "${e}";`).join("\n");
    const checks = `
const all = [${ENTRY_POINTS.map((_, i) => `m${i}`).join(", ")}];
const want = [["RawNode"], ["runSimulation", "SimCluster", "Rng"], ["FileStorage", "MemoryStorage"],
  ["TcpTransport", "decodeMessage"], ["RaftNode"], ["KvClient"], ["KvStateMachine", "serveNode", "createKvHttpServer"],
  ["runSequential"]];
all.forEach((m, i) => { for (const name of want[i]) if (typeof m[name] !== "function") throw new Error(${JSON.stringify(ENTRY_POINTS)}[i] + " lacks " + name); });
`;
    const r = node(dir, "all.mjs", `${imports}\n${checks}\n${RAW_NODE_LOOP}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /loop ok/);

    const bin = join(dir, "node_modules/.bin/raftwork");
    const version = run(bin, ["--version"], dir);
    assert.equal(version.stdout.trim(), PKG.version, version.stderr);
    const sim = run(bin, ["sim", "--seed", "3", "--nodes", "3", "--time", "2s", "--json"], dir);
    assert.equal(sim.code, 0, sim.stderr);
    assert.equal(JSON.parse(sim.stdout).seed, 3);

    writeFileSync(
      join(dir, "consumer.ts"),
      `import { type Message, type Ready, RawNode, simpleConf } from "raftwork";
import { type KvClientOptions, KvClient, type ListPage } from "raftwork/kv";
import { createKvHttpServer, type KvHttpOptions, KvStateMachine } from "raftwork/kv/server";
import { runSequential } from "raftwork/mapreduce";
import { type Logger, type NodeMetrics, RaftNode, type RaftNodeOptions } from "raftwork/node";
import { Rng, runSimulation, type SimResult } from "raftwork/sim";
import { MemoryStorage, type Storage } from "raftwork/storage";
import { decodeMessage, type TcpTransportOptions } from "raftwork/transport";

const rng = new Rng("consumer");
const core = new RawNode({ id: 1, peers: [1], electionTick: 10, heartbeatTick: 1, random: () => rng.float() });
const rd: Ready | null = core.hasReady() ? core.ready() : null;
const m: Message = { type: "timeout-now", from: 1, to: 2, term: 1, index: 0 };
const decoded = decodeMessage(new Uint8Array(0));
const why: string = decoded.ok ? decoded.value.type : decoded.error;
const storage: Storage = new MemoryStorage();
const options: Partial<RaftNodeOptions> = { storage, electionTimeoutMs: 1000 };
const metrics: NodeMetrics | undefined = undefined;
const log: Logger | undefined = undefined;
const client = new KvClient({ endpoints: ["http://127.0.0.1:1"] } satisfies KvClientOptions);
const page: Promise<ListPage> = client.list("a/", { limit: 10 });
const http: Partial<KvHttpOptions> = { sm: new KvStateMachine(), peerHttp: (id: number) => String(id) };
const result: Promise<SimResult> = runSimulation({ nodes: 3, seed: 1, timeMs: 100, faults: [] });
const transport: Partial<TcpTransportOptions> = { id: 1 };
export const used = [rd, m, why, options, metrics, log, page, http, result, transport, simpleConf([1]),
  RaftNode, createKvHttpServer, runSequential];
`,
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2023",
          noEmit: true,
          skipLibCheck: false,
          types: ["node"],
          typeRoots: [join(ROOT, "node_modules/@types")],
        },
        files: ["consumer.ts"],
      }),
    );
    const tsc = run(join(ROOT, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], dir);
    assert.equal(tsc.code, 0, `the consumer does not type-check:\n${tsc.stdout}${tsc.stderr}`);
  });
});
