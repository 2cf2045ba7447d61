// The NOSPACE alarm as the APIs show it (docs/architecture.md, "Disk faults: full and slow
// disks"): a member whose disk is full refuses writes (HTTP 503, etcd's ResourceExhausted
// "database space exceeded"), still serves reads, and reports the alarm through etcd's
// Maintenance.Alarm and Status, etcdctl's `alarm list`/`alarm disarm`, /v1/status and /metrics.
// The member's RaftService is the harness's stand-in with the alarm raised by hand; what raises
// it on a real node is tested in test/node/disk-faults.test.ts.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, beforeEach, describe, it } from "node:test";
import { runCli } from "../../../src/cli/program.js";
import { NodeHistory, withHistory } from "../../../src/kv/dashboard/history.js";
import { BEHIND_FULL_DISK, EtcdBackend } from "../../../src/kv/etcd/backend.js";
import { NO_SPACE } from "../../../src/kv/etcd/errors.js";
import type { LeaderLink } from "../../../src/kv/etcd/leader-link.js";
import { createKvMetrics } from "../../../src/kv/metrics.js";
import { KvStateMachine } from "../../../src/kv/state-machine.js";
import type { WatchHub } from "../../../src/kv/watch/index.js";
import type { RaftService } from "../../../src/node/api.js";
import { NOSPACE, NoSpaceAlarmError } from "../../../src/node/disk-health.js";
import { runProcess } from "../../kv-process/harness.js";
import { FakeService, request } from "../fake-service.js";
import {
  b,
  failure,
  type SharedService,
  startNodes,
  stopNodes,
  str,
  type TestNode,
  type Wire,
} from "./harness.js";

const ETCDCTL = process.env.ETCDCTL ?? "/usr/bin/etcdctl";

/** Gives a harness member a disk that can be full: writes refused, reads untouched. */
function withDisk(service: SharedService): { full: boolean; disarms: number } {
  const disk = { full: false, disarms: 0 };
  const propose = service.propose.bind(service);
  const status = service.status.bind(service);
  service.propose = (data) =>
    disk.full ? Promise.reject(new NoSpaceAlarmError("/data/wal/x.wal")) : propose(data);
  service.status = () => ({ ...status(), alarms: disk.full ? [NOSPACE] : [] });
  (service as RaftService).disarmAlarms = () => {
    disk.disarms++;
    const was = disk.full ? [NOSPACE] : [];
    disk.full = false;
    return was;
  };
  return disk;
}

function etcdctl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runProcess(ETCDCTL, ["--dial-timeout=10s", "--command-timeout=20s", ...args]);
}

describe("the NOSPACE alarm over the HTTP and etcd APIs", () => {
  let nodes: TestNode[];
  let leader: TestNode;
  let full: TestNode;
  let disks: { full: boolean; disarms: number }[];
  before(async () => {
    nodes = await startNodes(3);
    disks = nodes.map((n) => withDisk(n.service));
    [leader, full] = nodes as [TestNode, TestNode];
  });
  after(() => stopNodes(nodes));
  beforeEach(() => {
    for (const d of disks) d.full = false;
    (disks[1] as { full: boolean }).full = true;
  });

  it("gRPC: writes fail with etcd's ResourceExhausted, linearizable and serializable reads are served", async () => {
    await leader.client.KV.Put({ key: b("k"), value: b("v1") });
    const e = await failure(full.client.KV.Put({ key: b("k"), value: b("v2") }));
    assert.equal(e.code, 8, "RESOURCE_EXHAUSTED");
    assert.equal(e.details, NO_SPACE);
    const t = await failure(
      full.client.KV.Txn({ success: [{ request_put: { key: b("k"), value: b("v3") } }] }),
    );
    assert.equal(t.details, NO_SPACE);
    for (const serializable of [false, true]) {
      const r = await full.client.KV.Range({ key: b("k"), serializable });
      assert.equal(str(((r.kvs as Wire[])[0] as Wire).value), "v1");
    }
    // The members with space take the write.
    await nodes[2]?.client.KV.Put({ key: b("k"), value: b("v4") });
  });

  it("Maintenance.Alarm GET lists NOSPACE for the full member only; Status lists it in errors", async () => {
    const got = await full.client.Maintenance.Alarm({ action: 0, alarm: 0 });
    assert.deepEqual(got.alarms, [{ memberID: "2", alarm: 1 }]);
    assert.deepEqual((await full.client.Maintenance.Alarm({ action: 0, alarm: 1 })).alarms, [
      { memberID: "2", alarm: 1 },
    ]);
    assert.deepEqual((await full.client.Maintenance.Alarm({ action: 0, alarm: 2 })).alarms, []);
    assert.deepEqual((await leader.client.Maintenance.Alarm({ action: 0 })).alarms, []);
    const s = await full.client.Maintenance.Status({});
    assert.deepEqual(s.errors, ["memberID:2 alarm:NOSPACE"]);
    assert.deepEqual((await leader.client.Maintenance.Status({})).errors, []);
  });

  it("DEACTIVATE clears this member's alarm only; ACTIVATE and unknown actions are refused", async () => {
    const other = await full.client.Maintenance.Alarm({ action: 2, memberID: "3", alarm: 1 });
    assert.deepEqual(other.alarms, []);
    assert.equal(disks[1]?.disarms, 0, "another member's alarm is not this member's to clear");
    const act = await failure(
      full.client.Maintenance.Alarm({ action: 1, memberID: "2", alarm: 1 }),
    );
    assert.equal(act.code, 12);
    assert.match(act.details, /ACTIVATE is not supported/);
    const bad = await failure(full.client.Maintenance.Alarm({ action: 7 }));
    assert.equal(bad.code, 3);
    assert.equal(disks[1]?.full, true, "refused requests change nothing");
    const off = await full.client.Maintenance.Alarm({ action: 2, memberID: "2", alarm: 1 });
    assert.deepEqual(off.alarms, [{ memberID: "2", alarm: 1 }]);
    assert.equal(disks[1]?.disarms, 1);
    assert.deepEqual((await full.client.Maintenance.Alarm({ action: 0 })).alarms, []);
    await full.client.KV.Put({ key: b("after"), value: b("ok") });
  });

  it("HTTP: a write at the full member gets 503, a read 200; /v1/status lists the alarm", async () => {
    const put = await request(full.http.url, "PUT", "/v1/kv/h", { body: "x" });
    assert.equal(put.status, 503);
    assert.match(JSON.parse(put.body).error, /disk is full/);
    await request(leader.http.url, "PUT", "/v1/kv/h", { body: "y" });
    const get = await request(full.http.url, "GET", "/v1/kv/h");
    assert.equal(get.status, 200);
    assert.equal(get.body, "y");
    assert.deepEqual(JSON.parse((await request(full.http.url, "GET", "/v1/status")).body).alarms, [
      NOSPACE,
    ]);
    // A write forwarded to a full leader: 503, certainly not applied.
    (disks[1] as { full: boolean }).full = false;
    (disks[0] as { full: boolean }).full = true;
    const fwd = await request(nodes[2]?.http.url as string, "PUT", "/v1/kv/h", { body: "z" });
    assert.equal(fwd.status, 503);
    assert.equal((await request(leader.http.url, "GET", "/v1/kv/h")).body, "y");
  });

  it("kv status shows an ALARMS column when a node has an alarm", async () => {
    let stdout = "";
    const io = {
      out: (t: string) => {
        stdout += t;
      },
      err: () => {},
    };
    const eps = nodes.map((n) => n.http.url).join(",");
    assert.equal(await runCli(["node", "raftwork", "kv", "status", "--endpoints", eps], io), 0);
    const lines = stdout.trimEnd().split("\n");
    assert.match(lines[0] as string, /MEMBERS {2}ALARMS$/);
    assert.match(lines[1] as string, / -$/);
    assert.match(lines[2] as string, / NOSPACE$/);
    (disks[1] as { full: boolean }).full = false;
    stdout = "";
    await runCli(["node", "raftwork", "kv", "status", "--endpoints", eps], io);
    assert.doesNotMatch(stdout, /ALARMS/, "no column without alarms");
  });

  it('/metrics: raftwork_alarm_active{alarm="NOSPACE"} follows the alarm', async () => {
    // Wrapped as `kv serve` wraps it (the dashboard's history sees every call first).
    const m = withHistory(createKvMetrics({ nodeId: 2, defaultMetrics: false }), new NodeHistory());
    assert.match(await m.registry.metrics(), /raftwork_alarm_active\{alarm="NOSPACE"[^}]*\} 0/);
    m.setAlarm(NOSPACE, true);
    assert.match(await m.registry.metrics(), /raftwork_alarm_active\{alarm="NOSPACE"[^}]*\} 1/);
    m.setAlarm(NOSPACE, false);
    assert.match(await m.registry.metrics(), /raftwork_alarm_active\{alarm="NOSPACE"[^}]*\} 0/);
  });

  it("etcdctl 3.4: alarm list, a refused put, alarm disarm", {
    skip: !existsSync(ETCDCTL),
  }, async () => {
    const at = `--endpoints=${full.etcd.address}`;
    const list = await etcdctl([at, "alarm", "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, "memberID:2 alarm:NOSPACE \n");
    const put = await etcdctl([at, "put", "e", "1"]);
    assert.notEqual(put.code, 0);
    assert.match(put.stderr, /etcdserver: mvcc: database space exceeded/);
    const disarm = await etcdctl([at, "alarm", "disarm"]);
    assert.equal(disarm.code, 0, disarm.stderr);
    assert.equal(disarm.stdout, "memberID:2 alarm:NOSPACE \n");
    assert.equal((await etcdctl([at, "alarm", "list"])).stdout, "");
    assert.equal((await etcdctl([at, "put", "e", "1"])).stdout, "OK\n");
  });

  it("a full member behind the leader refuses a linearizable read at once instead of waiting to catch up", async () => {
    const service = new FakeService(2, 1);
    const disk = withDisk(service as SharedService);
    const link = { call: async () => ({ revision: 99 }) } as unknown as LeaderLink;
    const backend = new EtcdBackend({
      service,
      sm: new KvStateMachine(),
      hub: {} as WatchHub,
      link,
      id: 2,
      clusterId: () => 2n ** 61n,
      name: "m2",
    });
    disk.full = true;
    const started = Date.now();
    const e = await failure(backend.linearize(false));
    assert.equal(e.code, 14);
    assert.equal(e.details, BEHIND_FULL_DISK);
    assert.ok(Date.now() - started < 1000, "at once");
    await backend.linearize(true); // serializable: no barrier
  });
});
