// V8 flags for a process that runs a raftwork node (`kv serve`). Under write load every stored
// value is long-lived, so the old generation grows steadily; V8 starts it with a small limit and
// grows that limit a little at each full GC, so a fresh node ran a mark-compact every ~1.5 s
// under 256 clients, each stopping the event loop (and every request in flight) for 8-60 ms
// (`--trace-gc`, bench/RESULTS.md "KV cluster vs etcd"). Starting with a larger old-space limit
// removes most of them (8-10 -> 0-3 per 15 s per node); the memory is only committed as it is
// used. A larger young generation (--max-semi-space-size) did not help: the scavenges' cost is
// copying the new values, which survive anyway.
// `kv cluster` (src/cli/local-cluster.ts) passes these flags to its children. The flag is not allowed in NODE_OPTIONS, so a
// `kv serve` started by hand takes it on node's command line:
//   node --initial-old-space-size=128 dist/cli/main.js kv serve ...
export const SERVE_V8_FLAGS: readonly string[] = ["--initial-old-space-size=128"];
