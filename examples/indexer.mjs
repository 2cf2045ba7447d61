// Inverted index: for each word, the input files that contain it, as "COUNT file1,file2,..."
// with the files sorted (like the MIT 6.5840 lab's indexer). A file split into several map
// tasks reports a word more than once, hence the de-duplication in reduce.

const WORD = /\p{L}+/gu;

export function map(filename, contents) {
  const words = new Set(contents.match(WORD) ?? []);
  return [...words].map((word) => ({ key: word, value: filename }));
}

export function reduce(_key, values) {
  const files = [...new Set(values)].sort();
  return `${files.length} ${files.join(",")}`;
}
