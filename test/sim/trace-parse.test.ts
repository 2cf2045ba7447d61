// The trace parser: chunking never changes the result, malformed lines are refused with their
// line number, records from newer versions pass through, and everything the simulator writes
// is valid under the schema.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { FAULTS, runSimulation } from "../../src/sim/runner.js";
import { RECORD_FIELDS } from "../../src/sim/trace-schema.js";
import { type AnyRecord, TraceParseError, TraceParser } from "../../src/sim/view/parse.js";
import { knownTraceText } from "./trace-fixture.js";

function parseChunks(chunks: string[]): AnyRecord[] {
  const out: AnyRecord[] = [];
  const p = new TraceParser((r) => out.push(r));
  for (const c of chunks) p.push(c);
  p.end();
  return out;
}

function parseError(text: string): TraceParseError {
  try {
    parseChunks([text]);
  } catch (e) {
    assert.ok(e instanceof TraceParseError, `not a TraceParseError: ${e}`);
    assert.equal(e.code, "TRACE_MALFORMED");
    return e;
  }
  assert.fail(`parsed without error: ${JSON.stringify(text)}`);
}

const GOOD = '{"t":0,"ev":"trace","v":1,"nodes":[1,2],"seed":1}\n';

describe("trace parser", () => {
  it("gives the same records however the text is cut into chunks", async () => {
    const text = knownTraceText();
    const whole = parseChunks([text]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(text.length), { maxLength: 30 }), (cuts) => {
        const at = [0, ...cuts.sort((a, b) => a - b), text.length];
        const chunks = at.slice(1).map((end, i) => text.slice(at[i], end));
        assert.deepEqual(parseChunks(chunks), whole);
      }),
    );
  });

  it("accepts a last line without a newline and CRLF line ends", async () => {
    const recs = parseChunks([GOOD.replace("\n", "\r\n"), '{"t":5,"ev":"heal"}']);
    assert.deepEqual(
      recs.map((r) => r.ev),
      ["trace", "heal"],
    );
  });

  it("refuses malformed lines, naming the line and what is wrong", async () => {
    const cases: [string, number, RegExp][] = [
      [`${GOOD}{"t":1,"ev":"heal"`, 2, /not JSON/],
      [`${GOOD}[1,2]\n`, 2, /not a JSON object/],
      [`${GOOD}\n{"t":1,"ev":"heal"}\n`, 2, /empty line/],
      [`${GOOD}{"ev":"heal"}\n`, 2, /"t" must be a number >= 0/],
      [`${GOOD}{"t":-1,"ev":"heal"}\n`, 2, /"t" must be a number >= 0/],
      [`${GOOD}{"t":1,"ev":""}\n`, 2, /"ev" must be a non-empty string/],
      [
        `${GOOD}{"t":9,"ev":"heal"}\n{"t":8,"ev":"heal"}\n`,
        3,
        /time goes backwards \(t=8 after t=9\)/,
      ],
      [`${GOOD}{"t":1,"ev":"apply","node":1}\n`, 2, /apply record has no "index"/],
      [`${GOOD}{"t":1,"ev":"apply","node":0,"index":3}\n`, 2, /"node" must be a node id/],
      [
        `${GOOD}{"t":1,"ev":"role","node":1,"role":"leader","term":"2","leader":1}\n`,
        2,
        /"term" must be an integer >= 0, got "2"/,
      ],
      [
        `${GOOD}{"t":1,"ev":"crash","node":1,"durableLast":1,"term":1,"point":7}\n`,
        2,
        /"point" must be a string/,
      ],
      [
        `{"t":0,"ev":"trace","v":1,"nodes":[1,-2],"seed":1}\n`,
        1,
        /"nodes" must be an array of node ids/,
      ],
    ];
    for (const [text, line, why] of cases) {
      const e = parseError(text);
      assert.equal(e.line, line, text);
      assert.match(e.message, new RegExp(`^trace line ${line}: `));
      assert.match(e.message, why);
    }
  });

  it("lets record kinds and fields it does not know pass through unchanged", async () => {
    const future = '{"t":3,"ev":"wormhole","node":2,"depth":9}';
    const extra = '{"t":4,"ev":"heal","why":"new field"}';
    const recs = parseChunks([GOOD, `${future}\n${extra}\n`]);
    assert.deepEqual(recs[1], JSON.parse(future));
    assert.deepEqual(recs[2], JSON.parse(extra));
  });

  it("validates every line a simulation under every fault writes (and knows every kind)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "raftwork-trace-parse-"));
    try {
      const file = join(dir, "t.jsonl");
      for (const seed of [1, 2]) {
        await runSimulation({ nodes: 5, seed, timeMs: 8000, faults: FAULTS, traceFile: file });
        const recs = parseChunks([readFileSync(file, "utf8")]);
        assert.equal(recs[0]?.ev, "trace", "the header comes first");
        const unknown = recs.filter((r) => !Object.hasOwn(RECORD_FIELDS, r.ev));
        assert.deepEqual(unknown, [], `seed ${seed}: kinds the schema lacks`);
        // The schema's key order is the writers' key order.
        for (const r of recs) {
          const spec = (RECORD_FIELDS as Record<string, readonly string[]>)[r.ev] ?? [];
          const order = spec.map((s) => s.split(":")[0] as string);
          const keys = Object.keys(r).slice(2);
          const positions = keys.map((k) => order.indexOf(k));
          assert.ok(
            positions.every((p, i) => p >= 0 && (i === 0 || p > (positions[i - 1] as number))),
            `seed ${seed}: ${JSON.stringify(r)} is out of the schema's key order`,
          );
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
