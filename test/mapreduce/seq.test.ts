import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { detach } from "../../src/mapreduce/format/grouper.js";
import { runSequential } from "../../src/mapreduce/seq.js";

const dir = mkdtempSync(join(tmpdir(), "mr-seq-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// Emits, per map call, one "calls" pair and the bytes and lines it saw.
const app = join(dir, "calls.mjs");
writeFileSync(
  app,
  `export function map(f, text) {
    const lines = text.split("\\n").filter((l) => l !== "").length;
    return [{ key: "calls", value: "1" }, { key: "bytes", value: String(Buffer.byteLength(text)) },
      { key: "lines", value: String(lines) }, { key: "last " + f, value: text.endsWith("\\n") ? "nl" : "cut" }];
  }
  export function reduce(k, vs) { return k.startsWith("last ") ? vs.sort().join(",") : String(vs.reduce((a, v) => a + Number(v), 0)); }
`,
);

async function run(files: string[], splitSize: number): Promise<Map<string, string>> {
  const out = mkdtempSync(join(dir, "out-"));
  await runSequential({
    appPath: app,
    files,
    outDir: out,
    overwrite: false,
    memoryBytes: 1 << 20,
    splitSize,
  });
  const lines = readFileSync(join(out, "mr-out-0"), "utf8").trimEnd().split("\n");
  return new Map(
    lines.map((l) => [l.slice(0, l.lastIndexOf(" ")), l.slice(l.lastIndexOf(" ") + 1)]),
  );
}

describe("mr seq", () => {
  it("maps a file larger than the split size in line-aligned pieces, every byte once", async () => {
    const input = join(dir, "in.txt");
    const text = Array.from({ length: 500 }, (_, i) => `line ${i} ${"é".repeat(i % 7)}\n`).join("");
    writeFileSync(input, text);
    const whole = await run([input], 1 << 20);
    assert.equal(whole.get("calls"), "1");
    const split = await run([input], 1000);
    assert.ok(Number(split.get("calls")) > 5, `calls ${split.get("calls")}`);
    assert.equal(split.get("bytes"), String(Buffer.byteLength(text)));
    assert.equal(split.get("lines"), "500");
    // Every piece ends at a line boundary.
    assert.deepEqual(new Set(split.get(`last ${input}`)?.split(",")), new Set(["nl"]));
  });
});

describe("detach", () => {
  it("returns an equal string, whatever its length and contents", () => {
    const big = `${"x".repeat(100)}héllo \u{1F600} \uD800 ${"y".repeat(100)}`;
    for (const s of ["", "a", "twelve chars", big, big.slice(95, 120), big.slice(1, 200)])
      assert.equal(detach(s), s);
  });
});
