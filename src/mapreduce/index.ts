// Public surface of the MapReduce framework.
export { type App, AppError, appHash, loadApp } from "./app.js";
export {
  type Coordinator,
  type CoordinatorOptions,
  type JobResult,
  startCoordinator,
} from "./coordinator.js";
export { compareUtf8, defaultPartition } from "./keys.js";
export { LocalWorkers, type LocalWorkersOptions } from "./local-workers.js";
export { checkInputs, prepareOutDir, UsageError } from "./output.js";
export { runSequential, type SeqOptions, type SeqResult } from "./seq.js";
export { runWorker, type WorkerExit, type WorkerOptions } from "./worker.js";
