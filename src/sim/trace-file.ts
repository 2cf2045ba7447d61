// Reads a trace file into the trace model (src/sim/view/model.ts), streaming: the text is
// parsed chunk by chunk as it is read, never held whole. Node only; the viewer page streams the
// same parser over fetch().

import { createReadStream } from "node:fs";
import { type TraceModel, TraceModelBuilder } from "./view/model.js";
import { TraceParser } from "./view/parse.js";

/** Rejects with TraceParseError for a malformed line, or the fs error (ENOENT, EISDIR, ...). */
export async function loadTraceFile(path: string): Promise<TraceModel> {
  const builder = new TraceModelBuilder();
  const parser = new TraceParser((rec) => builder.add(rec));
  // utf8 decoding in the stream keeps a character split across chunks whole.
  for await (const chunk of createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 }))
    parser.push(chunk as string);
  parser.end();
  return builder.finish();
}
