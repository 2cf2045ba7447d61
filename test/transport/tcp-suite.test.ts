import { tcpHarness } from "./harness.js";
import { runTransportSuite } from "./suite.js";

// A small frame limit, so the suite's 6 MiB snapshot must travel in many chunks; a queue large
// enough for the suite's bursts (it checks delivery, not overflow).
runTransportSuite(
  "TcpTransport (loopback)",
  tcpHarness({ maxFrameBytes: 256 * 1024, snapshotChunkBytes: 64 * 1024, queueLimit: 10_000 }),
);
