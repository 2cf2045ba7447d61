// Membership changes on real `kv serve` processes under a continuous write load (README,
// "Membership and operations"): add a learner with `kv member add --learner`, start it with the
// printed `--join` line, promote it; remove the leader (it exits 0 saying so); replace a member
// through one joint change; kill -9 a member in the middle of a change and restart it; then
// kill -9 every member and restart them all without --peers. Every acknowledged append is in
// the journal exactly once at the end, and the members agree on the final configuration.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  Client,
  freePorts,
  killAll,
  removeTempDirs,
  request,
  runCliAsync,
  sleep,
  spawnCli,
  tempDir,
} from "./harness.js";

after(() => {
  killAll();
  removeTempDirs();
});

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
  exit: Promise<number | null>;
}

const TIMING = ["--election-timeout", "300ms", "--heartbeat", "50ms", "--snapshot-entries", "40"];

describe("membership changes on kv serve processes", () => {
  it("advertises --advertise-http/--advertise-grpc, not the 0.0.0.0 it listens on", async () => {
    const [raftPort, httpPort, grpcPort] = await freePorts(3);
    const child = spawnCli([
      "kv",
      "serve",
      "--id",
      "1",
      "--peers",
      `1=127.0.0.1:${raftPort}`,
      "--http",
      `0.0.0.0:${httpPort}`,
      "--advertise-http",
      `127.0.0.1:${httpPort}`,
      "--grpc",
      `0.0.0.0:${grpcPort}`,
      "--advertise-grpc",
      `127.0.0.1:${grpcPort}`,
      "--data",
      join(tempDir("advertise"), "node-1"),
      ...TIMING,
    ]);
    try {
      let list: { http: string; grpc: string }[] = [];
      const deadline = Date.now() + 20_000;
      while (list.length === 0 && Date.now() < deadline) {
        const a = await request(`http://127.0.0.1:${httpPort}/v1/members`, {}, 1000);
        if (a?.status === 200) list = JSON.parse(a.body);
        else await sleep(50);
      }
      assert.deepEqual(
        list.map((m) => [m.http, m.grpc]),
        [[`127.0.0.1:${httpPort}`, `127.0.0.1:${grpcPort}`]],
      );
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("under load: learner, promote, remove the leader, joint replace, kill -9 mid-change, restart all without --peers", async () => {
    const dir = tempDir("member");
    const ports = await freePorts(12);
    const raft = (id: number) => `127.0.0.1:${ports[2 * (id - 1)]}`;
    const http = (id: number) => `127.0.0.1:${ports[2 * (id - 1) + 1]}`;
    const url = (id: number) => `http://${http(id)}`;
    const data = (id: number) => join(dir, `node-${id}`);
    const procs = new Map<number, Proc>();
    /** Members moved by `member update` away from raft(id). */
    const addressOf = new Map<number, string>();
    const members = new Set<number>();

    /** Starts a member and waits for its ready line (or, with `mayExit`, for it to exit). */
    const start = async (id: number, extra: string[], mayExit = false) => {
      const child = spawnCli([
        "kv",
        "serve",
        "--id",
        String(id),
        "--http",
        http(id),
        "--data",
        data(id),
        ...TIMING,
        ...extra,
      ]);
      const p: Proc = {
        child,
        out: "",
        err: "",
        exit: new Promise((r) => child.once("exit", (code) => r(code))),
      };
      child.stdout?.on("data", (b: Buffer) => {
        p.out += b.toString();
      });
      child.stderr?.on("data", (b: Buffer) => {
        p.err += b.toString();
      });
      procs.set(id, p);
      const deadline = Date.now() + 20_000;
      while (!p.out.includes("ready")) {
        if (child.exitCode !== null) {
          if (mayExit) return;
          throw new Error(`node ${id} exited: ${p.err}`);
        }
        if (Date.now() > deadline) throw new Error(`node ${id} not ready: ${p.err}`);
        await sleep(20);
      }
    };
    const kill9 = async (id: number) => {
      const p = procs.get(id);
      if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
      p.child.kill("SIGKILL");
      await p.exit;
    };
    const status = async (id: number) => {
      const a = await request(`${url(id)}/v1/status`, {}, 1000);
      return a?.status === 200 ? JSON.parse(a.body) : null;
    };
    const endpoints = () => [...members].map(url).join(",");
    const member = (args: string[]) =>
      runCliAsync(["kv", "member", ...args, "--endpoints", endpoints(), "--timeout", "3s"]);
    /** Runs `kv member ...` until it succeeds (a change may wait for the previous one, or a catch-up). */
    const memberOk = async (args: string[], what: string) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await member(args);
        if (r.code === 0) return r;
        if (Date.now() > deadline) throw new Error(`${what}: exit ${r.code}: ${r.stderr}`);
        await sleep(200);
      }
    };
    const leader = async () => {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const seen = await Promise.all([...members].map(status));
        const l = seen.find((s) => s?.role === "leader");
        if (l && seen.every((s) => s?.leader === l.id)) return l.id as number;
        await sleep(50);
      }
      throw new Error("no leader agreed on");
    };
    const confOf = async (id: number) => (await status(id))?.conf;
    const waitFor = async (what: string, f: () => Promise<boolean>) => {
      const deadline = Date.now() + 30_000;
      while (!(await f())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    };

    /** A removed member's exit status (it must exit within 30 s of learning of its removal). */
    const exitOf = async (id: number) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`node ${id} did not exit after its removal: ${procs.get(id)?.err}`)),
          30_000,
        );
      });
      try {
        return await Promise.race([(procs.get(id) as Proc).exit, late]);
      } finally {
        clearTimeout(timer);
      }
    };

    const founders = [1, 2, 3].map((id) => `${id}=${raft(id)}`).join(",");
    await Promise.all([1, 2, 3].map((id) => start(id, ["--peers", founders])));
    for (const id of [1, 2, 3]) members.add(id);
    await leader();

    // The load: appends of unique tokens, each retried with its request id until answered.
    const acked: string[] = [];
    let load = true;
    let failures = 0;
    const workers = Array.from({ length: 3 }, async (_, k) => {
      const client = new Client(`member-load-${k}`, () => [...members].map(url));
      for (let i = 0; load; i++) {
        const token = `w${k}.${i};`;
        const a = await client.write("POST", "/v1/kv/journal?op=append", token, 20_000);
        if (a === null || a.status !== 200) {
          failures++;
          return;
        }
        acked.push(token);
      }
    });
    const progress = async (n: number) => {
      const target = acked.length + n;
      await waitFor(`${n} more acknowledged writes`, async () => acked.length >= target);
    };
    await progress(30);

    // 1. A learner: add, start with the printed line, promote once caught up.
    const added = await memberOk(["add", "4", raft(4), "--learner"], "member add 4");
    const line = /raftwork kv serve (--id 4 --join --peers \S+) --http HOST:PORT --data DIR/.exec(
      added.stdout,
    );
    assert.ok(line, `the join line: ${added.stdout}`);
    assert.match(line[1] as string, new RegExp(`4=${raft(4)}`));
    await start(4, (line[1] as string).split(" ").slice(2));
    members.add(4);
    await memberOk(["promote", "4"], "member promote 4");
    // The leader answered once it applied the promotion; node 4 applies it a moment later.
    await waitFor(
      "node 4 to apply its promotion",
      async () => JSON.stringify((await confOf(4))?.voters) === JSON.stringify([1, 2, 3, 4]),
    );
    await progress(30);

    // 2. Remove the leader: it exits 0 saying it was removed.
    const old = await leader();
    await memberOk(["remove", String(old)], `member remove ${old}`);
    members.delete(old);
    const code = await exitOf(old);
    assert.equal(code, 0, procs.get(old)?.err);
    assert.match((procs.get(old) as Proc).out, /stopped: removed from the cluster/);
    await progress(30);

    // 3. Replace a follower by node 5 in one joint change.
    const l = await leader();
    const victim = [...members].find((id) => id !== l) as number;
    await memberOk(
      ["change", "--add", `5=${raft(5)}`, "--remove", String(victim)],
      "member change",
    );
    await start(5, [
      "--join",
      "--peers",
      [...members, 5].map((id) => `${id}=${raft(id)}`).join(","),
    ]);
    members.delete(victim);
    members.add(5);
    assert.equal(await exitOf(victim), 0, procs.get(victim)?.err);
    await progress(30);

    // 4. kill -9 a member while a change (a learner 6) goes through; restart it from its data.
    const l2 = await leader();
    const crashed = [...members].find((id) => id !== l2) as number;
    const change = member(["add", "6", raft(6), "--learner"]);
    await kill9(crashed);
    const changed = await change;
    assert.equal(changed.code, 0, changed.stderr);
    await start(crashed, []);
    await waitFor("the restarted member to apply the learner", async () =>
      ((await confOf(crashed))?.learners ?? []).includes(6),
    );
    await start(6, [
      "--join",
      "--peers",
      [...members, 6].map((id) => `${id}=${raft(id)}`).join(","),
    ]);
    members.add(6);
    await memberOk(["promote", "6"], "member promote 6");
    await progress(30);

    // 5. Re-address a follower (to the replaced member's free port). The leader dials it there
    // at once, so it restarts there with --listen, and records the address in its data once it
    // has applied the change: the final restart below needs no --listen.
    const l3 = await leader();
    const movedId = [...members].find((id) => id !== l3) as number;
    await memberOk(["update", String(movedId), raft(victim)], "member update");
    addressOf.set(movedId, raft(victim));
    await kill9(movedId);
    await start(movedId, ["--listen", raft(victim)]);
    assert.match((procs.get(movedId) as Proc).out, new RegExp(`ready: raft ${raft(victim)}`));
    await waitFor("the re-addressed member to record its new address", async () =>
      readFileSync(join(data(movedId), "cluster.json"), "utf8").includes(
        `"listen":"${raft(victim)}"`,
      ),
    );
    const commitNow = (await status(l3))?.commitIndex as number;
    await waitFor(
      "the re-addressed member to catch up",
      async () => ((await status(movedId))?.appliedIndex ?? 0) >= commitNow,
    );
    await progress(30);

    // 6. A member removed while it was down learns it when it comes back (its peers refuse it
    // as removed) and exits 0.
    const l4 = await leader();
    const downed = [...members].find((id) => id !== l4) as number;
    await kill9(downed);
    await memberOk(["remove", String(downed)], `member remove ${downed}`);
    members.delete(downed);
    await start(downed, [], true);
    assert.equal(await exitOf(downed), 0, procs.get(downed)?.err);
    assert.match(
      (procs.get(downed) as Proc).out,
      /stopped: removed from the cluster: node \d+ refused it as a removed member/,
    );
    await progress(30);

    // 7. kill -9 everyone; restart without --peers: the configuration comes from the data.
    load = false;
    await Promise.all(workers);
    assert.equal(failures, 0, "every write was answered");
    await Promise.all([...members].map(kill9));
    await Promise.all([...members].map((id) => start(id, [])));
    await leader();
    const final = [...members].sort((a, b) => a - b);
    await waitFor("every member to show the final configuration", async () => {
      const confs = await Promise.all([...members].map(confOf));
      return confs.every((c) => JSON.stringify(c?.voters) === JSON.stringify(final));
    });
    const list = await member(["list", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      JSON.parse(list.stdout).map((m: { id: number; raft: string; role: string }) => [
        m.id,
        m.raft,
        m.role,
      ]),
      final.map((id) => [id, addressOf.get(id) ?? raft(id), "voter"]),
    );

    const reader = new Client("member-reader", () => [...members].map(url));
    const got = await reader.read("/v1/kv/journal", 20_000);
    assert.equal(got?.status, 200);
    const seen = new Map<string, number>();
    for (const t of (got?.body ?? "").split(";").filter((t) => t !== "")) {
      seen.set(`${t};`, (seen.get(`${t};`) ?? 0) + 1);
    }
    for (const [t, n] of seen) assert.equal(n, 1, `${t} appears ${n} times`);
    const lost = acked.filter((t) => !seen.has(t));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged writes lost`);
    console.log(
      `# ${acked.length} acknowledged writes, all present; final voters ${final.join(",")}`,
    );

    // 8. A node of another cluster is refused at the handshake, and both sides say why: a
    // one-member cluster whose member has the id of one of ours (x) adds another of ours (y) as
    // a learner, so it dials y as "node x". It runs on the ports of the removed leader.
    const [x, y] = final as [number, number];
    const other = spawnCli([
      "kv",
      "serve",
      "--id",
      String(x),
      "--peers",
      `${x}=${raft(old)}`,
      "--http",
      http(old),
      "--data",
      join(dir, "other"),
      ...TIMING,
    ]);
    let otherErr = "";
    other.stderr?.on("data", (b: Buffer) => {
      otherErr += b.toString();
    });
    await waitFor("the other cluster to draw its id", async () =>
      otherErr.includes("drew the cluster id"),
    );
    const added2 = await runCliAsync([
      "kv",
      "member",
      "add",
      String(y),
      addressOf.get(y) ?? raft(y),
      "--learner",
      "--endpoints",
      url(old),
    ]);
    assert.equal(added2.code, 0, added2.stderr);
    const ours = procs.get(y) as Proc;
    await waitFor(
      "both sides to log the refusal",
      async () =>
        new RegExp(`node ${x} belongs to cluster \\d+; node ${y} to cluster \\d+`).test(ours.err) &&
        otherErr.includes('"code":"cluster"') &&
        otherErr.includes("peer refused our handshake"),
    );
    other.kill("SIGKILL");
    const a = await request(`${url(y)}/v1/kv/journal`, {}, 3000);
    assert.equal(a?.status, 200, "our cluster serves on");
  });
});
