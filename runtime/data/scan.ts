/**
 * `tdc check --data`: lists and decodes every sample of a dataset and reports what would break training —
 * missing pairs, size mismatches, unknown label values/colours, corrupt files, scene and split problems — each
 * as a TDC06xx diagnostic naming the file, plus counts per split, class and scene.
 */
import type { Diagnostic } from '../../spec/diagnostics.js';
import type { DataSpec, TaskSpec } from '../../spec/types.js';
import { createReader, StatsAccumulator, type DatasetStats } from './dataset.js';
import { splitSamples, type SplitName } from './splits.js';
import type { DatasetReader, SampleDescriptor } from './types.js';
import { TdcError } from '../errors.js';


export interface ScanReport {
  format: DataSpec['format'];
  root: string;
  /** Samples listed (all splits, including unreadable ones). */
  samples: number;
  /** Per split: listed samples, distinct groups, and class/scene statistics of the samples that decoded. */
  splits: Record<SplitName, { samples: number; groups: number; stats: DatasetStats }>;
  /** Problems, errors first, each naming its file. */
  diagnostics: Diagnostic[];
}

export interface ScanOptions {
  /** Seed for `splits.valFraction` (train.seed). */
  seed?: number;
  /** A reader to use instead of the format's own. */
  reader?: DatasetReader;
  /** Stop decoding after this many samples (the listing is always complete). */
  limit?: number;
}

/** Problem (a TdcError with its TDC06xx code, or anything else) → diagnostic. */
export function toDiagnostic(e: unknown): Diagnostic {
  if (e instanceof TdcError && e.code) return { code: e.code, severity: 'error', message: e.message };
  return { code: 'TDC0606', severity: 'error', message: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
}

export async function scanDataset(spec: { data: DataSpec; task: TaskSpec; train?: { seed: number } }, opts: ScanOptions = {}): Promise<ScanReport> {
  const { data, task } = spec;
  const reader = opts.reader ?? createReader(data, task);
  const diagnostics: Diagnostic[] = [];
  const empty = (): ScanReport['splits'][SplitName] => ({
    samples: 0,
    groups: 0,
    stats: new StatsAccumulator(task.classes.length, task.scenes.length).result(),
  });
  const report: ScanReport = {
    format: data.format,
    root: data.root,
    samples: 0,
    splits: { train: empty(), val: empty(), test: empty() },
    diagnostics,
  };
  let samples: SampleDescriptor[];
  try {
    samples = await reader.list();
  } catch (e) {
    diagnostics.push(toDiagnostic(e));
    return report;
  }
  report.samples = samples.length;
  if (samples.length === 0) {
    diagnostics.push({ code: 'TDC0602', severity: 'error', message: `${data.root}: no ${data.format} samples found` });
    return report;
  }
  let splits: Record<SplitName, SampleDescriptor[]>;
  try {
    splits = splitSamples(samples, data.splits, opts.seed ?? spec.train?.seed ?? 0);
  } catch (e) {
    diagnostics.push(toDiagnostic(e));
    splits = { train: samples, val: [], test: [] };
  }
  const noScene = samples.filter((s) => s.scene < 0);
  if (noScene.length > 0) {
    const first = noScene[0]!;
    diagnostics.push({
      code: 'TDC0608',
      severity: 'warning',
      message: `${first.files.image ?? first.id}: no scene label${noScene.length > 1 ? ` (and ${noScene.length - 1} more samples)` : ''}`,
    });
  }
  let decoded = 0;
  const limit = opts.limit ?? Infinity;
  for (const name of ['train', 'val', 'test'] as const) {
    const items = splits[name];
    const acc = new StatsAccumulator(task.classes.length, task.scenes.length);
    for (const d of items) {
      if (decoded >= limit) break;
      decoded++;
      try {
        acc.add(await reader.load(d));
      } catch (e) {
        diagnostics.push(toDiagnostic(e));
      }
    }
    const stats = acc.result();
    report.splits[name] = { samples: items.length, groups: new Set(items.map((s) => s.group)).size, stats };
    const named = data.splits[name] !== undefined || (name === 'val' && data.splits.valFraction);
    if (items.length === 0 && (name === 'train' || named)) {
      diagnostics.push({ code: 'TDC0610', severity: 'warning', message: `${data.root}: the ${name} split is empty` });
    }
    if (name === 'train' && stats.samples > 0) {
      const never = task.classes.filter((_, k) => stats.pixels[k] === 0).map((c) => c.name);
      if (never.length > 0) {
        diagnostics.push({ code: 'TDC0610', severity: 'warning', message: `${data.root}: class${never.length > 1 ? 'es' : ''} ${never.join(', ')} never occur${never.length > 1 ? '' : 's'} in the training split` });
      }
    }
  }
  diagnostics.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
  return report;
}

/** The report as the CLI prints it: one line per problem, then a count table. */
export function formatScan(report: ScanReport, task: TaskSpec): string {
  const lines: string[] = [];
  for (const d of report.diagnostics) lines.push(`${d.severity} ${d.code}: ${d.message}`);
  lines.push(`${report.format} dataset at ${report.root}: ${report.samples} samples`);
  const width = Math.max(5, ...task.classes.map((c) => c.name.length), ...task.scenes.map((s) => s.length));
  const splits = ['train', 'val', 'test'] as const;
  lines.push(`  ${''.padEnd(width)}  ${splits.map((s) => s.padStart(7)).join(' ')}`);
  lines.push(`  ${'samples'.padEnd(width)}  ${splits.map((s) => String(report.splits[s].samples).padStart(7)).join(' ')}`);
  lines.push(`  ${'groups'.padEnd(width)}  ${splits.map((s) => String(report.splits[s].groups).padStart(7)).join(' ')}`);
  lines.push('  classes (samples containing each):');
  task.classes.forEach((c, k) => {
    lines.push(`  ${c.name.padEnd(width)}  ${splits.map((s) => String(report.splits[s].stats.present[k] ?? 0).padStart(7)).join(' ')}`);
  });
  lines.push('  scenes:');
  task.scenes.forEach((name, i) => {
    lines.push(`  ${name.padEnd(width)}  ${splits.map((s) => String(report.splits[s].stats.scenes[i] ?? 0).padStart(7)).join(' ')}`);
  });
  const errors = report.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = report.diagnostics.length - errors;
  lines.push(`${errors} error(s), ${warnings} warning(s)`);
  return lines.join('\n');
}
