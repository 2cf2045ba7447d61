// Some reduce tasks are slow (a key sleeps), so a process that quit as soon as it had nothing
// left to do would exit while output is still missing.
export function map(filename) {
  return [
    { key: filename, value: "1" },
    { key: "slow", value: "1" },
  ];
}

export async function reduce(key, values) {
  if (key === "slow") await new Promise((r) => setTimeout(r, 1500));
  return String(values.length);
}
