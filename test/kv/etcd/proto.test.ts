// etcd's .proto files as written for raftwork load with @grpc/proto-loader, and the names and
// field numbers clients rely on are etcd's.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadPackageDefinition } from "@grpc/grpc-js";
import type { MessageTypeDefinition } from "@grpc/proto-loader";
import { loadEtcdProto } from "../../../src/kv/etcd/proto.js";

interface Field {
  name: string;
  number: number;
  type: string;
  label: string;
  typeName: string;
  oneofIndex?: number;
}

const pkg = loadEtcdProto();

function fields(message: string): Record<string, number> {
  const def = pkg[message] as MessageTypeDefinition<object, object> | undefined;
  assert.ok(def, `message ${message} is defined`);
  const type = def.type as { field: Field[] };
  return Object.fromEntries(type.field.map((f) => [f.name, f.number]));
}

describe("etcd v3 .proto files", () => {
  it("define etcd's six services with their methods, under package etcdserverpb", () => {
    const grpc = loadPackageDefinition(pkg) as unknown as {
      etcdserverpb: Record<
        string,
        {
          service: Record<
            string,
            { path: string; requestStream: boolean; responseStream: boolean }
          >;
        }
      >;
    };
    const methods = (s: string) => Object.keys(grpc.etcdserverpb[s]?.service ?? {}).sort();
    assert.deepEqual(methods("KV"), ["Compact", "DeleteRange", "Put", "Range", "Txn"]);
    assert.deepEqual(methods("Watch"), ["Watch"]);
    assert.deepEqual(methods("Lease"), [
      "LeaseGrant",
      "LeaseKeepAlive",
      "LeaseLeases",
      "LeaseRevoke",
      "LeaseTimeToLive",
    ]);
    assert.deepEqual(methods("Cluster"), [
      "MemberAdd",
      "MemberList",
      "MemberPromote",
      "MemberRemove",
      "MemberUpdate",
    ]);
    assert.deepEqual(methods("Maintenance"), [
      "Alarm",
      "Defragment",
      "Hash",
      "HashKV",
      "MoveLeader",
      "Snapshot",
      "Status",
    ]);
    assert.equal(methods("Auth").length, 16);
    const kv = grpc.etcdserverpb.KV?.service;
    assert.equal(kv?.Range?.path, "/etcdserverpb.KV/Range");
    const watch = grpc.etcdserverpb.Watch?.service.Watch;
    assert.deepEqual([watch?.requestStream, watch?.responseStream], [true, true]);
    const keepAlive = grpc.etcdserverpb.Lease?.service.LeaseKeepAlive;
    assert.deepEqual([keepAlive?.requestStream, keepAlive?.responseStream], [true, true]);
    const snap = grpc.etcdserverpb.Maintenance?.service.Snapshot;
    assert.deepEqual([snap?.requestStream, snap?.responseStream], [false, true]);
  });

  it("number the fields clients rely on as etcd does", () => {
    assert.deepEqual(fields("etcdserverpb.ResponseHeader"), {
      cluster_id: 1,
      member_id: 2,
      revision: 3,
      raft_term: 4,
    });
    assert.deepEqual(fields("etcdserverpb.RangeRequest"), {
      key: 1,
      range_end: 2,
      limit: 3,
      revision: 4,
      sort_order: 5,
      sort_target: 6,
      serializable: 7,
      keys_only: 8,
      count_only: 9,
      min_mod_revision: 10,
      max_mod_revision: 11,
      min_create_revision: 12,
      max_create_revision: 13,
    });
    assert.deepEqual(fields("etcdserverpb.RangeResponse"), {
      header: 1,
      kvs: 2,
      more: 3,
      count: 4,
    });
    assert.deepEqual(fields("etcdserverpb.PutRequest"), {
      key: 1,
      value: 2,
      lease: 3,
      prev_kv: 4,
      ignore_value: 5,
      ignore_lease: 6,
    });
    assert.deepEqual(fields("etcdserverpb.WatchCreateRequest"), {
      key: 1,
      range_end: 2,
      start_revision: 3,
      progress_notify: 4,
      filters: 5,
      prev_kv: 6,
      watch_id: 7,
      fragment: 8,
    });
    assert.deepEqual(fields("etcdserverpb.WatchResponse"), {
      header: 1,
      watch_id: 2,
      created: 3,
      canceled: 4,
      compact_revision: 5,
      cancel_reason: 6,
      fragment: 7,
      events: 11,
    });
    assert.equal(fields("etcdserverpb.Compare").range_end, 64);
    assert.deepEqual(fields("mvccpb.KeyValue"), {
      key: 1,
      create_revision: 2,
      mod_revision: 3,
      version: 4,
      value: 5,
      lease: 6,
    });
    assert.deepEqual(fields("mvccpb.Event"), { type: 1, kv: 2, prev_kv: 3 });
    assert.deepEqual(fields("etcdserverpb.LeaseGrantRequest"), { TTL: 1, ID: 2 });
    assert.deepEqual(fields("etcdserverpb.StatusResponse").dbSizeInUse, 9);
    assert.deepEqual(fields("authpb.Permission"), { permType: 1, key: 2, range_end: 3 });
  });

  it("round-trips a RangeRequest through the wire encoding", () => {
    const def = pkg["etcdserverpb.RangeRequest"] as MessageTypeDefinition<object, object>;
    const req = {
      key: Buffer.from("a"),
      range_end: Buffer.from([0]),
      limit: "10",
      revision: "9007199254740993",
      sort_order: 2,
    };
    const bytes = def.serialize(req);
    // field 1 (key), wire type 2: tag 0x0a, length 1, "a"
    assert.deepEqual([...bytes.subarray(0, 3)], [0x0a, 1, 0x61]);
    const back = def.deserialize(bytes) as Record<string, unknown>;
    assert.equal(back.revision, "9007199254740993", "int64 keeps all its bits");
    assert.equal(back.sort_order, 2);
  });
});
