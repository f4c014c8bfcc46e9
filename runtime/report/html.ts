/**
 * Renders a run as one self-contained HTML page: inline CSS, charts as inline SVG drawn here, sample overlays as
 * data URIs, no scripts and no network access when it is viewed.
 */
import type { StepRecord, ValidationRecord, ValidationResult } from '../train/index.js';
import { protocolCell } from '../train/summary.js';
import { escapeHtml } from './escape.js';
import { classPalette, rgbHex } from '../io/palette.js';
import { loadRunData, type RunData, type RunStage } from './run-data.js';
import { lineChart, type ChartMarker, type ChartSeries, type Point } from './svg.js';

export { loadRunData };

/** Extra metrics with a fixed column in the stage table, in the paper's order. */
const KNOWN_EXTRAS: { key: string; title: string }[] = [
  { key: 'class_acc', title: 'Class acc.' },
  { key: 'scene_acc', title: 'Scene acc.' },
];

/** The whole report page. */
export function renderReport(run: RunData): string {
  const title = `Training report${run.facts.specName ? ` — ${run.facts.specName}` : ''}`;
  const body = [
    `<header><h1>${escapeHtml(title)}</h1><p class="run-dir">${escapeHtml(run.runDir)}</p></header>`,
    renderFacts(run),
    renderWarnings(run.warnings),
    renderProtocolTable(run),
    renderStageTable(run),
    renderCharts(run),
    renderClassTable(run),
    renderSamples(run),
    `<footer>Written by tdc report${run.facts.tdcVersion ? ` (tdc ${escapeHtml(run.facts.tdcVersion)})` : ''}.</footer>`,
  ].join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

/** The global step of a record: stage offset + step within the stage. */
function globalStep(stages: Map<string, RunStage>, r: { stage: string; step: number }): number {
  return (stages.get(r.stage)?.offset ?? 0) + r.step;
}

function renderFacts(run: RunData): string {
  const f = run.facts;
  const rows: [string, string][] = [
    ['Spec', f.specName ?? 'unknown'],
    ['Spec file', f.specPath ?? '–'],
    ['Spec hash', f.hash ?? '–'],
    ['Backend', f.backend ?? 'unknown'],
    ['Status', f.message ? `${f.status} — ${f.message}` : f.status],
    ['Training time', f.durationSec === null ? '–' : formatDuration(f.durationSec)],
    ['Steps', `${f.steps}${run.stages.length ? ` over ${run.stages.length} stage${run.stages.length === 1 ? '' : 's'}` : ''}`],
    ['Started', f.startedAt ?? '–'],
    ['Last record', f.endedAt ?? '–'],
  ];
  if (f.best) rows.push(['Best checkpoint', `stage ${f.best.stage}, step ${f.best.step}: ${f.best.metric} ${fmt(f.best.value)}`]);
  const cls = f.status === 'completed' ? 'ok' : f.status === 'stopped' ? 'info' : 'bad';
  return `<section class="facts"><h2>Run</h2><dl>${rows
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd${k === 'Status' ? ` class="status ${cls}"` : ''}>${escapeHtml(v)}</dd>`)
    .join('')}</dl></section>`;
}

function renderWarnings(warnings: string[]): string {
  if (warnings.length === 0) return '';
  return `<section class="warnings"><h2>Warnings</h2><ul>${warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul></section>`;
}

/** The summary's stage rows scored by the paper's protocol (each stage's final weights), as the paper prints them. */
function renderProtocolTable(run: RunData): string {
  const stages = run.summary?.stages ?? [];
  const scored = stages.find((s) => s.scores)?.scores;
  if (!scored) return '';
  const head = ['Stage', 'Label', 'Steps', ...scored.columns.map((c) => c.label)];
  const body = stages.map((s) => {
    const cells = [s.name, s.label, String(s.steps)].map((t, i) => (i === 1 ? `<td><strong>${escapeHtml(t)}</strong></td>` : `<td>${escapeHtml(t)}</td>`));
    for (const c of scored.columns) cells.push(`<td class="num">${escapeHtml(protocolCell(s.scores?.metrics[c.key], c.format))}</td>`);
    return `<tr>${cells.join('')}</tr>`;
  });
  const note = stages.at(-1)?.scores?.note ?? scored.note;
  return `<section class="protocol"><h2>Stage scores (the paper's protocol, each stage's final weights)</h2><table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table><p class="hint">${escapeHtml(note)}</p></section>`;
}

function renderStageTable(run: RunData): string {
  const rows = run.stages.map((s) => {
    const done = run.summary?.stages.find((x) => x.name === s.name);
    if (done?.validation) return { stage: s, v: done.validation as ValidationResult, note: '' };
    const vals = run.validations.filter((v) => v.stage === s.name);
    const lastVal = vals[vals.length - 1];
    return { stage: s, v: lastVal ?? null, note: lastVal ? `unfinished: validation at step ${lastVal.step}` : s.loggedSteps > 0 ? 'unfinished' : 'not run' };
  });
  const extras = KNOWN_EXTRAS.filter((e) => rows.some((r) => r.v?.extra && e.key in r.v.extra));
  const others: string[] = [];
  for (const r of rows) for (const k of Object.keys(r.v?.extra ?? {})) if (!KNOWN_EXTRAS.some((e) => e.key === k) && !others.includes(k)) others.push(k);
  const head = ['Stage', 'Label', 'Steps', 'mIoU', 'mDice', ...extras.map((e) => e.title), ...others];
  const body = rows.map(({ stage, v, note }) => {
    const steps = stage.plannedSteps !== null && stage.loggedSteps !== stage.plannedSteps ? `${stage.loggedSteps} / ${stage.plannedSteps}` : String(stage.loggedSteps);
    const cells = [
      `<td>${escapeHtml(stage.name)}</td>`,
      `<td><strong>${escapeHtml(stage.label)}</strong>${note ? ` <span class="note">(${escapeHtml(note)})</span>` : ''}</td>`,
      `<td class="num">${escapeHtml(steps)}</td>`,
      numCell(v?.miou),
      numCell(v?.mdice),
      ...extras.map((e) => numCell(v?.extra?.[e.key])),
      ...others.map((k) => numCell(v?.extra?.[k])),
    ];
    return `<tr>${cells.join('')}</tr>`;
  });
  return `<section class="stages"><h2>Stages (training validation: network input size, pooled over the split)</h2>${
    rows.length === 0
      ? '<p class="empty">No stage in the log.</p>'
      : `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`
  }</section>`;
}

function renderCharts(run: RunData): string {
  const stages = new Map(run.stages.map((s) => [s.name, s]));
  const markers: ChartMarker[] = run.stages.filter((s) => s.loggedSteps > 0 || s.offset <= run.facts.steps).map((s) => ({ x: s.offset, label: s.label }));
  const steps = [...run.steps].sort((a, b) => globalStep(stages, a) - globalStep(stages, b));
  const terms: string[] = [];
  for (const r of steps) for (const t of Object.keys(r.terms)) if (!terms.includes(t)) terms.push(t);
  const xLabel = 'step (all stages)';
  const charts: string[] = [];
  const common = { markers, xLabel, width: 580, height: 280 };
  charts.push(lineChart({ ...common, title: 'Total loss', series: [{ name: 'total', points: stepSeries(steps, stages, (r) => r.total) }] }).render());
  terms.forEach((t, i) => {
    charts.push(
      lineChart({
        ...common,
        title: `Loss term: ${t}`,
        series: [{ name: t, points: stepSeries(steps, stages, (r) => r.terms[t] ?? NaN), color: SERIES_COLORS[(i + 1) % SERIES_COLORS.length] }],
      }).render(),
    );
  });
  charts.push(lineChart({ ...common, title: 'Learning rate', series: [{ name: 'lr', points: stepSeries(steps, stages, (r) => r.lr), color: '#59a14f' }] }).render());
  const vals = [...run.validations].sort((a, b) => globalStep(stages, a) - globalStep(stages, b));
  const valSeries: ChartSeries[] = [
    { name: 'mIoU', points: valPoints(vals, stages, (v) => v.miou) },
    { name: 'mDice', points: valPoints(vals, stages, (v) => v.mdice) },
  ];
  for (const e of KNOWN_EXTRAS) {
    if (vals.some((v) => v.extra && e.key in v.extra)) valSeries.push({ name: e.title, points: valPoints(vals, stages, (v) => v.extra?.[e.key] ?? NaN) });
  }
  charts.push(lineChart({ ...common, title: 'Validation', series: valSeries, yDomain: [0, 1] }).render());
  return `<section class="charts"><h2>Training curves</h2><p class="hint">Dashed lines mark where each stage starts; gaps separate stages.</p><div class="chart-grid">${charts
    .map((c) => `<figure class="chart-box">${c}</figure>`)
    .join('')}</div></section>`;
}

const SERIES_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#b07aa1', '#9c755f', '#edc948', '#ff9da7'];

/** Step records as points; a NaN point between stages so each stage is its own piece of line. */
function stepSeries(steps: StepRecord[], stages: Map<string, RunStage>, value: (r: StepRecord) => number): Point[] {
  const out: Point[] = [];
  let prev: string | null = null;
  for (const r of steps) {
    if (prev !== null && r.stage !== prev) out.push([NaN, NaN]);
    prev = r.stage;
    out.push([globalStep(stages, r), value(r)]);
  }
  return out;
}

/** Validation points: connected across stages (one model's progress), NaN values leave gaps. */
function valPoints(vals: ValidationRecord[], stages: Map<string, RunStage>, value: (v: ValidationRecord) => number): Point[] {
  return vals.map((v) => [globalStep(stages, v), value(v)]);
}

/** Per-class IoU and Dice of the last validation in the log (or of the summary's last stage). */
function renderClassTable(run: RunData): string {
  const lastLog = run.validations[run.validations.length - 1];
  const lastSummary = [...(run.summary?.stages ?? [])].reverse().find((s) => s.validation)?.validation;
  const v = lastLog ?? lastSummary ?? null;
  if (!v) return `<section class="classes"><h2>Per-class scores</h2><p class="empty">No validation in this run yet.</p></section>`;
  const where = lastLog ? ` (stage ${lastLog.stage}, step ${lastLog.step})` : '';
  const palette = classPalette(run.classes);
  const n = Math.max(v.iou.length, v.dice.length, run.classes.length);
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = run.classes[i]?.name ?? `class ${i}`;
    const color = palette[i] ?? [128, 128, 128];
    rows.push(
      `<tr><td class="num">${i}</td><td><span class="swatch" style="background:${rgbHex(color)}"></span>${escapeHtml(name)}</td>${numCell(v.iou[i])}${numCell(v.dice[i])}</tr>`,
    );
  }
  rows.push(`<tr class="mean"><td></td><td>mean</td>${numCell(v.miou)}${numCell(v.mdice)}</tr>`);
  return `<section class="classes"><h2>Per-class scores of the final validation${escapeHtml(where)}</h2><table><thead><tr><th>#</th><th>Class</th><th>IoU</th><th>Dice</th></tr></thead><tbody>${rows.join('')}</tbody></table><p class="hint">– : the class is absent from both prediction and ground truth. The means follow the metric code (background excluded when there are several foreground classes).</p></section>`;
}

function renderSamples(run: RunData): string {
  if (run.samples.length === 0) return `<section class="samples"><h2>Samples</h2><p class="empty">No sample overlays in this run.</p></section>`;
  const palette = classPalette(run.classes);
  const legend = run.classes
    .map((c, i) => `<span class="legend-item"><span class="swatch" style="background:${rgbHex(palette[i]!)}"></span>${escapeHtml(c.name)}</span>`)
    .join('');
  const cards = run.samples.map((s) => {
    const img = s.dataUri
      ? `<img src="${s.dataUri}" alt="${escapeHtml(`sample ${s.id}: image, ground truth, prediction`)}">`
      : `<p class="empty">image missing: ${escapeHtml(s.file)}</p>`;
    // Listing every class for every sample drowns the signal: show the present ones and the false alarms.
    const cls = s.classes.filter((c) => c.truth > 0.5 || c.prob >= 0.5);
    const probRows = (items: { name: string; prob: number; truth: number }[]) =>
      items
        .map((c) => {
          const hit = (c.prob >= 0.5) === (c.truth > 0.5);
          return `<tr class="${hit ? 'hit' : 'miss'}"><td>${escapeHtml(c.name)}</td><td class="num">${fmt(c.prob, 2)}</td><td class="num">${c.truth > 0.5 ? 'yes' : 'no'}</td></tr>`;
        })
        .join('');
    const tables = [
      cls.length ? `<table class="probs"><thead><tr><th>Class</th><th>p</th><th>true</th></tr></thead><tbody>${probRows(cls)}</tbody></table>` : '',
      s.scenes.length ? `<table class="probs"><thead><tr><th>Scene</th><th>p</th><th>true</th></tr></thead><tbody>${probRows(s.scenes)}</tbody></table>` : '',
    ].join('');
    return `<figure class="sample">${img}<figcaption><div class="sample-id">${escapeHtml(s.id)}</div>${tables}</figcaption></figure>`;
  });
  return `<section class="samples"><h2>Samples</h2><p class="hint">Each row: image · ground truth · prediction.</p>${
    legend ? `<div class="legend">${legend}</div>` : ''
  }<div class="sample-grid">${cards.join('')}</div></section>`;
}

function numCell(v: number | undefined | null): string {
  return `<td class="num">${fmt(v)}</td>`;
}

/** Fixed decimals; '–' for a missing or NaN value. */
function fmt(v: number | undefined | null, places = 4): string {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return String(v);
  return v.toFixed(places);
}

/** 3725.4 → "1 h 2 min 5 s". */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '–';
  if (sec < 60) return `${sec.toFixed(1)} s`;
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return [h ? `${h} h` : '', m || h ? `${m} min` : '', `${r} s`].filter(Boolean).join(' ');
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f6f4; color: #222; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 40px; }
header h1 { margin: 0 0 2px; font-size: 24px; }
.run-dir { margin: 0 0 16px; color: #666; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
section { background: #fff; border: 1px solid #e2e2de; border-radius: 6px; padding: 14px 18px; margin: 0 0 18px; }
h2 { margin: 0 0 10px; font-size: 17px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dt { color: #666; }
dd { margin: 0; word-break: break-word; }
.status.ok { color: #2b7a2b; font-weight: 600; }
.status.info { color: #8a6d00; font-weight: 600; }
.status.bad { color: #b0282d; font-weight: 600; }
.warnings { border-color: #e9c46a; background: #fffaf0; }
.warnings ul { margin: 0; padding-left: 20px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ebebeb; text-align: left; }
th { background: #f3f3f1; font-weight: 600; }
td.num { text-align: right; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
tr.mean td { font-weight: 600; border-top: 2px solid #ccc; }
.note, .hint, .empty { color: #777; font-size: 12px; }
.hint { margin: -4px 0 10px; }
.chart-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 16px 24px; }
.chart-box { margin: 0; }
svg.chart { width: 100%; max-width: 640px; height: auto; display: block; }
.swatch { display: inline-block; width: 12px; height: 12px; border: 1px solid #999; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 0 0 12px; font-size: 13px; }
.sample-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 14px; }
.sample { margin: 0; border: 1px solid #eee; border-radius: 4px; padding: 8px; }
.sample img { width: 100%; height: auto; display: block; image-rendering: pixelated; background: #000; }
.sample figcaption { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: flex-start; margin-top: 6px; font-size: 12px; }
.sample-id { width: 100%; font-family: ui-monospace, Menlo, Consolas, monospace; font-weight: 600; }
table.probs th, table.probs td { padding: 1px 6px; font-size: 12px; }
tr.miss td { color: #b0282d; }
footer { color: #888; font-size: 12px; text-align: center; }
@media print {
  body { background: #fff; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  section { border: none; padding: 0; margin: 0 0 14pt; break-inside: avoid; }
  .charts, .samples { break-inside: auto; }
  .chart-box, .sample { break-inside: avoid; }
  .sample-grid { grid-template-columns: 1fr 1fr; }
}
`;
