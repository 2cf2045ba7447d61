#!/usr/bin/env node
// Builds dist/ from src/ (npm run build, npm install's prepare, npm test). dist/ is emptied
// first, so a module that moved or was removed in src/ is not left behind to be packed.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
rmSync(join(root, "dist"), { recursive: true, force: true });
const r = spawnSync(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
process.exit(r.status ?? 1);
