// Requests and responses of the MVCC store: etcd's KV messages (src/kv/etcd/proto, package
// etcdserverpb) in TypeScript's spelling. Optional fields take proto3's defaults (0, false,
// empty). Revisions, versions and counts are numbers (safe integers: 2^53 revisions would take
// millennia); lease ids are int64 on the wire and chosen at random by etcd's servers, so they
// are bigints. Byte arrays handed to the store are kept, not copied, and those it returns are
// shared with it: neither side may mutate them.

export interface KeyValue {
  key: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Uint8Array;
  /** 0n: no lease. */
  lease: bigint;
}

export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
export type SortOrder = (typeof SortOrder)[keyof typeof SortOrder];
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;
export type SortTarget = (typeof SortTarget)[keyof typeof SortTarget];

export interface RangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  limit?: number;
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResponse {
  /** header.revision: the store's revision (not the one read at). */
  revision: number;
  kvs: KeyValue[];
  more: boolean;
  /** Keys in the range at the revision read, before limit and the revision filters. */
  count: number;
}

export interface PutRequest {
  key: Uint8Array;
  value?: Uint8Array;
  lease?: bigint;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResponse {
  revision: number;
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prevKv?: boolean;
}

export interface DeleteRangeResponse {
  revision: number;
  deleted: number;
  prevKvs: KeyValue[];
}

/** One operation of a txn branch (proto oneof RequestOp.request); {} is the empty union. */
export type RequestOp =
  | { range: RangeRequest }
  | { put: PutRequest }
  | { deleteRange: DeleteRangeRequest }
  | { txn: TxnRequest }
  | Record<string, never>;

export type ResponseOp =
  | { range: RangeResponse }
  | { put: PutResponse }
  | { deleteRange: DeleteRangeResponse }
  | { txn: TxnResponse }
  | Record<string, never>;

export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
export type CompareResult = (typeof CompareResult)[keyof typeof CompareResult];
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
export type CompareTarget = (typeof CompareTarget)[keyof typeof CompareTarget];

export interface Compare {
  result?: CompareResult;
  target?: CompareTarget;
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** The operand for the target (proto oneof target_union); unset reads as 0 / empty. */
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Uint8Array;
  lease?: bigint;
}

export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

export interface TxnResponse {
  /** header.revision; nested txns carry it too (README, "etcd compatibility"), unlike etcd's zero. */
  revision: number;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactResponse {
  revision: number;
}

export interface LeaseGrantResponse {
  revision: number;
  id: bigint;
  /** Granted TTL in seconds, after raising it to the minimum. */
  ttl: number;
}

export interface LeaseRevokeResponse {
  revision: number;
}

export const EventType = { PUT: 0, DELETE: 1 } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** mvccpb.Event. A DELETE's kv carries only the key and mod_revision (the delete's). */
export interface Event {
  type: EventType;
  kv: KeyValue;
  prevKv?: KeyValue;
}
