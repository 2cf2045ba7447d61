import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type App,
  AppError,
  checkCombined,
  isAppLoadError,
  loadApp,
  partitioner,
  runMap,
  runReduce,
} from "../../../src/mapreduce/app/app.js";
import { defaultPartition } from "../../../src/mapreduce/format/keys.js";

const dir = mkdtempSync(join(tmpdir(), "mr-app-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const app = (map: App["map"], reduce: App["reduce"] = () => ""): App => ({
  name: "t.mjs",
  map,
  reduce,
});

async function pairs(a: App): Promise<string[]> {
  const out: string[] = [];
  await runMap(a, "f", "x y", (k, v) => {
    out.push(`${k}=${v}`);
    return undefined;
  });
  return out;
}

describe("runMap accepts every documented result shape", () => {
  const kv = [
    { key: "x", value: "1" },
    { key: "y", value: "2" },
  ];
  const cases: [string, App["map"]][] = [
    ["array", () => kv],
    [
      "generator",
      function* () {
        yield* kv;
      },
    ],
    ["promise of array", async () => kv],
    [
      "async generator",
      async function* () {
        for (const p of kv) yield p;
      },
    ],
    ["Set", () => new Set(kv)],
  ];
  for (const [name, map] of cases) {
    it(name, async () => assert.deepEqual(await pairs(app(map)), ["x=1", "y=2"]));
  }
});

describe("runMap rejects bad results with an AppError saying what was wrong", () => {
  const cases: [string, App["map"], RegExp][] = [
    ["a number", () => 42, /map returned number 42, not an iterable/],
    ["a string", () => "x 1", /map returned the string "x 1"/],
    ["undefined", () => undefined, /map returned undefined/],
    [
      "an item without value",
      () => [{ key: "k" }],
      /map item 0 is an object \{"key":"k"\}, not \{key: string, value: string\}/,
    ],
    [
      "a numeric value",
      () => [
        { key: "k", value: "1" },
        { key: "k", value: 1 },
      ],
      /map item 1 is/,
    ],
    [
      "a throw",
      () => {
        throw new Error("nope");
      },
      /map threw: nope/,
    ],
    ["a rejected promise", () => Promise.reject(new Error("async nope")), /map threw: async nope/],
    [
      "a throwing generator",
      function* () {
        yield { key: "a", value: "b" };
        throw new TypeError("mid-way");
      },
      /map threw: mid-way/,
    ],
  ];
  for (const [name, map, message] of cases) {
    it(name, async () => {
      await assert.rejects(
        pairs(app(map)),
        (err: unknown) => err instanceof AppError && message.test(err.message),
      );
    });
  }
});

describe("reduce, combine and partition results are checked", () => {
  it("reduce must return a string (or a promise of one)", async () => {
    assert.equal(
      await runReduce(
        app(
          () => [],
          async (_k, vs) => String(vs.length),
        ),
        "k",
        ["a", "b"],
      ),
      "2",
    );
    // A synchronous reduce is checked synchronously, an async one when it settles.
    assert.throws(
      () =>
        runReduce(
          app(
            () => [],
            () => 3,
          ),
          "k",
          [],
        ),
      /reduce\("k"\) returned number 3, not a string/,
    );
    await assert.rejects(
      Promise.resolve(
        runReduce(
          app(
            () => [],
            async () => 3,
          ),
          "k",
          [],
        ),
      ),
      /reduce\("k"\) returned number 3, not a string/,
    );
    assert.equal(
      runReduce(
        app(
          () => [],
          (_k, vs) => vs.join("+"),
        ),
        "k",
        ["a", "b"],
      ),
      "a+b",
    );
  });

  it("combine must return a string", () => {
    assert.throws(() => checkCombined(null, "k"), /combine\("k"\) returned null/);
  });

  it("partition must return an integer in range; the default is the stable hash", () => {
    const a = app(() => []);
    assert.equal(partitioner(a, 4, defaultPartition)("the"), defaultPartition("the", 4));
    a.partition = (k) => (k === "bad" ? 4 : 1.5);
    assert.throws(
      () => partitioner(a, 4, defaultPartition)("bad"),
      /partition\("bad", 4\) returned number 4, not an integer in 0..3/,
    );
    assert.throws(() => partitioner(a, 4, defaultPartition)("x"), /returned number 1.5/);
  });
});

describe("loadApp", () => {
  it("loads a TypeScript app and its optional exports", async () => {
    const path = join(dir, "typed.ts");
    writeFileSync(
      path,
      `export const map = (f: string, c: string) => [{ key: c, value: f }];\nexport function reduce(k: string, v: string[]): string { return v.join(); }\nexport const combine = reduce;\n`,
    );
    const a = await loadApp(path);
    assert.equal(a.name, "typed.ts");
    assert.equal(typeof a.combine, "function");
    assert.equal(a.partition, undefined);
    assert.deepEqual(await pairs(a), ["x y=f"]);
  });

  it("names the app and the problem when it cannot be used, with a code for each kind", async () => {
    const refused = (code: string, message: RegExp) => (err: unknown) =>
      err instanceof AppError &&
      err.code === code &&
      isAppLoadError(err) &&
      message.test(err.message);
    const missing = join(dir, "nored.mjs");
    writeFileSync(missing, "export function map() { return []; }\n");
    await assert.rejects(
      loadApp(missing),
      refused("MR_APP_BAD_EXPORT", /^app nored\.mjs: missing export "reduce" is not a function$/),
    );
    const broken = join(dir, "broken.mjs");
    writeFileSync(broken, "export function map( {\n");
    await assert.rejects(
      loadApp(broken),
      refused("MR_APP_LOAD_FAILED", /^app broken\.mjs: cannot load module/),
    );
    const throws = join(dir, "throws.mjs");
    writeFileSync(throws, "throw new Error('no config');\n");
    await assert.rejects(loadApp(throws), refused("MR_APP_LOAD_FAILED", /no config/));
    const badPartition = join(dir, "badpart.mjs");
    writeFileSync(badPartition, "export const map = () => [], reduce = () => '', partition = 3;\n");
    await assert.rejects(
      loadApp(badPartition),
      refused("MR_APP_BAD_EXPORT", /export "partition" is not a function/),
    );
    const json = join(dir, "package.json");
    writeFileSync(json, "{}\n");
    await assert.rejects(
      loadApp(json),
      (err: unknown) =>
        refused("MR_APP_NOT_MODULE", /^app package\.json: not a module/)(err) &&
        (err as AppError).detail === "not a module: expected a .js, .mjs, .ts or .mts file",
    );
  });
});
