/**
 * The end-of-run report: one row per stage (stage label, then the metrics), in the form of the multi-task rows
 * of the paper's Tables 1, 3 and 6 (its other rows are other networks: `tdc study` runs those). When the stages
 * were scored by the evaluation protocol (`StageSummary.scores`), the rows show its columns as the paper
 * prints them (percent, mm); otherwise the training validation's mIoU / mDice. Printed and written to
 * `<run>/summary.json` and `<run>/summary.md`.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { RunSummary, StageSummary } from './types.js';

/** The stage table as Markdown (also readable as plain text in a terminal). */
export function formatSummaryTable(stages: readonly StageSummary[]): string {
  const scored = stages.find((s) => s.scores)?.scores;
  if (scored) {
    const header = ['Stage', 'Label', 'Steps', ...scored.columns.map((c) => c.label)];
    const rows = stages.map((s) => [s.name, s.label, String(s.steps), ...scored.columns.map((c) => protocolCell(s.scores?.metrics[c.key], c.format))]);
    return `${markdownTable(header, rows)}\n\n${stages.at(-1)?.scores?.note ?? scored.note}`;
  }
  const extras: string[] = [];
  for (const s of stages) for (const k of Object.keys(s.validation?.extra ?? {})) if (!extras.includes(k)) extras.push(k);
  const header = ['Stage', 'Label', 'Steps', 'mIoU', 'mDice', ...extras];
  const rows = stages.map((s) => [
    s.name,
    s.label,
    String(s.steps),
    cell(s.validation?.miou),
    cell(s.validation?.mdice),
    ...extras.map((k) => cell(s.validation?.extra?.[k])),
  ]);
  return markdownTable(header, rows);
}

/** A Markdown table padded to its columns (readable as plain text too). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** A protocol value: percent (×100) and distances with 2 decimals, ratios with 3; '–' when missing. */
export function protocolCell(v: number | undefined, format: 'percent' | 'distance' | 'ratio'): string {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return '∞';
  return format === 'percent' ? (100 * v).toFixed(2) : format === 'distance' ? v.toFixed(2) : v.toFixed(3);
}

/** Writes summary.json (everything) and summary.md (title, status, table, best checkpoint), each atomically. */
export async function writeSummary(runDir: string, summary: RunSummary): Promise<void> {
  writeFileAtomic(path.join(runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const lines = [`# Training summary`, '', `Status: ${summary.status}${summary.message ? ` — ${summary.message}` : ''}`, ''];
  lines.push(summary.stages.length > 0 ? formatSummaryTable(summary.stages) : '(no stage finished)');
  if (summary.best) {
    lines.push('', `Best checkpoint (\`best/\`): stage ${summary.best.stage}, step ${summary.best.step}, ${summary.best.metric} ${cell(summary.best.value)}`);
  }
  writeFileAtomic(path.join(runDir, 'summary.md'), `${lines.join('\n')}\n`);
}

function cell(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '–' : v.toFixed(4);
}

/** `<run>/summary.json`, or null when the run has none (it has not ended). */
export function readSummary(runDir: string): RunSummary | null {
  const file = path.join(runDir, 'summary.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RunSummary) : null;
}

/** The stages of `<run>/summary.json` that carry no protocol scores yet (none when there is no summary). */
export function unscoredStages(runDir: string): string[] {
  return (readSummary(runDir)?.stages ?? []).filter((s) => !s.scores).map((s) => s.name);
}
