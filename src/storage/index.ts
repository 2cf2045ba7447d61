// The storage module's public surface.
export {
  StorageCorruptionError,
  StorageFailedError,
  StorageLockedError,
  StorageNoSpaceError,
} from "./errors.js";
export { DEFAULT_SEGMENT_SIZE, FileStorage, type FileStorageOptions } from "./file-storage.js";
export type { FileHandle, FileSystem, OpenFlags } from "./fs/file-system.js";
export { nodeFileSystem } from "./fs/node-file-system.js";
export {
  type CrashChoices,
  type DiskFault,
  DiskImage,
  type DiskOp,
  type DiskOpKind,
  type FaultHook,
  randomCrashChoices,
  SimDisk,
  type SimDiskOptions,
} from "./fs/sim-disk.js";
export { MemoryStorage } from "./memory-storage.js";
export {
  type Chunks,
  EMPTY_HARD_STATE,
  type LoadOptions,
  type SnapshotRef,
  type Storage,
  type WriteBatch,
} from "./storage.js";
