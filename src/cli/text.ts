// Wording shared by every command's output.

/** "1 node", "3 nodes". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
