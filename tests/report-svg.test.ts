/** The report's SVG line chart: axes, scaling, ticks, NaN gaps, one point, empty input, escaping. */
import { describe, expect, test } from 'vitest';
import { escapeHtml } from '../runtime/report/escape.js';
import { decimate, formatTick, lineChart, splitFinite, tickStep, ticks } from '../runtime/report/svg.js';

/** Every `M`/`L` coordinate pair of a path, grouped by sub-path. */
function parsePath(d: string): [number, number][][] {
  const pieces: [number, number][][] = [];
  for (const m of d.matchAll(/([ML])(-?[\d.]+),(-?[\d.]+)/g)) {
    const p: [number, number] = [Number(m[2]), Number(m[3])];
    if (m[1] === 'M') pieces.push([p]);
    else pieces[pieces.length - 1]!.push(p);
  }
  return pieces;
}

function seriesPaths(svg: string): { name: string; points: number; d: string }[] {
  return [...svg.matchAll(/<path class="line" data-series="([^"]*)" data-points="(\d+)" d="([^"]*)"/g)].map((m) => ({
    name: m[1]!,
    points: Number(m[2]),
    d: m[3]!,
  }));
}

/** The plot frame from the axes path `M left,top V bottom H right`. */
function frame(svg: string): { left: number; top: number; bottom: number; right: number } {
  const m = /<path class="axes" d="M(-?[\d.]+),(-?[\d.]+)V(-?[\d.]+)H(-?[\d.]+)"/.exec(svg)!;
  return { left: Number(m[1]), top: Number(m[2]), bottom: Number(m[3]), right: Number(m[4]) };
}

describe('scaling and axes', () => {
  test('data corners map onto the axes frame, interior points linearly between', () => {
    const svg = lineChart({
      title: 't',
      xDomain: [0, 10],
      yDomain: [0, 2],
      series: [{ name: 's', points: [[0, 0], [2.5, 0.5], [10, 2], [5, 1.5]] }],
    }).render();
    const f = frame(svg);
    const [pts] = parsePath(seriesPaths(svg)[0]!.d);
    const W = f.right - f.left;
    const H = f.bottom - f.top;
    const expected = [
      [f.left, f.bottom],
      [f.left + 0.25 * W, f.bottom - 0.25 * H],
      [f.right, f.top],
      [f.left + 0.5 * W, f.bottom - 0.75 * H],
    ];
    expect(pts).toHaveLength(4);
    pts!.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(expected[i]![0]!, 1);
      expect(p[1]).toBeCloseTo(expected[i]![1]!, 1);
    });
  });

  test('an automatic y range is widened to round ticks and labelled', () => {
    const chart = lineChart({ title: 't', series: [{ name: 's', points: [[0, 0.13], [1, 0.87]] }] });
    expect(chart.layout.yDomain).toEqual([0, 1]);
    expect(chart.layout.xDomain).toEqual([0, 1]);
    const svg = chart.render();
    const yLabels = [...svg.split('<g class="y-axis">')[1]!.split('</g>')[0]!.matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(yLabels).toEqual(['0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    const xLabels = [...svg.split('<g class="x-axis">')[1]!.split('</g>')[0]!.matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(xLabels[0]).toBe('0');
    expect(xLabels[xLabels.length - 1]).toBe('1.0');
  });

  test('markers are drawn at their x with an escaped label', () => {
    const chart = lineChart({
      title: 't',
      xDomain: [0, 100],
      yDomain: [0, 1],
      series: [{ name: 's', points: [[0, 0.5], [100, 0.5]] }],
      markers: [{ x: 0, label: 'Base' }, { x: 40, label: 'Base+<Class>' }],
    });
    const svg = chart.render();
    const f = frame(svg);
    const xs = [...svg.matchAll(/<line class="marker" x1="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(xs[0]).toBeCloseTo(f.left, 1);
    expect(xs[1]).toBeCloseTo(f.left + 0.4 * (f.right - f.left), 1);
    expect(svg).toContain('>Base+&lt;Class&gt;</text>');
  });
});

describe('gaps and degenerate input', () => {
  test('non-finite values split the line into pieces instead of bridging them', () => {
    const pts: [number, number][] = [[0, 1], [1, 2], [2, NaN], [3, 4], [4, Infinity], [5, 5], [6, 6], [7, 7]];
    expect(splitFinite(pts).map((p) => p.length)).toEqual([2, 1, 3]);
    const svg = lineChart({ title: 't', series: [{ name: 's', points: pts }] }).render();
    const [path] = seriesPaths(svg);
    expect(path!.points).toBe(6);
    expect(parsePath(path!.d).map((p) => p.length)).toEqual([2, 1, 3]);
    // The isolated point has no line length, so it is drawn as a dot.
    expect(svg.match(/<circle class="dot"/g)).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  test('a single point gets a non-degenerate range and a visible dot', () => {
    const chart = lineChart({ title: 't', series: [{ name: 's', points: [[5, 0.25]] }] });
    const [x0, x1] = chart.layout.xDomain;
    const [y0, y1] = chart.layout.yDomain;
    expect(x1).toBeGreaterThan(x0);
    expect(y1).toBeGreaterThan(y0);
    expect(x0 < 5 && 5 < x1 && y0 < 0.25 && 0.25 < y1).toBe(true);
    const svg = chart.render();
    expect(seriesPaths(svg)[0]!.points).toBe(1);
    expect(svg.match(/<circle class="dot"/g)).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  test('no series, or series without finite points, draw axes and say "no data"', () => {
    for (const series of [[], [{ name: 'a', points: [] }], [{ name: 'b', points: [[1, NaN], [2, NaN]] as [number, number][] }]]) {
      const svg = lineChart({ title: 'empty', series }).render();
      expect(svg).toContain('class="axes"');
      expect(svg).toContain('>no data</text>');
      expect(svg).not.toMatch(/NaN|Infinity/);
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.endsWith('</svg>')).toBe(true);
    }
  });

  test('a constant series gets a range around its value', () => {
    const chart = lineChart({ title: 't', series: [{ name: 's', points: [[0, 3], [1, 3], [2, 3]] }] });
    const [y0, y1] = chart.layout.yDomain;
    expect(y0).toBeLessThan(3);
    expect(y1).toBeGreaterThan(3);
    const [piece] = parsePath(seriesPaths(chart.render())[0]!.d);
    expect(new Set(piece!.map((p) => p[1])).size).toBe(1);
  });
});

describe('long series', () => {
  test('more points than pixel columns are thinned, keeping each column\'s extremes and the ends', () => {
    const n = 20000;
    const pts: [number, number][] = Array.from({ length: n }, (_, i) => [i, Math.sin(i / 300) + (i === 12345 ? 8 : 0) - (i === 777 ? 5 : 0)]);
    const chart = lineChart({ title: 't', series: [{ name: 's', points: pts }] });
    const svg = chart.render();
    const [path] = seriesPaths(svg);
    const [piece] = parsePath(path!.d);
    expect(piece!.length).toBe(path!.points);
    expect(piece!.length).toBeLessThanOrEqual(4 * chart.layout.plotWidth + 4);
    expect(piece!.length).toBeGreaterThan(chart.layout.plotWidth);
    const ys = piece!.map((p) => p[1]);
    // The spike and the dip survive at full height.
    expect(Math.min(...ys)).toBeCloseTo(chart.y(Math.sin(12345 / 300) + 8), 1);
    expect(Math.max(...ys)).toBeCloseTo(chart.y(Math.sin(777 / 300) - 5), 1);
    expect(piece![0]![0]).toBeCloseTo(chart.x(0), 1);
    expect(piece![piece!.length - 1]![0]).toBeCloseTo(chart.x(n - 1), 1);
    // x order is kept.
    for (let i = 1; i < piece!.length; i++) expect(piece![i]![0]).toBeGreaterThanOrEqual(piece![i - 1]![0]);
  });
  test('short pieces are left alone', () => {
    const pts: [number, number][] = [[0, 1], [1, 5], [2, 3]];
    expect(decimate(pts, (x) => x, 10)).toBe(pts);
    // Three points in one column: first, lowest, highest and last are all of them.
    expect(decimate(pts, (x) => x * 0.01, 1)).toEqual(pts);
  });
});

describe('ticks', () => {
  test('round steps of 1, 2, 5 × 10^k', () => {
    expect(tickStep(0, 1, 5)).toBeCloseTo(0.2, 12);
    expect(tickStep(0, 80, 4)).toBe(20);
    expect(tickStep(0, 3, 5)).toBeCloseTo(1, 12);
    expect(tickStep(0, 0.00011, 5)).toBeCloseTo(5e-5, 15);
    expect(tickStep(0, 7000, 5)).toBe(2000);
  });
  test('tick values avoid floating-point dust and include the ends', () => {
    expect(ticks(0, 1, 0.1)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(ticks(-0.3, 0.3, 0.2)).toEqual([-0.2, 0, 0.2]);
  });
  test('labels: decimals by step, exponents for learning rates', () => {
    expect(formatTick(0.4, 0.2)).toBe('0.4');
    expect(formatTick(0.25, 0.05)).toBe('0.25');
    expect(formatTick(40, 20)).toBe('40');
    expect(formatTick(2e-5, 1e-5)).toBe('2e-5');
    expect(formatTick(1.5e-4, 5e-5)).toBe('1.5e-4');
    expect(formatTick(0, 1e-5)).toBe('0');
  });
});

describe('escaping', () => {
  test('escapeHtml escapes markup and both quote kinds, drops control characters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&amp;</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
    expect(escapeHtml('a\u0000b\u0007c\td\ne')).toBe('abc\td\ne');
    expect(escapeHtml(42)).toBe('42');
  });
  test('titles, series names and colours are escaped in the SVG', () => {
    const svg = lineChart({
      title: '<script>alert(1)</script>',
      xLabel: 'a & b',
      series: [{ name: `"q" <x>`, points: [[0, 1], [1, 2]], color: '"><script>' }, { name: 'ok', points: [] }],
    }).render();
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(svg).toContain('data-series="&quot;q&quot; &lt;x&gt;"');
    expect(svg).toContain('>a &amp; b</text>');
  });
});
