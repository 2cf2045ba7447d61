// Fault injection (like the 6.5840 lab's crash app): unless MR_CRASH=0, a call may kill its
// whole worker process, call process.exit, hang far past the task timeout, or be slow. The
// dice come from $MR_CRASH_SEED mixed with the process and thread ids (a worker loads the app
// afresh in each new task thread, and must not roll the same dice again; which process runs
// which task is up to the scheduler, so a seed reproduces the dice, not the whole run). The
// output itself is deterministic: per input file, its length and a checksum.
import { threadId } from "node:worker_threads";

let state =
  (Number(process.env.MR_CRASH_SEED ?? 1) ^
    Math.imul(process.pid, 0x9e3779b1) ^
    Math.imul(threadId + 1, 0x85ebca6b)) >>>
  0;
function random() {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 2 ** 32;
}

function chaos() {
  if (process.env.MR_CRASH === "0") return Promise.resolve();
  const r = random();
  if (r < 0.1) process.kill(process.pid, "SIGKILL");
  if (r < 0.13) process.exit(1);
  if (r < 0.25) return new Promise((resolve) => setTimeout(resolve, 30_000));
  return new Promise((resolve) => setTimeout(resolve, random() * 200));
}

export async function map(filename, contents) {
  await chaos();
  let sum = 0;
  for (let i = 0; i < contents.length; i++) sum = (sum * 31 + contents.charCodeAt(i)) >>> 0;
  return [
    { key: `${filename}:length`, value: String(contents.length) },
    { key: `${filename}:sum`, value: String(sum) },
    { key: "files", value: filename },
  ];
}

export async function reduce(_key, values) {
  await chaos();
  return values.sort().join(",");
}
