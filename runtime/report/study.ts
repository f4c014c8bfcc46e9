/**
 * A study's table in the paper's form: rows = variants (or the stages of a variant), columns = the dataset's
 * protocol metrics, each cell the mean ± sample standard deviation over seeds; rendered as Markdown (terminal and
 * study.md), JSON and an HTML section (study.html).
 */
import type { StageScores, StageSummary } from '../train/types.js';
import { markdownTable, protocolCell } from '../train/summary.js';
import { escapeHtml } from './escape.js';

/** One finished training of a study: which variant, which seed, and its stage rows. */
export interface StudyRunResult {
  variant: string;
  /** Variant index (row order). */
  index: number;
  rows: 'final' | 'stages';
  seed: number;
  stages: StageSummary[];
}

export interface StudyRow {
  /** Row label: the variant's name, or for `rows: stages` the stage's label and which steps it covers. */
  label: string;
  variant: string;
  /** Seeds that gave a value. */
  seeds: number[];
  mean: Record<string, number>;
  /** Sample standard deviation (n − 1); NaN with one seed. */
  std: Record<string, number>;
  /** Per seed, the raw values (seed → metric → value). */
  values: Record<string, Record<string, number>>;
}

export interface StudyTable {
  name: string;
  description?: string;
  columns: StageScores['columns'];
  rows: StudyRow[];
  /** How the figures were computed (the protocol's note of the last run). */
  note: string;
}

/** Groups the runs into the table's rows and reduces every metric over seeds. */
export function studyTable(name: string, runs: readonly StudyRunResult[], description?: string): StudyTable {
  const rows = new Map<string, { label: string; variant: string; order: number; bySeed: Map<number, Record<string, number>> }>();
  let columns: StageScores['columns'] = [];
  let note = '';
  for (const r of [...runs].sort((a, b) => a.index - b.index || a.seed - b.seed)) {
    const picked = r.rows === 'stages' ? r.stages.map((s, k) => ({ s, label: `${s.label} (step${k === 0 ? ' 1' : `s 1–${k + 1}`})`, order: k })) : r.stages.length ? [{ s: r.stages[r.stages.length - 1]!, label: r.variant, order: 0 }] : [];
    for (const { s, label, order } of picked) {
      if (!s.scores) continue;
      if (columns.length === 0) columns = s.scores.columns;
      note = s.scores.note;
      const key = `${r.index}\u0000${order}`;
      let row = rows.get(key);
      if (!row) rows.set(key, (row = { label, variant: r.variant, order: r.index * 1000 + order, bySeed: new Map() }));
      row.bySeed.set(r.seed, s.scores.metrics);
    }
  }
  const out: StudyRow[] = [...rows.values()]
    .sort((a, b) => a.order - b.order)
    .map((row) => {
      const mean: Record<string, number> = {};
      const std: Record<string, number> = {};
      const keys = new Set<string>();
      for (const m of row.bySeed.values()) for (const k of Object.keys(m)) keys.add(k);
      for (const k of keys) {
        const v = [...row.bySeed.values()].map((m) => m[k]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
        mean[k] = v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
        std[k] = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean[k]!) ** 2, 0) / (v.length - 1)) : NaN;
      }
      return { label: row.label, variant: row.variant, seeds: [...row.bySeed.keys()], mean, std, values: Object.fromEntries([...row.bySeed].map(([s, m]) => [String(s), m])) };
    });
  return { name, ...(description ? { description } : {}), columns, rows: out, note };
}

/** "77.81 ± 0.52" (percent columns ×100), or just the mean with one seed. */
export function meanStdCell(mean: number | undefined, std: number | undefined, format: StageScores['columns'][number]['format']): string {
  const m = protocolCell(mean, format);
  if (m === '–' || std === undefined || Number.isNaN(std)) return m;
  return `${m} ± ${protocolCell(std, format)}`;
}

/** The table as Markdown, with the seeds and the protocol's note under it. */
export function studyMarkdown(t: StudyTable): string {
  const header = ['Row', ...t.columns.map((c) => c.label)];
  const rows = t.rows.map((r) => [r.label, ...t.columns.map((c) => meanStdCell(r.mean[c.key], r.std[c.key], c.format))]);
  const seeds = [...new Set(t.rows.flatMap((r) => r.seeds))].sort((a, b) => a - b);
  return [
    markdownTable(header, rows),
    '',
    `mean ± sample std over seeds ${seeds.join(', ')}; ${t.note}`,
  ].join('\n');
}

/** The study as an HTML section (for a report page). */
export function studySection(t: StudyTable): string {
  const head = ['Row', ...t.columns.map((c) => c.label)];
  const body = t.rows.map(
    (r) => `<tr><td><strong>${escapeHtml(r.label)}</strong></td>${t.columns.map((c) => `<td class="num">${escapeHtml(meanStdCell(r.mean[c.key], r.std[c.key], c.format))}</td>`).join('')}</tr>`,
  );
  const seeds = [...new Set(t.rows.flatMap((r) => r.seeds))].sort((a, b) => a - b);
  return `<section class="study"><h2>Study ${escapeHtml(t.name)}</h2>${t.description ? `<p>${escapeHtml(t.description)}</p>` : ''}<table><thead><tr>${head
    .map((h) => `<th>${escapeHtml(h)}</th>`)
    .join('')}</tr></thead><tbody>${body.join('')}</tbody></table><p class="hint">mean ± sample std over seeds ${escapeHtml(seeds.join(', '))}; ${escapeHtml(t.note)}</p></section>`;
}

/** A standalone page around `studySection`. */
export function studyPage(t: StudyTable): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(`Study ${t.name}`)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}th,td{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}.hint{color:#666}</style>
</head>
<body>
<main>
${studySection(t)}
</main>
</body>
</html>
`;
}
