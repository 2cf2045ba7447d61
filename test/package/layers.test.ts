// The dependency rule (docs/architecture.md, "Layers") is enforced by Biome's
// noRestrictedImports, one override per folder in biome.json. This runs the repository's own
// biome.json over a scratch tree of one-import files and checks that every upward import fails
// `npm run lint` and the allowed ones pass, so a config edit that silently disables a rule is
// caught.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";

const ROOT = new URL("../..", import.meta.url).pathname;
const BIOME = join(ROOT, "node_modules/.bin/biome");

/** [importing file, module specifier, whether the import is allowed] */
const CASES: [string, string, boolean][] = [
  ["src/util/a.ts", "../raft/types.js", false],
  ["src/util/b.ts", "./result.js", true],
  ["src/raft/a.ts", "../storage/storage.js", false],
  ["src/raft/b.ts", "node:fs", false],
  ["src/raft/c.ts", "msgpackr", false],
  ["src/raft/d.ts", "../util/result.js", true],
  ["src/raft/e.ts", "./types.js", true],
  ["src/storage/a.ts", "../transport/codec.js", false],
  ["src/storage/b.ts", "../raft/types.js", true],
  ["src/storage/c.ts", "msgpackr", true],
  ["src/transport/a.ts", "../node/api.js", false],
  ["src/transport/b.ts", "../storage/storage.js", false],
  ["src/node/a.ts", "../kv/metrics.js", false],
  ["src/node/b.ts", "pino", false],
  ["src/node/c.ts", "../cli/program.js", false],
  ["src/node/d.ts", "../storage/storage.js", true],
  ["src/sim/a.ts", "../kv/client.js", false],
  ["src/sim/b.ts", "../node/raft-node.js", true],
  ["src/kv/server/a.ts", "../../cli/program.js", false],
  ["src/kv/b.ts", "commander", false],
  ["src/kv/c.ts", "../mapreduce/index.js", false],
  ["src/kv/server/d.ts", "../../node/api.js", true],
  ["src/mapreduce/a.ts", "../kv/client.js", false],
  ["src/mapreduce/b.ts", "../sim/index.js", false],
  ["src/cli/a.ts", "../kv/client.js", true],
  ["src/cli/b.ts", "../sim/index.js", true],
];

describe("layer boundaries in biome.json", () => {
  const dir = mkdtempSync(join(tmpdir(), "raftwork-layers-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses every upward import and allows the downward ones", () => {
    copyFileSync(join(ROOT, "biome.json"), join(dir, "biome.json"));
    for (const [file, spec] of CASES) {
      mkdirSync(join(dir, dirname(file)), { recursive: true });
      writeFileSync(join(dir, file), `import * as m from "${spec}";\n\nexport const used = m;\n`);
    }
    const r = spawnSync(BIOME, ["lint", "--vcs-enabled=false", "--max-diagnostics=none", "src"], {
      cwd: dir,
      encoding: "utf8",
    });
    const output = r.stdout + r.stderr;
    const flagged = new Set(
      [...output.matchAll(/^(src\/\S+\.ts):\d+:\d+ lint\/style\/noRestrictedImports/gm)].map(
        (m) => m[1],
      ),
    );
    for (const [file, spec, allowed] of CASES) {
      assert.equal(
        flagged.has(file),
        !allowed,
        `${file} importing "${spec}" should be ${allowed ? "allowed" : "refused"}:\n${output}`,
      );
    }
    assert.notEqual(r.status, 0, "biome lint fails when an import crosses a layer");
  });
});
