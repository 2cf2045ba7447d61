// The storage module's public surface.
export { StorageCorruptionError, StorageLockedError } from "./errors.js";
export { DEFAULT_SEGMENT_SIZE, FileStorage, type FileStorageOptions } from "./file-storage.js";
export { MemoryStorage } from "./memory-storage.js";
export { EMPTY_HARD_STATE, type Storage, type WriteBatch } from "./storage.js";
