// The pages' hand-written modules are type-checked like the rest of the code: ui/tsconfig.json
// checks their JSDoc types against the DOM and the compiled model's declarations in dist/.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

const root = new URL("../..", import.meta.url).pathname;

describe("ui type check", () => {
  it("tsc -p ui/tsconfig.json finds no errors", () => {
    assert.ok(
      existsSync(join(root, "dist/sim/view/model.d.ts")),
      "dist/ is not built: run `npm run build` first (npm test does it)",
    );
    const r = spawnSync(join(root, "node_modules/.bin/tsc"), ["-p", "ui/tsconfig.json"], {
      cwd: root,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
});
