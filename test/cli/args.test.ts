import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDuration, parseEndpoints, parseHostPort, parseSize } from "../../src/cli/args.js";

describe("flag value conventions", () => {
  it("durations take ms, s, m, h or a bare number of milliseconds", () => {
    assert.equal(parseDuration("300ms"), 300);
    assert.equal(parseDuration("10s"), 10_000);
    assert.equal(parseDuration("2m"), 120_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("1.5h"), 5_400_000);
    assert.equal(parseDuration("250"), 250);
    for (const bad of ["", "10d", "1H", "-1s", "0", "1.5.2s", "s", "h"])
      assert.throws(() => parseDuration(bad), bad);
  });
  it("sizes take B, KiB, MiB, GiB", () => {
    assert.equal(parseSize("64MiB"), 64 * 1024 * 1024);
    assert.equal(parseSize("1GiB"), 1024 ** 3);
    assert.equal(parseSize("100B"), 100);
    for (const bad of ["64", "64MB", "0B", "x"]) assert.throws(() => parseSize(bad), bad);
  });
  it("HOST:PORT", () => {
    assert.deepEqual(parseHostPort("127.0.0.1:7001"), { host: "127.0.0.1", port: 7001 });
    assert.deepEqual(parseHostPort("[::1]:80"), { host: "::1", port: 80 });
    for (const bad of ["127.0.0.1", ":80", "h:99999", "h:0", "http://h:1"])
      assert.throws(() => parseHostPort(bad), bad);
  });
  it("endpoints", () => {
    assert.deepEqual(parseEndpoints("http://127.0.0.1:8001,http://127.0.0.1:8002/"), [
      "http://127.0.0.1:8001",
      "http://127.0.0.1:8002",
    ]);
    assert.deepEqual(parseEndpoints("https://h:1/"), ["https://h:1"]);
    for (const bad of ["", "127.0.0.1:8001", "ftp://h:1", "http://h", "https://h:1/x"])
      assert.throws(() => parseEndpoints(bad), bad);
  });
});
