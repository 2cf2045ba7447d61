// A bad app: map throws.
export function map() {
  throw new Error("boom in map");
}
export function reduce() {
  return "";
}
