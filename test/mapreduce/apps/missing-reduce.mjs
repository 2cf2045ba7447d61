// A bad app: no reduce export.
export function map(_f, contents) {
  return [{ key: "n", value: String(contents.length) }];
}
