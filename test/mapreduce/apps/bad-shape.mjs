// A bad app: map yields something that is not {key: string, value: string}.
export function map() {
  return [
    { key: "ok", value: "1" },
    { key: 42, value: "x" },
  ];
}
export function reduce() {
  return "";
}
