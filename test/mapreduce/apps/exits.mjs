// A bad app: map calls process.exit (a worker must survive it and report it).
export function map() {
  process.exit(7);
}
export function reduce() {
  return "";
}
