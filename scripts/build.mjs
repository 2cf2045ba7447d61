#!/usr/bin/env node
// Builds dist/ from src/ (npm run build, npm install's prepare, npm test). dist/ is emptied
// first, so a module that moved or was removed in src/ is not left behind to be packed; the
// etcd API's .proto files are copied next to the module that loads them.
import { spawnSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
rmSync(join(root, "dist"), { recursive: true, force: true });
const r = spawnSync(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
if (r.status !== 0) process.exit(r.status ?? 1);
// Files the compiled modules read at run time beside themselves (tsc copies only code).
cpSync(join(root, "src/kv/etcd/proto"), join(root, "dist/kv/etcd/proto"), { recursive: true });
