/**
 * A small line-chart renderer that writes static SVG at report-build time, so the report needs no script or
 * charting library when it is viewed (and prints the same as it displays).
 */
import { escapeHtml } from './escape.js';

/** One data point: [x, y]. */
export type Point = readonly [number, number];

export interface ChartSeries {
  /** Name shown in the legend (and in the path's `data-series` attribute). */
  name: string;
  /**
   * Points in x order. A non-finite y (NaN, ±Infinity) or x breaks the line: the next finite point starts a new
   * piece, so missing values show as gaps instead of being bridged by a straight line.
   */
  points: readonly Point[];
  /** Any CSS colour; default: the series' colour in the categorical palette. */
  color?: string;
}

/** A vertical marker line, e.g. the first step of a training stage. */
export interface ChartMarker {
  x: number;
  label: string;
}

export interface LineChartArgs {
  /** Chart title (drawn at the top and used as the accessible name). */
  title: string;
  series: readonly ChartSeries[];
  /** Vertical marker lines with a label at the top of the plot. */
  markers?: readonly ChartMarker[];
  /** Width in pixels of the SVG viewport (default 480). */
  width?: number;
  /** Height in pixels of the plot area plus axes (default 240; the legend adds rows below). */
  height?: number;
  /** Caption under the x axis. */
  xLabel?: string;
  /** Caption beside the y axis. */
  yLabel?: string;
  /** Fixed x range; default: the data's (and markers') extent. */
  xDomain?: [number, number];
  /** Fixed y range (e.g. [0, 1] for IoU); default: the data's range widened to round tick values. */
  yDomain?: [number, number];
}

/** Where the plot area lies in the SVG and which data ranges its edges stand for. */
export interface ChartLayout {
  left: number;
  top: number;
  plotWidth: number;
  plotHeight: number;
  width: number;
  height: number;
  xDomain: [number, number];
  yDomain: [number, number];
}

/** Tableau-10: distinguishable, and still distinct when printed in grey scale by lightness. */
export const CHART_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const FONT = 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif';
const MARGIN = { top: 30, right: 14, bottom: 38, left: 58 };
const LEGEND_ROW = 16;
/** Height of the two rows of marker labels above the plot. */
const MARKER_BAND = 24;

export class LineChart {
  readonly layout: ChartLayout;
  private readonly args: LineChartArgs;
  private readonly legendRows: { name: string; color: string; x: number; row: number }[];

  constructor(args: LineChartArgs) {
    this.args = args;
    const width = args.width ?? 480;
    const baseHeight = args.height ?? 240;
    this.legendRows = legendLayout(args.series, width - MARGIN.left - MARGIN.right);
    const rows = this.legendRows.length ? Math.max(...this.legendRows.map((r) => r.row)) + 1 : 0;
    const left = MARGIN.left + (args.yLabel ? 14 : 0);
    // Marker labels get their own band above the plot so they never cover the lines.
    const top = MARGIN.top + (args.markers?.length ? MARKER_BAND : 0);
    const bottom = MARGIN.bottom + (args.xLabel ? 14 : 0);
    const finite = args.series.flatMap((s) => s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])));
    const xs = [...finite.map((p) => p[0]), ...(args.markers ?? []).map((m) => m.x).filter(Number.isFinite)];
    const ys = finite.map((p) => p[1]);
    const xDomain = args.xDomain ?? widen(extent(xs), 'x');
    let yDomain = args.yDomain;
    if (!yDomain) {
      const [lo, hi] = widen(extent(ys), 'y');
      const step = tickStep(lo, hi, 5);
      yDomain = [Math.floor(lo / step) * step, Math.ceil(hi / step) * step];
    }
    this.layout = {
      left,
      top,
      plotWidth: width - left - MARGIN.right,
      plotHeight: baseHeight - top - bottom,
      width,
      height: baseHeight + rows * LEGEND_ROW + (rows ? 6 : 0),
      xDomain,
      yDomain,
    };
  }

  /** Pixel x of a data x. */
  x(v: number): number {
    const { left, plotWidth, xDomain } = this.layout;
    return left + ((v - xDomain[0]) / (xDomain[1] - xDomain[0])) * plotWidth;
  }

  /** Pixel y of a data y (SVG y grows downwards). */
  y(v: number): number {
    const { top, plotHeight, yDomain } = this.layout;
    return top + plotHeight - ((v - yDomain[0]) / (yDomain[1] - yDomain[0])) * plotHeight;
  }

  /** The chart as one `<svg>` element (no XML prolog: it is meant to be inlined into HTML). */
  render(): string {
    const a = this.args;
    const L = this.layout;
    const bottomY = L.top + L.plotHeight;
    const rightX = L.left + L.plotWidth;
    const out: string[] = [];
    out.push(
      `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${L.width} ${L.height}" width="${L.width}" height="${L.height}" role="img" aria-label="${escapeHtml(a.title)}" font-family="${FONT}" font-size="11">`,
      `<title>${escapeHtml(a.title)}</title>`,
      `<text class="chart-title" x="${L.left}" y="16" font-size="13" font-weight="600" fill="#222">${escapeHtml(a.title)}</text>`,
    );
    // Grid and y ticks.
    const yStep = tickStep(L.yDomain[0], L.yDomain[1], 5);
    const yTicks = ticks(L.yDomain[0], L.yDomain[1], yStep);
    out.push('<g class="y-axis">');
    for (const t of yTicks) {
      const py = fmt(this.y(t));
      out.push(
        `<line x1="${L.left}" x2="${rightX}" y1="${py}" y2="${py}" stroke="#e4e4e4" stroke-width="1"/>`,
        `<text x="${L.left - 6}" y="${py}" dy="0.32em" text-anchor="end" fill="#555">${escapeHtml(formatTick(t, yStep))}</text>`,
      );
    }
    out.push('</g>');
    const xStep = tickStep(L.xDomain[0], L.xDomain[1], Math.max(2, Math.round(L.plotWidth / 80)));
    const xTicks = ticks(L.xDomain[0], L.xDomain[1], xStep);
    out.push('<g class="x-axis">');
    for (const t of xTicks) {
      const px = fmt(this.x(t));
      out.push(
        `<line x1="${px}" x2="${px}" y1="${bottomY}" y2="${bottomY + 4}" stroke="#888"/>`,
        `<text x="${px}" y="${bottomY + 16}" text-anchor="middle" fill="#555">${escapeHtml(formatTick(t, xStep))}</text>`,
      );
    }
    out.push('</g>');
    out.push(
      `<path class="axes" d="M${L.left},${L.top}V${bottomY}H${rightX}" fill="none" stroke="#888" stroke-width="1"/>`,
    );
    if (a.xLabel) {
      out.push(`<text class="x-label" x="${fmt(L.left + L.plotWidth / 2)}" y="${bottomY + 32}" text-anchor="middle" fill="#333">${escapeHtml(a.xLabel)}</text>`);
    }
    if (a.yLabel) {
      const cy = fmt(L.top + L.plotHeight / 2);
      out.push(`<text class="y-label" x="12" y="${cy}" transform="rotate(-90 12 ${cy})" text-anchor="middle" fill="#333">${escapeHtml(a.yLabel)}</text>`);
    }
    out.push(this.renderMarkers());
    out.push(this.renderSeries());
    out.push(this.renderLegend(bottomY + (a.xLabel ? 52 : 36)));
    if (!a.series.some((s) => s.points.some((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])))) {
      out.push(`<text class="no-data" x="${fmt(L.left + L.plotWidth / 2)}" y="${fmt(L.top + L.plotHeight / 2)}" text-anchor="middle" fill="#999" font-size="13">no data</text>`);
    }
    out.push('</svg>');
    return out.join('');
  }

  private renderMarkers(): string {
    const L = this.layout;
    const parts: string[] = ['<g class="markers">'];
    const rowEnd = [-Infinity, -Infinity];
    for (const m of this.args.markers ?? []) {
      if (!Number.isFinite(m.x) || m.x < L.xDomain[0] || m.x > L.xDomain[1]) continue;
      const px = this.x(m.x);
      parts.push(`<line class="marker" x1="${fmt(px)}" x2="${fmt(px)}" y1="${L.top}" y2="${L.top + L.plotHeight}" stroke="#999" stroke-dasharray="4 3" stroke-width="1"/>`);
      // Labels of close markers would overlap: use the second row, as a legend would. A label that would run
      // past the right edge is moved left just enough to fit.
      const w = textWidth(m.label, 10);
      const start = Math.max(0, Math.min(px + 3, L.width - 4 - w));
      const row = start >= rowEnd[0]! ? 0 : start >= rowEnd[1]! ? 1 : 0;
      rowEnd[row] = start + w + 4;
      parts.push(
        `<text class="marker-label" x="${fmt(start)}" y="${L.top - 15 + row * 11}" font-size="10" fill="#666">${escapeHtml(m.label)}</text>`,
      );
    }
    parts.push('</g>');
    return parts.join('');
  }

  private renderSeries(): string {
    const parts: string[] = ['<g class="series">'];
    this.args.series.forEach((s, i) => {
      const color = s.color ?? CHART_COLORS[i % CHART_COLORS.length]!;
      // More points than pixel columns add bytes, not detail: keep each column's extremes (see decimate).
      const pieces = splitFinite(s.points).map((piece) => decimate(piece, (x) => this.x(x), this.layout.plotWidth));
      const n = pieces.reduce((k, p) => k + p.length, 0);
      const d = pieces.map((piece) => piece.map((p, j) => `${j === 0 ? 'M' : 'L'}${fmt(this.x(p[0]))},${fmt(this.y(p[1]))}`).join('')).join('');
      parts.push(
        `<path class="line" data-series="${escapeHtml(s.name)}" data-points="${n}" d="${d}" fill="none" stroke="${escapeHtml(color)}" stroke-width="1.6" stroke-linejoin="round" stroke-linecap="round"/>`,
      );
      // A piece of one point has no length, so a stroke alone would not show it.
      for (const piece of pieces) {
        if (piece.length === 1) {
          parts.push(`<circle class="dot" cx="${fmt(this.x(piece[0]![0]))}" cy="${fmt(this.y(piece[0]![1]))}" r="2.5" fill="${escapeHtml(color)}"/>`);
        }
      }
    });
    parts.push('</g>');
    return parts.join('');
  }

  private renderLegend(y0: number): string {
    if (this.legendRows.length === 0) return '';
    const parts: string[] = ['<g class="legend">'];
    for (const item of this.legendRows) {
      const x = this.layout.left + item.x;
      const y = y0 + item.row * LEGEND_ROW;
      parts.push(
        `<line x1="${fmt(x)}" x2="${fmt(x + 16)}" y1="${y - 4}" y2="${y - 4}" stroke="${escapeHtml(item.color)}" stroke-width="2.5"/>`,
        `<text x="${fmt(x + 20)}" y="${y}" fill="#333">${escapeHtml(item.name)}</text>`,
      );
    }
    parts.push('</g>');
    return parts.join('');
  }
}

/** Builds a line chart; `lineChart(args).render()` is the SVG text. */
export function lineChart(args: LineChartArgs): LineChart {
  return new LineChart(args);
}

/** The runs of consecutive points with finite x and y. */
export function splitFinite(points: readonly Point[]): Point[][] {
  const pieces: Point[][] = [];
  let cur: Point[] = [];
  for (const p of points) {
    if (Number.isFinite(p[0]) && Number.isFinite(p[1])) cur.push(p);
    else if (cur.length) {
      pieces.push(cur);
      cur = [];
    }
  }
  if (cur.length) pieces.push(cur);
  return pieces;
}

/**
 * Thins a piece of line that has more than two points per pixel column: per column it keeps the first and last
 * point and the lowest and highest, in x order, so spikes (a diverging loss) stay visible at full height.
 */
export function decimate(points: Point[], toPixel: (x: number) => number, columns: number): Point[] {
  if (points.length <= 2 * Math.max(1, columns)) return points;
  const out: Point[] = [];
  let start = 0;
  while (start < points.length) {
    const col = Math.floor(toPixel(points[start]![0]));
    let end = start;
    while (end + 1 < points.length && Math.floor(toPixel(points[end + 1]![0])) === col) end++;
    let lo = start;
    let hi = start;
    for (let i = start; i <= end; i++) {
      if (points[i]![1] < points[lo]![1]) lo = i;
      if (points[i]![1] > points[hi]![1]) hi = i;
    }
    for (const i of [...new Set([start, lo, hi, end])].sort((a, b) => a - b)) out.push(points[i]!);
    start = end + 1;
  }
  return out;
}

/** A round tick spacing (1, 2 or 5 × 10^k) giving about `count` intervals over [lo, hi]. */
export function tickStep(lo: number, hi: number, count: number): number {
  const raw = (hi - lo) / Math.max(1, count);
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/** Multiples of `step` inside [lo, hi] (with a tolerance so rounded domain ends are included). */
export function ticks(lo: number, hi: number, step: number): number[] {
  const out: number[] = [];
  const eps = step * 1e-9;
  const first = Math.ceil((lo - eps) / step);
  const last = Math.floor((hi + eps) / step);
  for (let k = first; k <= last && out.length < 100; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

/** Tick text: plain decimals with as many places as the step needs; exponents for tiny or huge values. */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  if (Math.abs(step) < 1e-3 || Math.abs(v) >= 1e6) {
    const [m, e] = Number(v.toPrecision(3)).toExponential().split('e');
    return `${m}e${Number(e)}`;
  }
  const places = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  return v.toFixed(places);
}

function extent(values: number[]): [number, number] | null {
  if (values.length === 0) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** A range with room: [0, 1] for no data, and a non-zero span around a single value. */
function widen(e: [number, number] | null, axis: 'x' | 'y'): [number, number] {
  if (!e) return [0, 1];
  const [lo, hi] = e;
  if (hi > lo) return [lo, hi];
  if (axis === 'x') return [lo - 1, hi + 1];
  const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
  return [lo - d, hi + d];
}

/** Pixel coordinates to two decimals: exact enough on screen and keeps the file small. */
function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** An estimate of text width (no font metrics at build time; generous so labels do not collide). */
function textWidth(text: string, fontSize: number): number {
  return text.length * fontSize * 0.64;
}

/** Legend entries flowed left to right, wrapping to a new row when the plot width is used up. */
function legendLayout(series: readonly ChartSeries[], maxWidth: number): { name: string; color: string; x: number; row: number }[] {
  const items: { name: string; color: string; x: number; row: number }[] = [];
  let x = 0;
  let row = 0;
  series.forEach((s, i) => {
    const w = 20 + textWidth(s.name, 11) + 14;
    if (x > 0 && x + w > maxWidth) {
      row++;
      x = 0;
    }
    items.push({ name: s.name, color: s.color ?? CHART_COLORS[i % CHART_COLORS.length]!, x, row });
    x += w;
  });
  return items;
}
