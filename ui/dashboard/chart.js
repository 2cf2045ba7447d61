// @ts-check
// A small time-series chart on a canvas: up to two lines over a fixed span ending now, a zero
// line, the peak labelled. The dashboard draws one per metric each second; the canvas's
// aria-label carries what a sighted reader takes from it (latest value and peak).

/**
 * @typedef {object} Series
 * @property {string} label
 * @property {string} color
 * @property {(s: any) => number | null} value  null: no data for that second (a gap)
 */

const FONT = '11px system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif';
const PAD = { left: 6, right: 6, top: 16, bottom: 14 };

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ title: string, unit: string, spanMs: number, series: Series[], format: (v: number) => string }} opts
   */
  constructor(canvas, opts) {
    this.canvas = canvas;
    this.opts = opts;
    /** @type {{ t: number }[]} */
    this.samples = [];
    this.now = 0;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /**
   * @param {{ t: number }[]} samples oldest first
   * @param {number} now the end of the span (ms since the epoch)
   */
  update(samples, now) {
    this.samples = samples;
    this.now = now;
    this.draw();
    this.describe();
  }

  /** @param {number} ms the span the chart shows, ending now */
  setSpan(ms) {
    this.opts.spanMs = ms;
    this.draw();
    this.describe();
  }

  describe() {
    const { title, series, format, unit } = this.opts;
    const last = this.samples.at(-1);
    if (!last) {
      this.canvas.setAttribute("aria-label", `${title}: no data yet`);
      return;
    }
    const parts = series.map((s) => {
      const v = s.value(last);
      const peak = this.peak(s);
      return `${s.label} ${v === null ? "none" : format(v)}${unit} now, peak ${format(peak)}${unit}`;
    });
    const span = spanText(this.opts.spanMs);
    this.canvas.setAttribute("aria-label", `${title}, last ${span}: ${parts.join("; ")}`);
  }

  /** @param {Series} s */
  peak(s) {
    let max = 0;
    const from = this.now - this.opts.spanMs;
    for (const x of this.samples) if (x.t >= from) max = Math.max(max, s.value(x) ?? 0);
    return max;
  }

  draw() {
    const { canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const hgt = canvas.clientHeight;
    if (w === 0 || hgt === 0) return;
    if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
    if (canvas.height !== Math.round(hgt * dpr)) canvas.height = Math.round(hgt * dpr);
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    ctx.font = FONT;

    const { spanMs, series, format, unit } = this.opts;
    const peak = Math.max(...series.map((s) => this.peak(s)));
    const top = niceCeil(peak);
    const x0 = PAD.left;
    const x1 = w - PAD.right;
    const y0 = hgt - PAD.bottom;
    const y1 = PAD.top;
    const xOf = (/** @type {number} */ t) => x1 - ((this.now - t) / spanMs) * (x1 - x0);
    const yOf = (/** @type {number} */ v) => y0 - (v / top) * (y0 - y1);

    // Grid: zero and the top, labelled.
    ctx.strokeStyle = "#d5dae1";
    ctx.lineWidth = 1;
    for (const v of [0, top / 2, top]) {
      ctx.beginPath();
      ctx.moveTo(x0, Math.round(yOf(v)) + 0.5);
      ctx.lineTo(x1, Math.round(yOf(v)) + 0.5);
      ctx.stroke();
    }
    ctx.fillStyle = "#515b6b";
    ctx.textBaseline = "bottom";
    ctx.textAlign = "left";
    ctx.fillText(`${format(top)}${unit}`, x0 + 2, y1 - 2);
    ctx.textBaseline = "top";
    ctx.fillText(`−${spanText(spanMs)}`, x0 + 2, y0 + 1);
    ctx.textAlign = "right";
    ctx.fillText("now", x1 - 2, y0 + 1);

    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 1.75;
      ctx.beginPath();
      /** @type {{ x: number, y: number }[]} */
      let run = [];
      // A second with data between two without is a dot: a line needs two points.
      const end = () => {
        const [only] = run;
        if (run.length === 1 && only) ctx.fillRect(only.x - 1.5, only.y - 1.5, 3, 3);
        run = [];
      };
      for (const sample of this.samples) {
        const v = s.value(sample);
        const x = xOf(sample.t);
        if (v === null || x < x0) {
          end();
          continue;
        }
        if (run.length > 0) ctx.lineTo(x, yOf(v));
        else ctx.moveTo(x, yOf(v));
        run.push({ x, y: yOf(v) });
      }
      end();
      ctx.stroke();
    }
  }
}

/** @param {number} ms */
export function spanText(ms) {
  const min = ms / 60_000;
  return min >= 1 ? `${min} minute${min === 1 ? "" : "s"}` : `${ms / 1000} s`;
}

/**
 * The smallest of 1, 2, 5 times a power of ten at or above v (1 for nothing at all).
 * @param {number} v
 */
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
