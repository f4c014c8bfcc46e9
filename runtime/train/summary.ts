/**
 * The end-of-run report: one row per stage as in the paper's Table 1 (stage label, mIoU, mDice, extra metrics),
 * printed and written to `<run>/summary.json` and `<run>/summary.md`.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { RunSummary, StageSummary } from './types.js';

/** The stage table as Markdown (also readable as plain text in a terminal). */
export function formatSummaryTable(stages: readonly StageSummary[]): string {
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
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** Writes summary.json (everything) and summary.md (title, status, table, best checkpoint). */
export async function writeSummary(runDir: string, summary: RunSummary): Promise<void> {
  await fs.mkdir(runDir, { recursive: true });
  await fs.writeFile(path.join(runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const lines = [`# Training summary`, '', `Status: ${summary.status}${summary.message ? ` — ${summary.message}` : ''}`, ''];
  lines.push(summary.stages.length > 0 ? formatSummaryTable(summary.stages) : '(no stage finished)');
  if (summary.best) {
    lines.push('', `Best checkpoint (\`best/\`): stage ${summary.best.stage}, step ${summary.best.step}, ${summary.best.metric} ${cell(summary.best.value)}`);
  }
  await fs.writeFile(path.join(runDir, 'summary.md'), `${lines.join('\n')}\n`);
}

function cell(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '–' : v.toFixed(4);
}
