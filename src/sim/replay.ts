// The command that reproduces a run exactly (the same trace hash): printed by `raftwork sim`
// for a seed with a violation, and by `raftwork sim summary` from a trace's records. `--time`
// is the fault phase only: the heal and the liveness check that follow it are part of every run.

export interface ReplayOptions {
  seed: number;
  nodes: number;
  /** Virtual milliseconds of faults. */
  timeMs: number;
  faults: readonly string[];
  config: "random" | "default";
}

export function replayCommand(o: ReplayOptions): string {
  const faults = o.faults.length === 0 ? "none" : o.faults.join(",");
  return (
    `raftwork sim --seed ${o.seed} --nodes ${o.nodes} --time ${o.timeMs}ms ` +
    `--faults ${faults} --config ${o.config} --trace trace.jsonl`
  );
}
