// Adapter for /work/shared/kv-bench/load.mjs (see the adapter shape at the top of that file):
// raftwork's KV API takes the raw value as the body of PUT /v1/kv/{key}, and GET /v1/kv/{key}
// is a linearizable read (ReadIndex on the leader; followers forward). A GET of a key never
// written answers 404, which counts as a successful read.
//
//   node ../shared/kv-bench/load.mjs --adapter ./bench/kv-adapter.mjs \
//     --endpoints http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003
const headers = { "content-type": "text/plain; charset=utf-8" };

export default function createAdapter() {
  return {
    name: "raftwork",
    put: (key, value, endpoint) => ({
      method: "PUT",
      url: `${endpoint}/v1/kv/${encodeURIComponent(key)}`,
      headers,
      body: value,
    }),
    get: (key, endpoint) => ({
      method: "GET",
      url: `${endpoint}/v1/kv/${encodeURIComponent(key)}`,
    }),
    ok: (kind, status) => (status >= 200 && status < 300) || (kind === "get" && status === 404),
  };
}
