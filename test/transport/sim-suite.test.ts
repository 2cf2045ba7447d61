import { simHarness } from "./harness.js";
import { runTransportSuite } from "./suite.js";

runTransportSuite("SimNetwork endpoints", simHarness());
