// The coordinator's status server without a browser: the JSON routes as before, the job page and
// its event stream (same origin only), and the final status sent to a listening page when the
// server closes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startStatusServer } from "../../../src/mapreduce/coordinator/status-server.js";
import type { JobStatus } from "../../../src/mapreduce/protocol/messages.js";

function status(phase: JobStatus["phase"]): JobStatus {
  const counts = { total: 1, done: phase === "done" ? 1 : 0, running: 0 };
  return {
    phase,
    error: null,
    workers: 0,
    lostWorkers: 0,
    refusedWorkers: 0,
    lastRefusal: null,
    workerList: [],
    map: counts,
    reduce: counts,
    counters: {
      inputBytes: 0,
      inputRecords: 0,
      mapOutputPairs: 0,
      outputPairs: 0,
      spills: 0,
      attempts: 0,
      retries: 0,
      backups: 0,
      failures: 0,
    },
    tasks: [],
  };
}

describe("status server", () => {
  it("serves /status, the job page and its events; sends the final status on close", async () => {
    let phase: JobStatus["phase"] = "map";
    const s = await startStatusServer({ host: "127.0.0.1", port: 0 }, () => status(phase));
    const url = (path: string) => `http://${s.address}${path}`;
    try {
      assert.equal(((await (await fetch(url("/status"))).json()) as JobStatus).phase, "map");
      const page = await fetch(url("/ui"));
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      assert.match(await page.text(), /raftwork MapReduce job/);
      assert.equal((await fetch(url("/ui/job/main.js"))).status, 200);
      const foreign = { "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" };
      assert.equal((await fetch(url("/ui/events"), { headers: foreign })).status, 403);

      const res = await fetch(url("/ui/events"));
      assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
      const body = res.text();
      await new Promise((r) => setTimeout(r, 100));
      phase = "done";
      await s.close();
      const events = [...(await body).matchAll(/^event: job\ndata: (.*)$/gm)].map(
        (m) => (JSON.parse(m[1] as string) as JobStatus).phase,
      );
      assert.equal(events[0], "map");
      assert.equal(events.at(-1), "done", "the page hears how the job ended");
    } finally {
      await s.close();
    }
  });
});
