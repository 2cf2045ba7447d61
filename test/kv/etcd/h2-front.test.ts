import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import {
  acceptH2,
  ClientStreamRewriter,
  H2ProtocolError,
  repairAuthority,
} from "../../../src/kv/etcd/h2-front.js";

// Node's own HTTP/2 client stands in for grpc-go: it sends whatever :authority it is given,
// HPACK-encoded (Huffman, dynamic table) by nghttp2, the encoder grpc-go's peers also decode.
describe("h2-front", () => {
  const h2 = http2.createServer();
  h2.on("stream", (st, headers) => {
    st.respond({ ":status": 200 });
    st.end(String(headers[":authority"]));
  });
  const paths: string[] = [];
  const front = net.createServer((sock) =>
    acceptH2(sock, (d) => {
      paths.push(d === sock ? "fast" : "slow");
      h2.emit("connection", d);
    }),
  );
  let port = 0;
  before(async () => {
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
    port = (front.address() as net.AddressInfo).port;
  });
  after(() => {
    front.close();
    h2.close();
  });

  async function call(c: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders) {
    const r = c.request({ ":path": "/x", ...headers });
    let body = "";
    r.setEncoding("utf8");
    r.on("data", (d) => {
      body += d;
    });
    const status = await new Promise<number>((resolve, reject) => {
      r.on("response", (h) => resolve(Number(h[":status"])));
      r.on("error", reject);
    });
    await new Promise((res) => r.on("end", res));
    return { status, body };
  }

  it("hands a connection whose authority is acceptable to the server as it is", async () => {
    const c = http2.connect(`http://127.0.0.1:${port}`);
    const before = paths.length;
    assert.deepEqual(await call(c, {}), { status: 200, body: `127.0.0.1:${port}` });
    assert.equal(paths[before], "fast");
    c.close();
  });

  it("repairs an authority that carries a scheme, on every request of the connection", async () => {
    const c = http2.connect(`http://127.0.0.1:${port}`);
    const before = paths.length;
    // Long distinct headers fill the dynamic table so that entries are evicted (RFC 7541 §4.4)
    // while the rewritten authority keeps being referenced by index.
    for (let i = 0; i < 300; i++) {
      const authority = i % 7 === 3 ? `127.0.0.1:${port}` : `http://127.0.0.1:${port}/ignored`;
      const r = await call(c, {
        ":authority": authority,
        "x-filler": `${i}`.repeat(40 + (i % 50)),
      });
      assert.deepEqual(r, { status: 200, body: `127.0.0.1:${port}` }, `request ${i}`);
    }
    assert.equal(paths[before], "slow");
    c.close();
  });

  it("refuses what is not HTTP/2 and closes the connection", async () => {
    const sock = net.connect(port, "127.0.0.1");
    sock.resume(); // a paused socket never reaches "close"
    sock.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((r) => sock.on("close", r));
  });

  it("strips the scheme, and only the scheme and path", () => {
    assert.equal(repairAuthority("http://127.0.0.1:2379"), "127.0.0.1:2379");
    assert.equal(repairAuthority("https://[::1]:2379/a?b"), "[::1]:2379");
    assert.equal(repairAuthority("localhost:2379"), "localhost:2379");
  });

  it("never throws anything but H2ProtocolError on arbitrary frames (property)", () => {
    const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, rewrite) => {
        const rw = new ClientStreamRewriter({ dropFirstSettingsAck: true, stopWhenDecided: false });
        try {
          rw.push(Buffer.concat([preface, Buffer.from(bytes)]), rewrite);
        } catch (e) {
          assert.ok(e instanceof H2ProtocolError, String(e));
        }
      }),
    );
  });
});
