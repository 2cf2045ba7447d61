#!/usr/bin/env node
// The one test command (README: `npm test`). Builds dist/ (process-level tests run the compiled
// CLI, exactly as users do), typechecks everything, then runs every test/**/*.test.ts with
// node:test. Extra arguments filter test files by substring: `npm test -- raft/`.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function* walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (name.endsWith(".test.ts")) yield relative(root, p);
  }
}

run(process.execPath, [join(root, "scripts/build.mjs")]);
run(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.json", "--noEmit"]);

const files = [...walk(join(root, "test"))].filter(
  (f) => filters.length === 0 || filters.some((s) => f.includes(s)),
);
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
run(process.execPath, [
  "--import",
  "tsx",
  "--test",
  "--test-concurrency=2",
  // A test waiting forever (a lost wakeup, a process that never answers) fails after 5 minutes
  // instead of hanging CI; tests that need longer say so themselves ({ timeout }).
  "--test-timeout=300000",
  "--test-reporter=spec",
  ...files,
]);
