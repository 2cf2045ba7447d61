// The node layer's address book (src/node/membership.ts): the conf entry context and snapshot
// envelope formats, and how applied conf entries and restored snapshots move the book.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StateMachine } from "../../src/node/api.js";
import {
  type AddressBook,
  bootstrapEntry,
  decodeBook,
  encodeBook,
  Membership,
  unwrapSnapshot,
  wrapSnapshot,
} from "../../src/node/membership.js";
import { decodeConfChangeEntry, encodeConfChangeEntry } from "../../src/raft/confchange-codec.js";
import { simpleConf } from "../../src/raft/types.js";
import { newClusterId } from "../../src/transport/cluster-id.js";

const book: AddressBook = {
  clusterId: newClusterId(),
  members: [
    { id: 1, raft: "127.0.0.1:7001" },
    { id: 2, raft: "[::1]:7002" },
  ],
};

/** A state machine holding one byte string. */
class Bytes implements StateMachine {
  data = new Uint8Array(0);
  apply(): unknown {
    return undefined;
  }
  snapshot(): Uint8Array {
    return this.data.slice();
  }
  restore(data: Uint8Array): void {
    this.data = data.slice();
  }
}

describe("address book", () => {
  it("round-trips through a conf entry context, and refuses malformed ones", () => {
    assert.deepEqual(decodeBook(encodeBook(book)), { ok: true, value: book });
    const bad = [
      "not json",
      JSON.stringify({ v: 2, cluster: null, members: [] }),
      JSON.stringify({ v: 1, cluster: "12", members: [] }),
      JSON.stringify({ v: 1, cluster: null, members: [[0, "a:1"]] }),
      JSON.stringify({ v: 1, cluster: null, members: [[1, "no port"]] }),
      JSON.stringify({
        v: 1,
        cluster: null,
        members: [
          [1, "a:1"],
          [1, "b:1"],
        ],
      }),
    ];
    for (const text of bad) {
      const r = decodeBook(new TextEncoder().encode(text));
      assert.equal(r.ok, false, text);
    }
  });

  it("the bootstrap entry holds the founders as voters and their addresses", () => {
    const e = bootstrapEntry(book.members);
    assert.deepEqual([e.index, e.term, e.type], [1, 1, "conf"]);
    const cc = decodeConfChangeEntry(e.data);
    assert.ok(cc.ok);
    assert.deepEqual(cc.value.conf, simpleConf([1, 2]));
    assert.deepEqual(decodeBook(cc.value.context), {
      ok: true,
      value: { clusterId: null, members: book.members },
    });
    // Every founder writes the same bytes: the logs agree at index 1.
    assert.deepEqual(bootstrapEntry([...book.members].reverse()).data, e.data);
  });

  it("a snapshot envelope carries the book; one without it passes through; a damaged one is refused", () => {
    const app = new Uint8Array([0x93, 1, 2, 3]);
    const wrapped = wrapSnapshot(book, app);
    const u = unwrapSnapshot(wrapped);
    assert.ok(u.ok);
    assert.deepEqual(u.value.book, book);
    assert.deepEqual([...u.value.app], [...app]);
    const old = unwrapSnapshot(app);
    assert.ok(old.ok);
    assert.equal(old.value.book, null);
    assert.equal(old.value.app, app);
    assert.equal(unwrapSnapshot(wrapped.subarray(0, 12)).ok, false);
    const version = wrapped.slice();
    version[4] = 9;
    assert.equal(unwrapSnapshot(version).ok, false);
  });

  it("applied conf entries and restored snapshots move the book, and it drops removed members", () => {
    const m = new Membership({ clusterId: null, members: [] });
    const views: AddressBook[] = [];
    m.onChange((v) => views.push(v.book));
    m.applyConfEntry(bootstrapEntry(book.members));
    assert.equal(m.address(2), "[::1]:7002");
    // The core's own leave-joint entry has no context: the book keeps its addresses.
    const leave = encodeConfChangeEntry({
      changes: [],
      transition: "auto",
      context: new Uint8Array(0),
      conf: simpleConf([1]),
    });
    m.applyConfEntry({ index: 2, term: 1, type: "conf", data: leave });
    assert.deepEqual(m.current().members, [{ id: 1, raft: "127.0.0.1:7001" }]);
    assert.equal(views.length, 2);

    const sm = new Bytes();
    sm.data = new Uint8Array([7, 7]);
    const snap = m.wrap(sm).snapshot();
    const other = new Membership({ clusterId: null, members: [] });
    const target = new Bytes();
    other.wrap(target).restore(snap);
    assert.deepEqual([...target.data], [7, 7], "the application gets its own bytes back");
    assert.deepEqual(other.current(), m.current());
  });

  it("remembers the ids a change removed until one adds them back, and carries them", () => {
    const m = new Membership({ clusterId: null, members: [] });
    m.applyConfEntry(bootstrapEntry(book.members));
    const entry = (index: number, voters: number[], members: AddressBook["members"]) => ({
      index,
      term: 2,
      type: "conf" as const,
      data: encodeConfChangeEntry({
        changes: [],
        transition: "auto",
        context: encodeBook({ clusterId: null, members }),
        conf: simpleConf(voters),
      }),
    });
    m.applyConfEntry(entry(2, [1], [{ id: 1, raft: "127.0.0.1:7001" }]));
    assert.deepEqual(m.current().removed, [2]);
    const restored = new Membership({ clusterId: null, members: [] });
    restored.wrap(new Bytes()).restore(m.wrap(new Bytes()).snapshot());
    assert.deepEqual(restored.current().removed, [2], "a snapshot carries the removed ids");
    m.applyConfEntry(entry(3, [1, 2], book.members));
    assert.equal(m.current().removed, undefined, "added back");
  });

  it("afterAdvance resolves only once the core advanced past the conf entry", async () => {
    const m = new Membership({ clusterId: null, members: [] });
    m.applyConfEntry(bootstrapEntry(book.members));
    let done = false;
    const p = m.afterAdvance(1).then(() => {
      done = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    m.advanced();
    await p;
    assert.equal(done, true);
    await m.afterAdvance(1);
  });
});
