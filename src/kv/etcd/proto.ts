// Where etcd's .proto files live and how raftwork loads them (the gRPC server and tests use
// this one loader, so the options are the same everywhere). The files sit beside this module
// in proto/; a build that compiles to dist/ must copy that folder next to the compiled file.

import { fileURLToPath } from "node:url";
import { loadSync, type Options, type PackageDefinition } from "@grpc/proto-loader";

export const PROTO_DIR = fileURLToPath(new URL("./proto/", import.meta.url));

/** The files of etcd's v3 API, relative to PROTO_DIR. */
export const PROTO_FILES = ["etcdserverpb/rpc.proto", "mvccpb/kv.proto", "authpb/auth.proto"];

/**
 * proto-loader options: field names as in the .proto (snake_case, as etcd's JSON and docs
 * spell them), int64 as strings (lease ids and revisions need all 64 bits), bytes as Buffers,
 * enums as numbers, proto3 defaults filled in.
 */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export function loadEtcdProto(): PackageDefinition {
  return loadSync(PROTO_FILES, LOADER_OPTIONS);
}
