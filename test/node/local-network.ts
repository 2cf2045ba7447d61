// An in-process network of Transport endpoints on real time: each message is cloned (as the
// wire would) and delivered on a later turn of the event loop. Nodes can be cut off and healed.
import type { Message, NodeId } from "../../src/raft/types.js";
import type { Transport } from "../../src/transport/transport.js";

export class LocalNetwork {
  private readonly handlers = new Map<NodeId, (m: Message) => void>();
  private readonly cut = new Set<NodeId>();

  transport(id: NodeId): Transport {
    return {
      id,
      send: (m) => this.deliver(m),
      onMessage: (h) => {
        this.handlers.set(id, h);
      },
      // Nodes here are stopped, never killed: no connection is ever lost abruptly.
      onPeerLost: () => {},
      close: async () => {
        this.handlers.delete(id);
      },
    };
  }

  /** Drops every message from or to `id` until heal(). */
  isolate(id: NodeId): void {
    this.cut.add(id);
  }

  heal(): void {
    this.cut.clear();
  }

  private deliver(m: Message): void {
    if (this.cut.has(m.from) || this.cut.has(m.to)) return;
    const copy = structuredClone(m);
    setImmediate(() => {
      if (this.cut.has(m.from) || this.cut.has(m.to)) return;
      this.handlers.get(m.to)?.(copy);
    });
  }
}
