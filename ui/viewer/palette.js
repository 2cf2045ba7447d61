// @ts-check
// Colours and line styles of the space-time diagram, shared by the canvas and the legend.
// Request/response pairs share a hue (the response lighter). Role colours fill each node's
// timeline bar; text is drawn beside them, in the text colour, never on them.

/** @type {Record<string, string>} */
export const MESSAGE_COLORS = {
  prevote: "#7b52b9",
  "prevote-resp": "#a98bd6",
  vote: "#c76a12",
  "vote-resp": "#e09a55",
  app: "#1f63b0",
  "app-resp": "#6c9fd8",
  heartbeat: "#5d6675",
  "heartbeat-resp": "#98a0ac",
  snap: "#1b8a57",
  "timeout-now": "#c2336f",
  unknown: "#333333",
};

/** @type {Record<string, string>} */
export const ROLE_COLORS = {
  follower: "#b9c2ce",
  precandidate: "#e6cb5c",
  candidate: "#ee9a3a",
  leader: "#2f9e5b",
};

/** Short names for the role strip. */
/** @type {Record<string, string>} */
export const ROLE_SHORT = {
  follower: "",
  precandidate: "pre-cand.",
  candidate: "candidate",
  leader: "leader",
};

/** Tints of the sides of a partition (lane backgrounds). */
export const GROUP_TINTS = [
  "rgba(31, 99, 176, 0.13)",
  "rgba(199, 106, 18, 0.15)",
  "rgba(27, 138, 87, 0.15)",
  "rgba(123, 82, 185, 0.15)",
  "rgba(194, 51, 111, 0.13)",
];

export const COLORS = {
  text: "#1c2330",
  muted: "#515b6b",
  grid: "#e6e9ee",
  laneLine: "#9aa3b0",
  down: "#4a5260",
  paused: "#5b8fd0",
  cutHatch: "rgba(179, 38, 30, 0.35)",
  crash: "#b3261e",
  start: "#1d7a45",
  timer: "#8a93a0",
  sync: "#8a93a0",
  apply: "#13807a",
  restore: "#7b52b9",
  peerLost: "#c76a12",
  transfer: "#c2336f",
  disk: "#7a4a12",
  commit: "#1d7a45",
  violation: "#d0211a",
  selection: "#111111",
  opOk: "#1d7a45",
  opFail: "#8a93a0",
  opTimeout: "#b07800",
  dropX: "#b3261e",
  aggregate: "rgba(31, 99, 176, 0.55)",
  aggregateDrop: "rgba(179, 38, 30, 0.6)",
};

/** Line dash patterns: dropped messages dashed, duplicate copies dotted. */
export const DASH = {
  delivered: [],
  dropped: [6, 3],
  dup: [1.5, 2.5],
};
