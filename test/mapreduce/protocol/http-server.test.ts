import assert from "node:assert/strict";
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { ListenError, listenEarly } from "../../../src/mapreduce/protocol/http-server.js";

describe("listenEarly", () => {
  it("holds requests that come before serve() and answers them after", {
    timeout: 20_000,
  }, async () => {
    const early = await listenEarly({ host: "127.0.0.1", port: 0 }, "control");
    try {
      assert.match(early.address, /^127\.0\.0\.1:\d+$/);
      const arrived = once(early.server, "request");
      const first = fetch(`http://${early.address}/first`);
      await arrived; // the request is in, and nobody has answered it
      early.serve((req, res) => res.end(`served ${req.url}`));
      assert.equal(await (await first).text(), "served /first");
      const later = await fetch(`http://${early.address}/later`);
      assert.equal(await later.text(), "served /later");
    } finally {
      early.server.closeAllConnections();
      await new Promise((r) => early.server.close(r));
    }
  });

  it("drops held requests whose client gave up", { timeout: 20_000 }, async () => {
    const early = await listenEarly({ host: "127.0.0.1", port: 0 }, "control");
    try {
      const arrived = once(early.server, "request");
      const gaveUp = new AbortController();
      const first = fetch(`http://${early.address}/gave-up`, { signal: gaveUp.signal });
      await arrived;
      gaveUp.abort();
      await assert.rejects(first);
      const [req] = (await arrived) as [IncomingMessage];
      if (!req.socket.destroyed) await once(req.socket, "close");
      const seen: string[] = [];
      early.serve((r, res) => {
        seen.push(r.url ?? "");
        res.end("ok");
      });
      assert.equal(await (await fetch(`http://${early.address}/after`)).text(), "ok");
      assert.deepEqual(seen, ["/after"]);
    } finally {
      early.server.closeAllConnections();
      await new Promise((r) => early.server.close(r));
    }
  });

  it("fails like listen when the address is taken", async () => {
    const a = await listenEarly({ host: "127.0.0.1", port: 0 }, "control");
    try {
      const port = Number(a.address.split(":")[1]);
      await assert.rejects(
        listenEarly({ host: "127.0.0.1", port }, "status"),
        (err: unknown) =>
          err instanceof ListenError &&
          err.code === "MR_LISTEN_FAILED" &&
          err.role === "status" &&
          /EADDRINUSE/.test(err.message),
      );
    } finally {
      await new Promise((r) => a.server.close(r));
    }
  });
});
