// Importing a TypeScript app. Node 20 cannot strip types. tsx can, but its loader
// (module.register) starts a hooks thread and routes every later import through it: about
// 110 ms of CPU before the app's first line runs, paid by every task thread of every
// worker, on the critical path of a job's first map task.
//
// Most apps are one file that imports nothing but Node's builtins. esbuild compiles such a
// file to plain JavaScript in about 15 ms, and where that JavaScript lives then does not
// matter: it is written to a private temporary file, imported, and the file removed. An app
// that imports other files or packages, asks for import.meta, or imports dynamically would
// resolve those from the wrong place, so it goes through tsx, which resolves them from the
// app's own directory as the user expects.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { basename, extname, join } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);

/** Builds in flight in this thread: the esbuild service stops when none is left. */
let compiling = 0;

/** Source text that makes a module depend on where it is (the tsx path is taken). */
const LOCATION_DEPENDENT = /\bimport\s*\(|\bimport\.meta\b|\brequire\s*\(/;

/** Imports the TypeScript module at absolute path `abs`. */
export async function importTypeScript(abs: string): Promise<Record<string, unknown>> {
  const js = await compileStandalone(abs);
  if (js === undefined) {
    const { tsImport } = await import("tsx/esm/api");
    return (await tsImport(pathToFileURL(abs).href, import.meta.url)) as Record<string, unknown>;
  }
  // mkdtemp: a fresh directory only this process writes, so nobody can swap the file.
  const dir = mkdtempSync(join(tmpdir(), "raftwork-app-"));
  try {
    const file = join(dir, `${basename(abs, extname(abs))}.mjs`);
    writeFileSync(file, js);
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The app compiled to one ES module, if it stands alone: a single source file whose only
 * imports are Node builtins. undefined otherwise. Throws on a syntax or type-syntax error.
 */
export async function compileStandalone(abs: string): Promise<string | undefined> {
  if (LOCATION_DEPENDENT.test(readFileSync(abs, "utf8"))) return undefined;
  // require, not import: importing CommonJS from ESM runs cjs-module-lexer over esbuild's
  // large main file to find its exports, 50 ms of the 65 it took to get esbuild.
  const esbuild = require("esbuild") as typeof import("esbuild");
  compiling++;
  const r = await esbuild
    .build({
      entryPoints: [abs],
      // Bundling is how esbuild reports every import: a relative one becomes a second input.
      bundle: true,
      packages: "external",
      format: "esm",
      platform: "node",
      target: "node20",
      write: false,
      metafile: true,
      // Stack traces can point into the app's own lines (node --enable-source-maps).
      sourcemap: "inline",
      logLevel: "silent",
    })
    .finally(() => {
      // esbuild keeps a service process for later builds; we have none (one app per thread).
      if (--compiling === 0) void esbuild.stop();
    });
  const inputs = Object.values(r.metafile.inputs);
  if (inputs.length !== 1) return undefined;
  if (!inputs.every((i) => i.imports.every((imp) => imp.external && isBuiltin(imp.path))))
    return undefined;
  return r.outputFiles?.[0]?.text;
}
