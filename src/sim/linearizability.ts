// Linearizability checker for key-value histories, in the style of Porcupine (Athalye) and
// Knossos: Wing & Gong's search with Lowe's just-in-time linearization and memoization on
// (set of linearized operations, model state) ("Testing for linearizability", Lowe 2017).
//
// Linearizability is local (Herlihy & Wing 1990, §3.5): a history is linearizable iff each
// key's sub-history is, so the history is split per key and each part is searched on its own.
//
// An operation whose outcome is unknown (the client timed out) has return time Infinity and no
// output: it may take effect at any point after its call, or never. Linearizing it after every
// other operation is the same as "never", so the search needs no special case for it.
//
// Search (per key). Calls and returns are laid out in time order in a doubly linked list. At the
// list's first entry:
//   - a call: try to linearize it now (the model accepts its output from the current state and
//     the (linearized set, state) pair was not explored before): remove its call and return
//     from the list, push it on a stack, start again from the front.
//   - a return: the operation returning here must already be linearized, so this branch is
//     dead: pop the last linearized operation, put it back, and try the next call after it.
// An empty list means every operation was linearized; popping an empty stack means none of the
// orders works.

/** What a client asked for. */
export type KvInput =
  | { op: "get" }
  | { op: "put"; value: string }
  | { op: "append"; value: string }
  | { op: "del" }
  | { op: "cas"; expect: string | null; value: string };

/**
 * What it got back: `value` for a get (null = absent), `ok` for a cas; put/append/del answer {}.
 * undefined = outcome unknown (then `return` must be Infinity).
 */
export interface KvOutput {
  value?: string | null;
  ok?: boolean;
}

export interface KvOperation {
  key: string;
  /** Who issued it (for reports only). */
  client?: number;
  input: KvInput;
  output?: KvOutput;
  /** When the call was issued and when its answer arrived (any consistent clock). */
  call: number;
  return: number;
}

export type CheckResult =
  | { result: "ok" }
  | {
      result: "illegal";
      key: string;
      /** A small sub-history of `key` that is already not linearizable. */
      counterexample: KvOperation[];
    }
  | { result: "unknown"; key: string; reason: string };

export interface CheckOptions {
  /** Search steps allowed per key before giving up with "unknown". Default 1,000,000. */
  maxSteps?: number;
}

type State = string | null;

/** The sequential KV model for one key: the next state, or undefined if `output` is impossible. */
function step(state: State, op: KvOperation): State | undefined {
  const { input, output } = op;
  switch (input.op) {
    case "get":
      return output?.value === state ? state : undefined;
    case "put":
      return input.value;
    case "append":
      return (state ?? "") + input.value;
    case "del":
      return null;
    case "cas": {
      const match = state === input.expect;
      if (output?.ok !== undefined && output.ok !== match) return undefined;
      return match ? input.value : state;
    }
  }
}

/** Check a whole history. */
export function checkHistory(
  history: readonly KvOperation[],
  opts: CheckOptions = {},
): CheckResult {
  const maxSteps = opts.maxSteps ?? 1_000_000;
  const byKey = new Map<string, KvOperation[]>();
  for (const op of normalize(history)) {
    const part = byKey.get(op.key);
    if (part) part.push(op);
    else byKey.set(op.key, [op]);
  }
  let unknown: CheckResult | null = null;
  let worst: { key: string; ops: KvOperation[] } | null = null;
  for (const [key, ops] of byKey) {
    const r = checkKey(ops, maxSteps);
    if (r === "illegal") {
      const small = shrink(ops, maxSteps);
      if (!worst || small.length < worst.ops.length) worst = { key, ops: small };
    } else if (r === "unknown" && !unknown) {
      unknown = { result: "unknown", key, reason: `search exceeded ${maxSteps} steps` };
    }
  }
  if (worst) return { result: "illegal", key: worst.key, counterexample: worst.ops };
  return unknown ?? { result: "ok" };
}

/**
 * Drop reads with an unknown outcome (they constrain nothing) and give every other operation
 * with an unknown outcome an infinite return time.
 */
function normalize(history: readonly KvOperation[]): KvOperation[] {
  const out: KvOperation[] = [];
  for (const op of history) {
    if (op.return < op.call)
      throw new Error(`operation returns before its call: ${describeOperation(op)}`);
    const unknown = op.output === undefined || op.return === Number.POSITIVE_INFINITY;
    if (unknown && op.input.op === "get") continue;
    if (unknown) {
      const { output: _, ...rest } = op;
      out.push({ ...rest, return: Number.POSITIVE_INFINITY });
    } else {
      out.push(op);
    }
  }
  return out;
}

/** Search one key's history. */
function checkKey(ops: readonly KvOperation[], maxSteps: number): "ok" | "illegal" | "unknown" {
  const n = ops.length;
  if (n === 0) return "ok";
  // Node 0 is the list head; node 2i+1 is op i's call, node 2i+2 its return.
  const events: Array<{ node: number; time: number; isCall: boolean }> = [];
  ops.forEach((op, i) => {
    events.push({ node: 2 * i + 1, time: op.call, isCall: true });
    events.push({ node: 2 * i + 2, time: op.return, isCall: false });
  });
  // Calls before returns at equal times: touching intervals count as concurrent.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = 0;
  for (const e of events) {
    next[last] = e.node;
    prev[e.node] = last;
    last = e.node;
  }
  const lift = (call: number) => {
    for (const x of [call, call + 1]) {
      next[prev[x] as number] = next[x] as number;
      if (next[x] !== -1) prev[next[x] as number] = prev[x] as number;
    }
  };
  const unlift = (call: number) => {
    for (const x of [call + 1, call]) {
      next[prev[x] as number] = x;
      if (next[x] !== -1) prev[next[x] as number] = x;
    }
  };

  const linearized = new Uint32Array((n + 31) >>> 5);
  const seen = new Set<string>();
  const stack: Array<{ call: number; state: State }> = [];
  let state: State = null;
  let node = next[0] as number;
  for (let steps = 0; next[0] !== -1; steps++) {
    if (steps >= maxSteps) return "unknown";
    const isCall = node % 2 === 1;
    if (isCall) {
      const i = (node - 1) >>> 1;
      const after = step(state, ops[i] as KvOperation);
      if (after !== undefined) {
        linearized[i >>> 5] = (linearized[i >>> 5] as number) | (1 << (i & 31));
        const memo = `${linearized.join(",")}|${after === null ? "" : `=${after}`}`;
        if (!seen.has(memo)) {
          seen.add(memo);
          stack.push({ call: node, state });
          state = after;
          lift(node);
          node = next[0] as number;
          continue;
        }
        linearized[i >>> 5] = (linearized[i >>> 5] as number) & ~(1 << (i & 31));
      }
      node = next[node] as number;
    } else {
      const top = stack.pop();
      if (!top) return "illegal";
      const i = (top.call - 1) >>> 1;
      linearized[i >>> 5] = (linearized[i >>> 5] as number) & ~(1 << (i & 31));
      state = top.state;
      unlift(top.call);
      node = next[top.call] as number;
    }
  }
  return "ok";
}

/**
 * Shrink an illegal history while keeping it a faithful witness:
 * 1. cut it at the earliest time T where it is already illegal (operations called after T are
 *    dropped, operations still running at T get an unknown outcome): a prefix cut of a
 *    linearizable history is linearizable, so an illegal cut proves the whole illegal;
 * 2. drop reads one by one while it stays illegal (removing a read only removes constraints,
 *    so whatever remains is still a sub-history the original contains).
 */
function shrink(ops: readonly KvOperation[], maxSteps: number): KvOperation[] {
  // Candidate cut times; the last, Infinity, is the whole history (known to be illegal).
  const times = [...new Set(ops.map((o) => o.call)), Number.POSITIVE_INFINITY].sort(
    (a, b) => a - b,
  );
  const cutAt = (t: number) =>
    normalize(
      ops.filter((o) => o.call <= t).map((o) => (o.return > t ? { ...o, output: undefined } : o)),
    );
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (checkKey(cutAt(times[mid] as number), maxSteps) === "illegal") hi = mid;
    else lo = mid + 1;
  }
  let best = cutAt(times[lo] as number);
  for (let i = best.length - 1; i >= 0; i--) {
    if (best[i]?.input.op !== "get") continue;
    const without = best.filter((_, j) => j !== i);
    if (checkKey(without, maxSteps) === "illegal") best = without;
  }
  return best;
}

/** One line per operation, for failure reports. */
export function describeOperation(op: KvOperation): string {
  const who = op.client === undefined ? "" : `client ${op.client}: `;
  const i = op.input;
  const call =
    i.op === "get" || i.op === "del"
      ? `${i.op}(${JSON.stringify(op.key)})`
      : i.op === "cas"
        ? `cas(${JSON.stringify(op.key)}, ${JSON.stringify(i.expect)} -> ${JSON.stringify(i.value)})`
        : `${i.op}(${JSON.stringify(op.key)}, ${JSON.stringify(i.value)})`;
  const out =
    op.output === undefined
      ? "unknown"
      : i.op === "get"
        ? JSON.stringify(op.output.value)
        : i.op === "cas"
          ? String(op.output.ok)
          : "ok";
  const ret = op.return === Number.POSITIVE_INFINITY ? "inf" : String(op.return);
  return `${who}${call} -> ${out} [${op.call}, ${ret}]`;
}

/** A multi-line report of a check result. */
export function formatResult(r: CheckResult): string {
  if (r.result === "ok") return "linearizable";
  if (r.result === "unknown") return `unknown (key ${JSON.stringify(r.key)}: ${r.reason})`;
  const lines = r.counterexample.map((op) => `  ${describeOperation(op)}`);
  return [
    `not linearizable: key ${JSON.stringify(r.key)}, smallest failing history:`,
    ...lines,
  ].join("\n");
}
