// Distributed grep: lines matching the regular expression in $MR_GREP_PATTERN (flags in
// $MR_GREP_FLAGS, default none). Output: one line per distinct matching line, with the number
// of times it occurs and the files it occurs in: "LINE COUNT file1,file2".
//
//   MR_GREP_PATTERN='whale|ship' raftwork mr run --app examples/grep.mjs --workers 2 --reduce 2 --out out moby.txt

const source = process.env.MR_GREP_PATTERN;
if (!source) throw new Error("set MR_GREP_PATTERN to the regular expression to search for");
const pattern = new RegExp(source, process.env.MR_GREP_FLAGS ?? "");

export function* map(filename, contents) {
  for (const line of contents.split("\n")) {
    if (line.length > 0 && pattern.test(line)) yield { key: line, value: filename };
  }
}

export function reduce(_line, files) {
  return `${files.length} ${[...new Set(files)].sort().join(",")}`;
}
