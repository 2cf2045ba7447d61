// Streaming JSON Lines parser for simulator traces (src/sim/trace-schema.ts). Text arrives in
// chunks of any size (a file stream in Node, a fetch body in the browser); complete lines are
// parsed and validated as they arrive, so a 30 MB trace is never held as one string.
//
// Strict about what is malformed, tolerant of what is merely new: a line that is not a JSON
// object, lacks `t` or `ev`, goes back in time, or has a known kind with a missing or mistyped
// field stops the parse with a TraceParseError naming the line. A record kind this version does
// not know (a newer simulator's) and fields it does not know pass through untouched.
//
// This folder is loaded by the viewer page as well as by Node: it imports nothing but the schema
// and the shared error base, both free of Node APIs.

import { RaftworkError } from "../../util/errors.js";
import { type FieldType, RECORD_FIELDS, type TraceKind } from "../trace-schema.js";

/** A parsed record: the schema's fields, or anything for kinds this version does not know. */
export interface AnyRecord {
  t: number;
  ev: string;
  [field: string]: unknown;
}

/** A trace line that breaks the format. `line` is 1-based. */
export class TraceParseError extends RaftworkError {
  readonly code = "TRACE_MALFORMED";
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`trace line ${line}: ${detail}`);
  }
}

interface FieldCheck {
  name: string;
  type: FieldType;
  optional: boolean;
}

/** RECORD_FIELDS, split once: "from:id?" -> {name: "from", type: "id", optional: true}. */
const CHECKS = new Map<string, FieldCheck[]>(
  Object.entries(RECORD_FIELDS).map(([kind, specs]) => [
    kind,
    specs.map((spec) => {
      const [name, rest] = spec.split(":") as [string, string];
      const optional = rest.endsWith("?");
      return { name, type: (optional ? rest.slice(0, -1) : rest) as FieldType, optional };
    }),
  ]),
);

/** True if `kind` is defined by the schema this code was built with. */
export function isKnownKind(kind: string): kind is TraceKind {
  return CHECKS.has(kind);
}

const isNat = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isId = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;

function typeOk(type: FieldType, v: unknown): boolean {
  switch (type) {
    case "id":
      return isId(v);
    case "int":
      return isNat(v);
    case "num":
      return typeof v === "number" && Number.isFinite(v) && v >= 0;
    case "real":
      return typeof v === "number" && Number.isFinite(v);
    case "str":
      return typeof v === "string";
    case "bool":
      return typeof v === "boolean";
    case "ids":
      return Array.isArray(v) && v.every(isId);
    case "str|null":
      return v === null || typeof v === "string";
    case "int|str":
      return isNat(v) || typeof v === "string";
  }
}

const TYPE_NAMES: Record<FieldType, string> = {
  id: "a node id (a positive integer)",
  int: "an integer >= 0",
  num: "a number >= 0",
  real: "a number",
  str: "a string",
  bool: "true or false",
  ids: "an array of node ids",
  "str|null": "a string or null",
  "int|str": "an integer >= 0 or a string",
};

/**
 * Parses and validates one line. `prevT` is the previous record's time (records never go back
 * in time). Throws TraceParseError.
 */
export function parseRecord(text: string, line: number, prevT: number): AnyRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TraceParseError(line, `not JSON (${(e as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new TraceParseError(line, "not a JSON object");
  const rec = value as Record<string, unknown>;
  const { t, ev } = rec;
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0)
    throw new TraceParseError(line, `"t" must be a number >= 0, got ${JSON.stringify(t)}`);
  if (t < prevT) throw new TraceParseError(line, `time goes backwards (t=${t} after t=${prevT})`);
  if (typeof ev !== "string" || ev === "")
    throw new TraceParseError(line, `"ev" must be a non-empty string, got ${JSON.stringify(ev)}`);
  const checks = CHECKS.get(ev);
  if (checks)
    for (const c of checks) {
      const v = rec[c.name];
      if (v === undefined) {
        if (c.optional) continue;
        throw new TraceParseError(line, `${ev} record has no "${c.name}"`);
      }
      if (!typeOk(c.type, v))
        throw new TraceParseError(
          line,
          `${ev} record: "${c.name}" must be ${TYPE_NAMES[c.type]}, got ${JSON.stringify(v)}`,
        );
    }
  return rec as AnyRecord;
}

/**
 * Feeds complete lines to `sink` as text is pushed. A final line without a newline is parsed
 * by end(). A trailing "\r" (a file edited on Windows) is ignored; an empty line is malformed.
 */
export class TraceParser {
  private partial = "";
  private line = 0;
  private prevT = 0;
  private ended = false;

  constructor(private readonly sink: (rec: AnyRecord, line: number) => void) {}

  /** Lines parsed so far. */
  get lines(): number {
    return this.line;
  }

  push(chunk: string): void {
    if (this.ended) throw new Error("TraceParser: push after end");
    let nl = chunk.indexOf("\n");
    if (nl < 0) {
      this.partial += chunk;
      return;
    }
    // The first line may continue text from the previous chunk.
    this.take(this.partial + chunk.slice(0, nl));
    let start = nl + 1;
    for (nl = chunk.indexOf("\n", start); nl >= 0; nl = chunk.indexOf("\n", start)) {
      this.take(chunk.slice(start, nl));
      start = nl + 1;
    }
    this.partial = chunk.slice(start);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.partial !== "") this.take(this.partial);
    this.partial = "";
  }

  private take(text: string): void {
    this.line++;
    const body = text.endsWith("\r") ? text.slice(0, -1) : text;
    if (body.trim() === "") throw new TraceParseError(this.line, "empty line");
    const rec = parseRecord(body, this.line, this.prevT);
    this.prevT = rec.t;
    this.sink(rec, this.line);
  }
}
