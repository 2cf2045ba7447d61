// The KV service contract's constants (README, "HTTP API"): its limits and the header names
// both sides use, in one place that loads nothing, so the client and the CLI use them without
// loading the server.

/** A key is 1..1024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;
/** Values, and the result of an append, are limited to 1 MiB. */
export const MAX_VALUE_BYTES = 1024 * 1024;
/** X-Client-Id is 1..128 bytes. */
export const MAX_CLIENT_ID_BYTES = 128;
/** A listing's `limit`: default and maximum. */
export const LIST_DEFAULT_LIMIT = 1000;
export const LIST_MAX_LIMIT = 10_000;

/** The header of a listing the limit cut: the percent-encoded key the next page starts at. */
export const NEXT_HEADER = "x-raftwork-next";

/** The header of a write's 200 answer: the store revision after the write (README, "etcd compatibility"). */
export const REVISION_HEADER = "x-raftwork-revision";
