import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadApp } from "../../../src/mapreduce/app/app.js";
import { compileStandalone } from "../../../src/mapreduce/app/typescript.js";

const dir = mkdtempSync(join(tmpdir(), "mr-ts-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const REDUCE = "export function reduce(k: string, v: string[]): string { return v.join(); }\n";

describe("TypeScript apps", () => {
  it("a self-contained app, builtins allowed, is compiled to one module", async () => {
    const path = file(
      "alone.ts",
      `import { basename } from "node:path";\nimport os from "os";\ntype Pair = { key: string; value: string };\nexport function map(f: string, c: string): Pair[] { return [{ key: basename(f), value: c + os.EOL.length }]; }\n${REDUCE}`,
    );
    const js = await compileStandalone(path);
    assert.ok(js, "expected the standalone path");
    assert.doesNotMatch(js, /type Pair|: string/);
    const a = await loadApp(path);
    assert.deepEqual(
      [...(a.map("/x/in.txt", "c") as Iterable<unknown>)],
      [{ key: "in.txt", value: "c1" }],
    );
  });

  it("an app that depends on where it lives goes through tsx, and still works", async () => {
    file("lib/helper.ts", "export const twice = (s: string): string => s + s;\n");
    const relative = file(
      "uses-helper.ts",
      `import { twice } from "./lib/helper.ts";\nexport const map = (f: string, c: string) => [{ key: twice(c), value: f }];\n${REDUCE}`,
    );
    const meta = file(
      "meta.ts",
      `export const map = (f: string) => [{ key: import.meta.url, value: f }];\n${REDUCE}`,
    );
    const pkg = file(
      "pkg.ts",
      `import { z } from "zod";\nexport const map = (f: string) => [{ key: z.string().parse(f), value: "1" }];\n${REDUCE}`,
    );
    for (const path of [relative, meta, pkg])
      assert.equal(await compileStandalone(path), undefined, path);

    const a = await loadApp(relative);
    assert.deepEqual([...(a.map("f", "ab") as Iterable<unknown>)], [{ key: "abab", value: "f" }]);
    const m = await loadApp(meta);
    const [pair] = [...(m.map("f", "") as Iterable<{ key: string }>)];
    assert.match(pair?.key ?? "", /\/meta\.ts(\?|$)/, "import.meta.url is the app's own file");
  });

  it("a syntax error names the app and the place", async () => {
    const path = file("broken.ts", "export function map(f: string {\n");
    await assert.rejects(loadApp(path), /app broken\.ts: cannot load module: .*broken\.ts:1/s);
  });
});
