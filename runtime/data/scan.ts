/**
 * `tdc check --data`: lists and decodes every sample of a dataset and reports what would break training —
 * missing pairs, size mismatches, unknown label values/colours, corrupt files, scene and split problems — each
 * as a TDC06xx diagnostic naming the file, plus counts per split, class and scene.
 */
import type { Diagnostic } from '../../spec/diagnostics.js';
import type { DataSpec, TaskSpec } from '../../spec/types.js';
import { createReader, noSamplesMessage, StatsAccumulator, type DatasetStats } from './dataset.js';
import { splitSamples, type SplitName } from './splits.js';
import { promises as fs } from 'node:fs';
import { probeFile } from '../io/index.js';
import { type DatasetReader, type SampleDescriptor, dataError } from './types.js';
import { TdcError } from '../errors.js';

export interface ScanReport {
  format: DataSpec['format'];
  root: string;
  /** Samples listed (all splits, including unreadable ones). */
  samples: number;
  /** Samples decoded in full (class statistics come from these); `samples` when the scan is complete. */
  decoded: number;
  /**
   * Per split: listed samples, distinct groups, scenes per task scene (from the listing: complete), how many
   * samples were decoded, and the class statistics of those.
   */
  splits: Record<SplitName, { samples: number; groups: number; scenes: number[]; decoded: number; stats: DatasetStats }>;
  /** Problems, errors first, each naming its file. */
  diagnostics: Diagnostic[];
}

export interface ScanOptions {
  /** Seed for `splits.valFraction` (train.seed). */
  seed?: number;
  /** A reader to use instead of the format's own. */
  reader?: DatasetReader;
  /**
   * Decode at most this many samples, shared fairly among the splits and spread over each (the listing and the
   * header checks of every file are always complete).
   */
  limit?: number;
}

/** Problem (a TdcError with its TDC06xx code, or anything else) → diagnostic. */
export function toDiagnostic(e: unknown): Diagnostic {
  if (e instanceof TdcError && e.code) return { code: e.code, severity: 'error', message: e.message };
  return { code: 'TDC0606', severity: 'error', message: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
}

/**
 * The cheap checks of one sample, from file headers only: every file exists and its header reads, an image and
 * its mask have one size, the volumes of a subject share their x×y×z, and a volume has the dimensions its role
 * needs (3D; a `folders` image may carry the task's channels as a 4th dimension). Returns the problems found.
 */
export async function checkSampleFiles(d: SampleDescriptor, task: TaskSpec): Promise<TdcError[]> {
  const problems: TdcError[] = [];
  const probes: { role: string; file: string; dims: number[] }[] = [];
  for (const [role, file] of Object.entries(d.files)) {
    try {
      await fs.access(file);
    } catch {
      const what = role === 'image' ? undefined : d.files.image ? `the ${role} of ${d.files.image}` : `the ${role} volume of ${d.id}`;
      problems.push(dataError('missing-file', `${file}: file not found${what ? ` (expected there: ${what})` : ''}`, file));
      continue;
    }
    try {
      probes.push({ role, file, dims: (await probeFile(file)).dims });
    } catch (e) {
      const msg = e instanceof TdcError ? e.problem : e instanceof Error ? e.message : String(e);
      problems.push(dataError('corrupt', `${file}: corrupt or unreadable (${msg})`, file));
    }
  }
  if (problems.length > 0 || probes.length === 0) return problems;
  const n = task.dims;
  for (const p of probes) {
    const extra = p.dims.slice(n).filter((x) => x !== 1);
    const channelsOk = p.role === 'image' && task.dims === 3 && p.dims.length === 4 && p.dims[3] === task.channels;
    if (extra.length > 0 && !channelsOk) {
      const expected = p.role === 'image' && task.dims === 3 ? `a 3D volume (or ${task.channels} channel${task.channels > 1 ? 's' : ''} as a 4th dimension)` : `a ${n}D ${n === 2 ? 'image' : 'volume'}`;
      problems.push(dataError('wrong-shape', `${p.file}: a ${p.dims.length}D file (${p.dims.join('×')}) where ${expected} is expected`, p.file));
    }
  }
  const ref = probes.find((p) => p.role === 'mask' || p.role === 'seg') ?? probes[0]!;
  // Files store width, height (x, y, z); sizes print in task.size order: height×width, x×y×z.
  const size = (p: { dims: number[] }) => (n === 2 ? [p.dims[1] ?? 1, p.dims[0]!] : [0, 1, 2].map((a) => p.dims[a] ?? 1));
  for (const p of probes) {
    if (p === ref || size(p).every((v, a) => v === size(ref)[a])) continue;
    problems.push(dataError('size-mismatch', `${p.file}: is ${size(p).join('×')} but ${ref.file} is ${size(ref).join('×')} (${n === 2 ? 'height×width' : 'x×y×z'})`, p.file));
  }
  return problems;
}

/** How many of each split's samples to decode: `limit` shared out evenly, what a small split leaves going to the others. */
function quotas(lengths: number[], limit: number): number[] {
  const q = lengths.map(() => 0);
  let left = Math.min(limit, lengths.reduce((a, b) => a + b, 0));
  while (left > 0) {
    const open = lengths.map((l, i) => (l > q[i]! ? i : -1)).filter((i) => i >= 0);
    const share = Math.max(1, Math.floor(left / open.length));
    for (const i of open) {
      const add = Math.min(share, lengths[i]! - q[i]!, left);
      q[i]! += add;
      left -= add;
      if (left === 0) break;
    }
  }
  return q;
}

export async function scanDataset(spec: { data: DataSpec; task: TaskSpec; train?: { seed: number } }, opts: ScanOptions = {}): Promise<ScanReport> {
  const { data, task } = spec;
  const reader = opts.reader ?? createReader(data, task);
  const diagnostics: Diagnostic[] = [];
  const empty = (): ScanReport['splits'][SplitName] => ({
    samples: 0,
    groups: 0,
    scenes: task.scenes.map(() => 0),
    decoded: 0,
    stats: new StatsAccumulator(task.classes.length, task.scenes.length).result(),
  });
  const report: ScanReport = {
    format: data.format,
    root: data.root,
    samples: 0,
    decoded: 0,
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
    diagnostics.push({ code: 'TDC0602', severity: 'error', message: noSamplesMessage(data, task) });
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
  // Every file of every split: the header checks (cheap), so that no split holds a broken file unseen.
  const broken = new Set<SampleDescriptor>();
  for (const d of samples) {
    const problems = await checkSampleFiles(d, task);
    if (problems.length > 0) broken.add(d);
    for (const p of problems) diagnostics.push(toDiagnostic(p));
  }
  const names = ['train', 'val', 'test'] as const;
  const quota = quotas(names.map((n) => splits[n].length), opts.limit ?? Infinity);
  for (const [i, name] of names.entries()) {
    const items = splits[name];
    const acc = new StatsAccumulator(task.classes.length, task.scenes.length);
    let decoded = 0;
    // Spread over the split (every k-th sample), so that a partial scan sees all of its sequences or subjects.
    for (let j = 0; j < quota[i]!; j++) {
      const d = items[Math.floor((j * items.length) / quota[i]!)]!;
      decoded++;
      if (broken.has(d)) continue;
      try {
        acc.add(await reader.load(d));
      } catch (e) {
        diagnostics.push(toDiagnostic(e));
      }
    }
    const stats = acc.result();
    const scenes = task.scenes.map(() => 0);
    for (const d of items) if (d.scene >= 0 && d.scene < scenes.length) scenes[d.scene]!++;
    report.splits[name] = { samples: items.length, groups: new Set(items.map((s) => s.group)).size, scenes, decoded, stats };
    report.decoded += decoded;
    const named = data.splits[name] !== undefined || (name === 'val' && data.splits.valFraction);
    if (items.length === 0 && (name === 'train' || named)) {
      diagnostics.push({ code: 'TDC0610', severity: 'warning', message: `${data.root}: the ${name} split is empty` });
    }
    if (name === 'train' && stats.samples > 0) {
      const never = task.classes.filter((_, k) => stats.pixels[k] === 0).map((c) => c.name);
      if (never.length > 0) {
        const where = decoded < items.length ? `the ${decoded} decoded samples of the training split (of ${items.length})` : 'the training split';
        diagnostics.push({ code: 'TDC0610', severity: 'warning', message: `${data.root}: class${never.length > 1 ? 'es' : ''} ${never.join(', ')} never occur${never.length > 1 ? '' : 's'} in ${where}` });
      }
    }
  }
  diagnostics.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
  return report;
}

/** The report as the CLI prints it: one line per problem, then a count table (saying when it is partial). */
export function formatScan(report: ScanReport, task: TaskSpec): string {
  const lines: string[] = [];
  for (const d of report.diagnostics) lines.push(`${d.severity} ${d.code}: ${d.message}`);
  lines.push(`${report.format} dataset at ${report.root}: ${report.samples} samples`);
  const width = Math.max(7, ...task.classes.map((c) => c.name.length), ...task.scenes.map((s) => s.length));
  const splits = ['train', 'val', 'test'] as const;
  const row = (label: string, f: (s: (typeof splits)[number]) => number) => `  ${label.padEnd(width)}  ${splits.map((s) => String(f(s)).padStart(7)).join(' ')}`;
  const partial = report.decoded < report.samples;
  lines.push(`  ${''.padEnd(width)}  ${splits.map((s) => s.padStart(7)).join(' ')}`);
  lines.push(row('samples', (s) => report.splits[s].samples));
  lines.push(row('groups', (s) => report.splits[s].groups));
  if (partial) lines.push(row('decoded', (s) => report.splits[s].decoded));
  lines.push(partial ? '  classes (samples containing each, among the DECODED samples only: partial counts):' : '  classes (samples containing each):');
  task.classes.forEach((c, k) => lines.push(row(c.name, (s) => report.splits[s].stats.present[k] ?? 0)));
  lines.push('  scenes:');
  task.scenes.forEach((name, i) => lines.push(row(name, (s) => report.splits[s].scenes[i] ?? 0)));
  if (partial) {
    lines.push(`  partial: ${report.decoded} of ${report.samples} samples decoded (every file's header was checked); tdc check <spec> --data decodes all`);
  }
  const errors = report.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = report.diagnostics.length - errors;
  lines.push(`${errors} error(s), ${warnings} warning(s)`);
  return lines.join('\n');
}
