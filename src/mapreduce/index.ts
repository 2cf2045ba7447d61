// Public surface of the MapReduce framework (package.json exports it). Folders:
//   app/          loading a user's app and checking every result it returns
//   coordinator/  the coordinator: job tracker, input splits, job files, status server
//   worker/       the worker: task thread and runner, map and reduce tasks, local workers
//   format/       on-disk data: intermediate records, sort, merge, grouping, output files
//   protocol/     what coordinator and workers say to each other, and the HTTP both speak
//   seq.ts        the sequential reference runner
export {
  type App,
  AppError,
  type AppErrorCode,
  appHash,
  isAppLoadError,
  loadApp,
} from "./app/app.js";
export {
  type Coordinator,
  type CoordinatorOptions,
  type JobResult,
  startCoordinator,
} from "./coordinator/coordinator.js";
export {
  checkInputs,
  checkOutDir,
  type InputInfo,
  JobFileError,
  type JobFileErrorCode,
} from "./coordinator/job-files.js";
export { compareUtf8, defaultPartition } from "./format/keys.js";
export {
  type EarlyServer,
  ListenError,
  listenEarly,
  type ServerRole,
} from "./protocol/http-server.js";
export type { JobStatus } from "./protocol/messages.js";
export { runSequential, type SeqOptions, type SeqResult } from "./seq.js";
export { LocalWorkers, type LocalWorkersOptions } from "./worker/local-workers.js";
export { runWorker, type WorkerExit, type WorkerOptions } from "./worker/worker.js";
